package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/syncflow/syncflow/codec"
)

// loadCodec reads the payload codec's keys from the starter's environment
// (SYNCFLOW_CODEC_KEYS or SYNCFLOW_CODEC_KEYS_FILE). With keys, the demo
// encrypts every payload and serves the codec on a free localhost port for
// its Web UI (ARCHITECTURE.md §Payload encryption).
func (d *demo) loadCodec() (int, bool) {
	c, err := codec.FromEnv(d.getenv)
	if err != nil {
		return d.usageError("demo", err.Error()), false
	}
	d.codec = c
	if !c.Enabled() {
		return exitOK, true
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return d.failf("demo", "listen for the codec server: %v", err), false
	}
	d.codecListener = l
	d.cleanups = append(d.cleanups, func() { _ = l.Close() })
	d.codecURL = "http://" + l.Addr().String()
	return exitOK, true
}

// serveCodec serves the codec for the embedded Web UI's origins, once the
// UI's address is known.
func (d *demo) serveCodec() {
	if d.codecListener == nil {
		return
	}
	token, _ := d.getenv(codec.EnvToken)
	srv := &http.Server{
		Handler:           d.codec.Handler(codec.HandlerOptions{Origins: codec.UIOrigins(d.srv.UIAddress()), Token: token}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(d.codecListener) }()
	d.cleanups = append(d.cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	fmt.Fprintf(d.stdout, "payloads encrypted with key %s; codec server: %s (e.g. temporal workflow show --codec-endpoint %s ...)\n",
		d.codec.EncryptingKeyID(), d.codecURL, d.codecURL)
}
