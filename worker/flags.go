package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/secrets"
)

// Environment variables the worker reads besides Temporal's own TEMPORAL_*.
const (
	envConfig  = "SYNCFLOW_CONFIG"
	envSink    = "SYNCFLOW_SINK"
	envMetrics = "SYNCFLOW_METRICS"
	envSecrets = secrets.EnvBindings
)

// Defaults of the flags.
const (
	defaultSink    = "sqlite://.syncflow/data.db"
	defaultMetrics = "127.0.0.1:9090"
)

// options are the parsed command line.
type options struct {
	dev     bool
	devPort int
	uiPort  int
	devDB   string

	configPath string
	sink       string
	sinkSet    bool // --sink was given
	metrics    string
	// secrets are the bindings of --secret and SYNCFLOW_SECRETS; the config
	// file's are added at start (ARCHITECTURE.md §Data flow, "Secret binding").
	secrets secrets.Bindings

	// codecAddr serves the remote codec (/encode, /decode) when set;
	// codecOrigins are the Web UI origins it answers browsers from.
	codecAddr    string
	codecOrigins []string

	logFormat     string
	logLevel      slog.Level
	maxActivities int
	stopTimeout   time.Duration
}

// usageError is a bad command line: the main exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

const usageHead = `worker runs syncflow's Temporal worker: it polls the "syncflow" task queue and
copies pages from source APIs into the sink database.

Usage:
  worker [flags]                       connect to Temporal and run
  worker --dev [flags]                 also host a local Temporal server with its Web UI
  worker healthcheck [--addr ADDR]     exit 0 if a running worker's /healthz answers 200

The connection to Temporal comes from Temporal's standard environment variables
and profiles: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE
(default "default"), TEMPORAL_API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH,
TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME,
TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE (TOML profiles).

Payloads are encrypted with AES-256-GCM when SYNCFLOW_CODEC_KEYS=ID:BASE64KEY[,...]
(or SYNCFLOW_CODEC_KEYS_FILE) is set: the last key encrypts, every key decrypts.

The first SIGINT or SIGTERM stops polling and lets the page in flight commit
(at most --stop-timeout); a second one exits at once with status 130.

Flags:
`

// parseFlags parses the worker's command line. Flags win over the
// environment variables named in their help. flag.ErrHelp is returned for
// -h/--help, with the usage written to stdout.
func parseFlags(args []string, env func(string) string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var errBuf strings.Builder
	fs.SetOutput(&errBuf)

	fs.BoolVar(&o.dev, "dev", false, "host an embedded Temporal dev server (SQLite file, Web UI) and connect to it")
	fs.IntVar(&o.devPort, "dev-port", devserver.DefaultGRPCPort, "with --dev: the Temporal frontend (gRPC) port")
	fs.IntVar(&o.uiPort, "ui-port", devserver.DefaultUIPort, "with --dev: the Web UI port; -1 runs no UI")
	fs.StringVar(&o.devDB, "dev-db", devserver.DefaultDBPath, "with --dev: the SQLite file holding the dev server's state")
	fs.StringVar(&o.configPath, "config", env(envConfig), "syncflow config `FILE` (env "+envConfig+"); optional: supplies the sink, binds each ${VAR} a dataset's\nheaders use to that dataset's URL host (the sink's to the sink host), and lets the worker check\nat start that they are set")
	fs.StringVar(&o.sink, "sink", defaultSink, "default destination database `DSN`, for tasks that name none (a task's own sink wins):\nsqlite://PATH or postgres://USER:${PG_PASSWORD}@HOST/DB (${NAME} from the worker's environment)\nprecedence: this flag, then env "+envSink+", then the config file's sink, then the default")
	metricsDefault := defaultMetrics
	if v, ok := lookup(env, envMetrics); ok {
		metricsDefault = v
	}
	fs.StringVar(&o.metrics, "metrics", metricsDefault, "`ADDR` serving /metrics (Prometheus) and /healthz (env "+envMetrics+"); \"\" disables")
	o.secrets = secrets.Bindings{}
	fs.Func("secret", "bind `NAME=HOST[,HOST...]`: the worker resolves ${NAME} from its environment only for requests\nto these hosts (repeatable; also env "+envSecrets+"=\"NAME=HOST,HOST;NAME2=HOST\"; the --config file binds\nthe names its datasets use to their URL hosts)", o.addSecret)
	o.codecFlags(fs)
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&o.maxActivities, "max-activities", 0, "most activities (pages in flight) run at once; 0 = the SDK default")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", engine.DefaultStopTimeout, "on stop, how long the page in flight may take to commit before it is cancelled; 0 = at once")

	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
		return nil, usageError{fmt.Errorf("%w\n%s", err, "run `worker --help` for usage")}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q; run `worker --help` for usage", fs.Arg(0))}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "sink" {
			o.sinkSet = true
		}
	})
	switch o.logFormat {
	case "text", "json":
	default:
		return nil, usageError{fmt.Errorf("--log-format %q: want text or json", o.logFormat)}
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)}
	}
	if v, ok := lookup(env, envSecrets); ok {
		b, err := secrets.Parse(v)
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", envSecrets, err)}
		}
		o.secrets.Merge(b)
	}
	if o.maxActivities < 0 {
		return nil, usageError{fmt.Errorf("--max-activities %d: must not be negative", o.maxActivities)}
	}
	if o.stopTimeout < 0 {
		return nil, usageError{fmt.Errorf("--stop-timeout %s: must not be negative", o.stopTimeout)}
	}
	if o.dev && o.devDB == "" {
		return nil, usageError{errors.New("--dev-db must name a file")}
	}
	return o, nil
}

// codecFlags defines the codec server's flags (ARCHITECTURE.md §Payload
// encryption).
func (o *options) codecFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.codecAddr, "codec-addr", "", "serve the payload codec (POST /encode, /decode) for the Web UI and temporal --codec-endpoint on `ADDR`;\na bare :PORT means 127.0.0.1:PORT; needs "+codec.EnvKeys+"; a bearer token from env "+codec.EnvToken+" is\nthen required on every request; \"\" (the default) serves none")
	fs.Func("codec-origin", "a Web UI `ORIGIN` (scheme://host:port) whose browser may call the codec server (repeatable;\nwith --dev the embedded UI's is added)", func(v string) error {
		for _, origin := range strings.Split(v, ",") {
			if origin = strings.TrimSpace(strings.TrimSuffix(origin, "/")); origin != "" {
				o.codecOrigins = append(o.codecOrigins, origin)
			}
		}
		return nil
	})
}

// addSecret adds one --secret NAME=HOST[,HOST...] to the bindings.
func (o *options) addSecret(v string) error {
	b, err := secrets.Parse(v)
	if err == nil && len(b) != 1 {
		err = errors.New("want one NAME=HOST[,HOST...]; give --secret once per name")
	}
	if err != nil {
		return err
	}
	o.secrets.Merge(b)
	return nil
}

// lookup reads an environment variable; empty counts as unset.
func lookup(env func(string) string, key string) (string, bool) {
	v := env(key)
	return v, v != ""
}

// Where a sink DSN came from, for logs and errors.
const (
	fromFlag    = "--sink"
	fromEnv     = envSink
	fromFile    = "config file"
	fromDefault = "default"
)

// resolveSink applies the sink precedence: the --sink flag, then
// SYNCFLOW_SINK, then the config file's sink, then the default.
func resolveSink(flagDSN string, flagSet bool, envDSN, fileDSN string) (dsn, from string) {
	switch {
	case flagSet && flagDSN != "":
		return flagDSN, fromFlag
	case envDSN != "":
		return envDSN, fromEnv
	case fileDSN != "":
		return fileDSN, fromFile
	default:
		return defaultSink, fromDefault
	}
}
