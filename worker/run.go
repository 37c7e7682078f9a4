package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/internal/metrics"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/ratelimit/fairness"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// stoppingMessage is logged on the first stop signal.
const stoppingMessage = "stopping: finishing the page in flight (Ctrl-C again to exit at once)"

// errStopped reports that the stop signal came while the worker was still
// starting: run then returns nil, as a stop during work does.
var errStopped = errors.New("stopped while starting")

// stoppedOr returns errStopped when ctx is done (err is then a consequence
// of the stop), err otherwise.
func stoppedOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errStopped
	}
	return err
}

// run is the whole worker: it parses args, starts everything, runs until ctx
// is cancelled (the first stop signal) and then stops gracefully. It returns
// flag.ErrHelp after printing --help, a usageError for a bad command line.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return runHealthcheck(ctx, args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, env, stdout)
	if err != nil {
		return err
	}
	r := &runner{o: o, env: env, logger: newLogger(o, stderr)}
	defer r.cleanup() // in reverse order, on every return path
	err = r.start(ctx)
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return err
	}
	r.wait(ctx)
	return nil
}

// runner is a worker process being started, run and stopped: what one
// step sets up, the next uses.
type runner struct {
	o      *options
	env    func(string) string
	logger *slog.Logger

	cfg      *config.File // nil without --config
	dsn      string       // the sink's DSN
	sinkFrom string       // where the DSN came from (flag, environment, config file)
	secrets  *secrets.Resolver
	limits   *ratelimit.Registry
	m        *metrics.Metrics
	connOpts connect.Options
	ui       string // the dev server's UI address
	c        client.Client

	codec         *codec.Codec // the payload codec; without keys it encrypts nothing
	codecListener net.Listener // --codec-addr's, nil when off
	codecURL      string       // the codec endpoint, http://host:port
	w             worker.Worker

	cleanups []func() // run in reverse order by cleanup
}

// start runs the steps of a worker's start, in order: configuration,
// metrics and health first (a probe sees 503 while starting), the Temporal
// connection, the global limits, the sink, the worker.
func (r *runner) start(ctx context.Context) error {
	if err := r.loadConfig(); err != nil {
		return err
	}
	if err := r.loadCodec(); err != nil {
		return err
	}
	r.limits = ratelimit.NewRegistry(ratelimit.Options{})
	r.m = metrics.New(metrics.Options{LimiterRates: metrics.LimiterRates(r.limits)})
	if err := r.serveMetrics(); err != nil {
		return err
	}
	if err := r.connect(ctx); err != nil {
		return err
	}
	if err := r.applyGlobalLimits(ctx); err != nil {
		return err
	}
	snk, err := r.openSink(ctx)
	if err != nil {
		return err
	}
	return r.startWorker(snk)
}

// cleanup runs the cleanups in reverse order.
func (r *runner) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// loadConfig reads the optional configuration file (for the sink and the
// header variables) and picks the sink's DSN.
func (r *runner) loadConfig() error {
	if r.o.configPath != "" {
		cfg, err := config.Load(r.o.configPath)
		if err != nil {
			return err
		}
		r.cfg = cfg
		for _, name := range cfg.EnvVars() {
			if _, ok := lookup(r.env, name); !ok {
				r.logger.Warn("the config file's headers use a variable that is not set in the worker's environment; requests that need it will fail",
					"variable", name, "config", r.o.configPath)
			}
		}
	}
	fileSink := ""
	if r.cfg != nil {
		fileSink = r.cfg.Sink
	}
	r.dsn, r.sinkFrom = resolveSink(r.o.sink, r.o.sinkSet, r.env(envSink), fileSink)
	if r.cfg != nil && r.sinkFrom == fromFile {
		if err := r.cfg.CheckSink(); err != nil {
			return err
		}
	}
	return r.bindSecrets()
}

// bindSecrets merges the operator's secret bindings (ARCHITECTURE.md §Data
// flow, "Secret binding"): --secret and SYNCFLOW_SECRETS, the names the
// config file's datasets use bound to their URL hosts, the sink DSN's names
// to the sink's host. Values come from the worker's environment only.
func (r *runner) bindSecrets() error {
	b := secrets.Bindings{}
	if r.cfg != nil {
		for _, ds := range r.cfg.Datasets {
			if err := bindURL(b, ds.Source.URL, ds.Source.Headers); err != nil {
				return fmt.Errorf("config %s: dataset %s: %w", r.o.configPath, ds.ID, err)
			}
			bindAuth(b, ds.Source)
		}
	}
	if host := secrets.DSNHost(r.dsn); host != "" {
		for _, name := range secrets.Refs(r.dsn) {
			b.Add(name, host)
		}
	}
	b.Merge(r.o.secrets)
	for name := range r.o.secrets {
		if _, ok := lookup(r.env, name); !ok {
			r.logger.Warn("a bound secret is not set in the worker's environment; requests that need it will fail", "variable", name)
		}
	}
	r.secrets = secrets.New(b, func(k string) (string, bool) { return lookup(r.env, k) })
	if len(b) > 0 {
		r.logger.Info("secrets bound: each is sent only to these hosts", "secrets", b.String())
	}
	return nil
}

// bindURL binds the ${NAME}s of a dataset's headers to its URL's host.
func bindURL(b secrets.Bindings, rawURL string, headers map[string]string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	host, err := secrets.Host(u.Host)
	if err != nil {
		return fmt.Errorf("url host: %w", err)
	}
	for _, v := range headers {
		for _, name := range secrets.Refs(v) {
			b.Add(name, host)
		}
	}
	return nil
}

// bindAuth binds the ${NAME}s of a dataset's auth block: the bearer token
// and API key to its URL's host, an OAuth2 client's ID and secret to its
// token URL's host.
func bindAuth(b secrets.Bindings, src source.Config) {
	if src.Auth == nil {
		return
	}
	if u, err := url.Parse(src.URL); err == nil {
		if host, err := secrets.Host(u.Host); err == nil {
			for _, name := range src.Auth.APIHostRefs() {
				b.Add(name, host)
			}
		}
	}
	if host, names := src.Auth.TokenHostRefs(); host != "" {
		for _, name := range names {
			b.Add(name, host)
		}
	}
}

// serveMetrics serves metrics and health on --metrics, unless disabled.
func (r *runner) serveMetrics() error {
	if r.o.metrics == "" {
		return nil
	}
	stop, err := serveMetrics(r.o.metrics, r.m, r.logger)
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, stop)
	return nil
}

// connect starts the embedded dev server if asked, dials Temporal and
// registers syncflow's search attributes.
func (r *runner) connect(ctx context.Context) error {
	r.connOpts = connect.Options{
		Logger:         r.logger,
		Env:            func(k string) (string, bool) { return lookup(r.env, k) },
		Environ:        func() []string { return environ(r.env) },
		MetricsHandler: r.m.SDKHandler(),
		Codec:          r.codec,
	}
	if err := r.listenCodec(); err != nil {
		return err
	}
	if r.o.dev {
		if err := r.startDevServer(ctx); err != nil {
			return err
		}
	}
	r.serveCodec()
	c, err := connect.Dial(ctx, r.connOpts)
	if err != nil {
		return stoppedOr(ctx, err)
	}
	r.c = c
	r.cleanups = append(r.cleanups, c.Close)

	_, namespace, _ := connect.Describe(r.connOpts)
	if err := connect.EnsureSearchAttributes(ctx, c, namespace, workflows.SearchAttributes()); err != nil {
		if ctx.Err() != nil {
			return errStopped
		}
		if !errors.Is(err, connect.ErrNotPermitted) {
			return err
		}
		r.logger.Warn("cannot register syncflow's search attributes; syncs fail until an operator registers them by hand", "error", err)
	}
	return nil
}

// startDevServer starts the embedded Temporal dev server (--dev) and points
// the connection at it.
func (r *runner) startDevServer(ctx context.Context) error {
	_, namespace, _ := connect.Describe(r.connOpts)
	uiPort := r.o.uiPort
	if uiPort < 0 {
		uiPort = devserver.UIDisabled
	}
	r.logger.Info("starting the embedded Temporal dev server", "db", r.o.devDB, "port", r.o.devPort)
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath:           r.o.devDB,
		GRPCPort:         r.o.devPort,
		UIPort:           uiPort,
		Namespace:        namespace,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           r.logger.With("component", "temporal-server"),
		CodecEndpoint:    r.codecURL, // the Web UI decodes through our codec server
	})
	if err != nil {
		if ctx.Err() != nil {
			return errStopped
		}
		if errors.Is(err, devserver.ErrPortInUse) {
			return fmt.Errorf("start dev server: %w (is another `worker --dev` or `temporal server start-dev` running? choose other ports with --dev-port and --ui-port)", err)
		}
		return fmt.Errorf("start dev server: %w", err)
	}
	r.cleanups = append(r.cleanups, func() {
		if err := srv.Stop(); err != nil {
			r.logger.Warn("stop dev server", "error", err)
		}
	})
	r.connOpts.HostPort = srv.FrontendAddress()
	r.ui = srv.UIAddress()
	if n := srv.HistoryShards(); n != devserver.DefaultHistoryShards {
		// A persisted cluster's shard count cannot change: an older file
		// keeps its own (internal/devserver Options.HistoryShards).
		r.logger.Info("dev server keeps the history shard count of its existing database",
			"db", r.o.devDB, "history_shards", n, "new_databases_get", devserver.DefaultHistoryShards)
	}
	return nil
}

// applyGlobalLimits puts the config file's global per-key limits
// (ARCHITECTURE.md §Rate-limit layers) on the task queue. Without them the
// per-worker limits still hold, so a failure is only logged; the error is
// errStopped when the failure came from the stop signal.
func (r *runner) applyGlobalLimits(ctx context.Context) error {
	if r.cfg == nil {
		return nil
	}
	limits := r.cfg.GlobalLimits()
	if len(limits) == 0 {
		return nil
	}
	_, namespace, _ := connect.Describe(r.connOpts)
	if err := fairness.Apply(ctx, r.c, namespace, workflows.TaskQueue, limits); err != nil {
		if ctx.Err() != nil {
			return errStopped
		}
		r.logger.Warn("cannot apply the global rate limits to the task queue; only the per-worker limits hold", "error", err)
		return nil
	}
	r.logger.Info("global rate limits applied", "task_queue", workflows.TaskQueue, "limits", limits)
	return nil
}

// openSink opens the destination; it is closed last of the worker's parts.
func (r *runner) openSink(ctx context.Context) (sink.Sink, error) {
	dsn, err := r.expandDSN()(r.dsn)
	if err != nil {
		return nil, fmt.Errorf("open sink %s (from %s): %w", sink.RedactDSN(r.dsn), r.sinkFrom, err)
	}
	snk, err := engine.OpenSink(ctx, dsn)
	if err != nil {
		return nil, stoppedOr(ctx, fmt.Errorf("open sink %s (from %s): %w", sink.RedactDSN(r.dsn), r.sinkFrom, err))
	}
	r.cleanups = append(r.cleanups, func() {
		if err := snk.Close(); err != nil {
			r.logger.Warn("close sink", "error", err)
		}
	})
	return snk, nil
}

// expandDSN resolves the ${NAME} references of a destination DSN, the
// worker's default and every task's (ARCHITECTURE.md §Sink protocol).
func (r *runner) expandDSN() func(dsn string) (string, error) {
	return engine.ExpandWith(r.secrets)
}

// startWorker assembles the worker (engine.New) on snk, starts it, turns
// health on and logs where it runs.
func (r *runner) startWorker(snk sink.Sink) error {
	stopTimeout := r.o.stopTimeout
	if stopTimeout == 0 {
		stopTimeout = -1 // engine: negative means stop at once
	}
	w, _, err := engine.New(r.c, engine.Options{
		Sink:                    snk,
		Secrets:                 r.secrets,
		DefaultDSN:              r.dsn,
		ExpandDSN:               r.expandDSN(),
		Limits:                  r.limits,
		Observer:                r.m,
		StopTimeout:             stopTimeout,
		MaxConcurrentActivities: r.o.maxActivities,
	})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %q: %w", workflows.TaskQueue, err)
	}
	r.w = w
	r.m.SetHealthy(true)
	hostPort, namespace, useTLS := connect.Describe(r.connOpts)
	attrs := []any{
		"temporal", hostPort, "namespace", namespace, "tls", useTLS,
		"task_queue", workflows.TaskQueue, "sink", sink.RedactDSN(r.dsn), "sink_from", r.sinkFrom,
		"metrics", metricsURL(r.o.metrics),
	}
	if r.o.dev {
		attrs = append(attrs, "ui", r.ui)
	}
	if r.codecURL != "" {
		attrs = append(attrs, "codec", r.codecURL)
	}
	r.logger.Info("worker running", attrs...)
	return nil
}

// wait runs the worker until ctx is done, then stops it gracefully: the
// activities in flight return (or are cancelled after --stop-timeout).
func (r *runner) wait(ctx context.Context) {
	<-ctx.Done()
	r.logger.Info(stoppingMessage, "stop_timeout", r.o.stopTimeout)
	r.m.SetHealthy(false)
	r.w.Stop() // returns once the activities in flight have returned
	r.logger.Info("worker stopped")
}

// serveMetrics listens on addr (failing at once if it cannot) and serves m's
// handler; the returned func shuts the server down.
func serveMetrics(addr string, m *metrics.Metrics, logger *slog.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w (choose another with --metrics, or --metrics \"\" to disable)", addr, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "error", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// metricsURL is what the "worker running" line shows for the metrics address.
func metricsURL(addr string) string {
	if addr == "" {
		return "disabled"
	}
	return "http://" + addr + "/metrics"
}

// newLogger returns the worker's structured logger on w.
func newLogger(o *options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// environ lists the process environment as env sees it (KEY=VALUE), for
// TEMPORAL_GRPC_META_* headers.
func environ(env func(string) string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if v := env(k); v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}
