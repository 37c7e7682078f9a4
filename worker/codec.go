package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/syncflow/syncflow/codec"
)

// loadCodec reads the payload codec's keys from the environment
// (SYNCFLOW_CODEC_KEYS or SYNCFLOW_CODEC_KEYS_FILE): bad key material stops
// the worker before it connects (ARCHITECTURE.md §Payload encryption).
func (r *runner) loadCodec() error {
	c, err := codec.FromEnv(func(k string) (string, bool) { return lookup(r.env, k) })
	if err != nil {
		return err
	}
	r.codec = c
	if r.o.codecAddr != "" && !c.Enabled() {
		return usageError{fmt.Errorf("--codec-addr needs the codec's keys: set %s or %s", codec.EnvKeys, codec.EnvKeysFile)}
	}
	if c.Enabled() {
		r.logger.Info("payloads are encrypted", "encrypting_key", c.EncryptingKeyID(), "keys", strings.Join(c.KeyIDs(), ","))
		if r.o.dev && r.o.codecAddr == "" {
			r.logger.Info("the embedded Web UI shows payloads encrypted; add --codec-addr :8234 to let it decode them")
		}
	}
	return nil
}

// listenCodec opens the codec server's listener (--codec-addr) so that its
// URL is known before the embedded Web UI starts; serveCodec serves it.
func (r *runner) listenCodec() error {
	if r.o.codecAddr == "" {
		return nil
	}
	addr := codec.ListenAddr(r.o.codecAddr)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("codec server listener on %s: %w (choose another with --codec-addr)", addr, err)
	}
	r.codecListener = l
	r.cleanups = append(r.cleanups, func() { _ = l.Close() })
	r.codecURL = "http://" + l.Addr().String()
	return nil
}

// serveCodec serves /encode and /decode on the codec listener, for the Web
// UI origins of --codec-origin and the embedded UI's, with the bearer token
// of SYNCFLOW_CODEC_TOKEN when set.
func (r *runner) serveCodec() {
	if r.codecListener == nil {
		return
	}
	origins := append([]string(nil), r.o.codecOrigins...)
	origins = append(origins, codec.UIOrigins(r.ui)...)
	token, _ := lookup(r.env, codec.EnvToken)
	srv := &http.Server{
		Handler:           r.codec.Handler(codec.HandlerOptions{Origins: origins, Token: token}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(r.codecListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("codec server", "error", err)
		}
	}()
	r.cleanups = append(r.cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	if token == "" && !isLoopback(r.codecListener.Addr()) {
		r.logger.Warn("the codec server decrypts for anyone who reaches it: set "+codec.EnvToken, "addr", r.codecURL)
	}
	r.logger.Info("codec server running", "endpoint", r.codecURL, "origins", strings.Join(origins, ","), "token", token != "")
}

// isLoopback reports whether a listener's address is a loopback one.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
