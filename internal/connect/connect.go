// Package connect opens syncflow's connection to Temporal the way every
// Temporal tool does: from the standard environment variables (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_GRPC_META_*)
// and TOML profiles (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), read through
// go.temporal.io/sdk/contrib/envconfig. Without any of them it connects to
// localhost:7233, namespace "default": the dev server of `worker --dev`.
// Payloads are encrypted when SYNCFLOW_CODEC_KEYS (or _FILE) is set
// (package codec).
package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"

	"github.com/syncflow/syncflow/codec"
)

// Defaults used when neither the environment nor a profile names them.
const (
	DefaultHostPort  = client.DefaultHostPort  // "localhost:7233"
	DefaultNamespace = client.DefaultNamespace // "default"
)

// Options say where the connection settings come from. The zero value reads
// the process environment and the default profile file.
type Options struct {
	// Logger receives the SDK's logs (with workflow and activity IDs as
	// attributes); default slog.Default().
	Logger *slog.Logger
	// Profile is the TOML profile to use; default TEMPORAL_PROFILE, then
	// "default". A profile named here (or in TEMPORAL_PROFILE) must exist.
	Profile string
	// ConfigFile is the TOML profiles file; default TEMPORAL_CONFIG_FILE, then
	// the user's config directory. A missing file is not an error.
	ConfigFile string
	// Env looks up environment variables; default os.LookupEnv.
	Env func(string) (string, bool)
	// Environ lists the environment as KEY=VALUE, for TEMPORAL_GRPC_META_*
	// headers; default os.Environ when Env is nil, none otherwise.
	Environ func() []string
	// MetricsHandler receives the SDK's metrics; nil records none.
	MetricsHandler client.MetricsHandler
	// HostPort, when set, overrides the configured address (e.g. the
	// embedded dev server's).
	HostPort string
	// Codec encrypts and decrypts payloads (ARCHITECTURE.md §Payload
	// encryption); nil reads it from SYNCFLOW_CODEC_KEYS or
	// SYNCFLOW_CODEC_KEYS_FILE through Env (no keys: payloads as they are).
	Codec *codec.Codec
}

// envLookup adapts Options to envconfig.EnvLookup.
type envLookup struct{ o *Options }

func (e envLookup) LookupEnv(key string) (string, bool) {
	if e.o.Env == nil {
		return os.LookupEnv(key)
	}
	return e.o.Env(key)
}

func (e envLookup) Environ() []string {
	switch {
	case e.o.Environ != nil:
		return e.o.Environ()
	case e.o.Env == nil:
		return os.Environ()
	default:
		return nil
	}
}

// ClientOptions resolves o into SDK client options (address, namespace,
// credentials, TLS, headers, logger, metrics) without connecting.
func ClientOptions(o Options) (client.Options, error) {
	env := envLookup{&o}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath:    o.ConfigFile,
		ConfigFileProfile: o.Profile,
		EnvLookup:         env,
	})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
	}
	// envconfig v0.1.0 rejects CA data given without a path (it checks the
	// wrong field); load it ourselves so TEMPORAL_TLS_SERVER_CA_CERT_DATA works.
	var caData []byte
	if prof.TLS != nil && len(prof.TLS.ServerCACertData) > 0 && prof.TLS.ServerCACertPath == "" {
		caData = prof.TLS.ServerCACertData
		prof.TLS.ServerCACertData = nil
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
	}
	if len(caData) > 0 && opts.ConnectionOptions.TLS != nil {
		if err := addRootCAs(opts.ConnectionOptions.TLS, caData); err != nil {
			return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
		}
	}
	if o.HostPort != "" {
		opts.HostPort = o.HostPort
	}
	if opts.HostPort == "" {
		opts.HostPort = DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	opts.Logger = log.NewStructuredLogger(logger)
	if o.MetricsHandler != nil {
		opts.MetricsHandler = o.MetricsHandler
	}
	if err := applyCodec(&opts, o.Codec, env); err != nil {
		return client.Options{}, err
	}
	return opts, nil
}

// applyCodec sets the converters of c, or of the codec the environment
// configures when c is nil (ARCHITECTURE.md §Payload encryption).
func applyCodec(opts *client.Options, c *codec.Codec, env envLookup) error {
	if c == nil {
		var err error
		if c, err = codec.FromEnv(env.LookupEnv); err != nil {
			return err
		}
	}
	c.Apply(opts)
	return nil
}

// Dial connects to Temporal and checks that the server answers. When it does
// not, the error names the address and says how to get a server.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts, err := ClientOptions(o)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, dialError(opts.HostPort, err)
	}
	return c, nil
}

// dialError explains a failed dial: an unreachable server gets a hint.
func dialError(hostPort string, err error) error {
	switch serviceerror.ToStatus(err).Code() {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("cannot reach Temporal at %s: %w; start one with `go run ./worker --dev` or set TEMPORAL_ADDRESS", hostPort, err)
	default:
		return fmt.Errorf("connect to Temporal at %s: %w", hostPort, err)
	}
}

// Describe returns where Dial would connect, for status lines. Settings that
// cannot be loaded fall back to the defaults (Dial reports the error).
func Describe(o Options) (hostPort, namespace string, tls bool) {
	opts, err := ClientOptions(o)
	if err != nil {
		hostPort, namespace = DefaultHostPort, DefaultNamespace
		if o.HostPort != "" {
			hostPort = o.HostPort
		}
		return hostPort, namespace, false
	}
	return opts.HostPort, opts.Namespace, opts.ConnectionOptions.TLS != nil
}

// addRootCAs makes the PEM certificates in pemData the roots conf trusts.
func addRootCAs(conf *tls.Config, pemData []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return fmt.Errorf("server CA certificate data holds no PEM certificate")
	}
	conf.RootCAs = pool
	return nil
}
