package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/internal/metrics"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/ratelimit/fairness"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/workflows"
)

// stoppingMessage is logged on the first stop signal.
const stoppingMessage = "stopping: finishing the page in flight (Ctrl-C again to exit at once)"

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
	logger := newLogger(o, stderr)

	// Configuration: optional, for the sink and the header variables.
	var cfg *config.File
	if o.configPath != "" {
		if cfg, err = config.Load(o.configPath); err != nil {
			return err
		}
		for _, name := range cfg.EnvVars() {
			if _, ok := lookup(env, name); !ok {
				logger.Warn("the config file's headers use a variable that is not set in the worker's environment; requests that need it will fail",
					"variable", name, "config", o.configPath)
			}
		}
	}
	fileSink := ""
	if cfg != nil {
		fileSink = cfg.Sink
	}
	dsn, sinkFrom := resolveSink(o.sink, o.sinkSet, env(envSink), fileSink)
	if cfg != nil && sinkFrom == fromFile {
		if err := cfg.CheckSink(); err != nil {
			return err
		}
	}

	limits := ratelimit.NewRegistry(ratelimit.Options{})
	m := metrics.New(metrics.Options{LimiterRates: metrics.LimiterRates(limits)})

	// Cleanups run in reverse order on every return path.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	// Metrics and health first, so that a probe sees 503 while starting.
	if o.metrics != "" {
		stop, err := serveMetrics(o.metrics, m, logger)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, stop)
	}

	connOpts := connect.Options{
		Logger:         logger,
		Env:            func(k string) (string, bool) { return lookup(env, k) },
		Environ:        func() []string { return environ(env) },
		MetricsHandler: m.SDKHandler(),
	}
	_, namespace, _ := connect.Describe(connOpts)

	uiAddress := ""
	if o.dev {
		uiPort := o.uiPort
		if uiPort < 0 {
			uiPort = devserver.UIDisabled
		}
		logger.Info("starting the embedded Temporal dev server", "db", o.devDB, "port", o.devPort)
		srv, err := devserver.Start(ctx, devserver.Options{
			DBPath:           o.devDB,
			GRPCPort:         o.devPort,
			UIPort:           uiPort,
			Namespace:        namespace,
			SearchAttributes: workflows.SearchAttributes(),
			Logger:           logger.With("component", "temporal-server"),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			if errors.Is(err, devserver.ErrPortInUse) {
				return fmt.Errorf("start dev server: %w (is another `worker --dev` or `temporal server start-dev` running? choose other ports with --dev-port and --ui-port)", err)
			}
			return fmt.Errorf("start dev server: %w", err)
		}
		cleanups = append(cleanups, func() {
			if err := srv.Stop(); err != nil {
				logger.Warn("stop dev server", "error", err)
			}
		})
		connOpts.HostPort = srv.FrontendAddress()
		uiAddress = srv.UIAddress()
	}
	hostPort, namespace, useTLS := connect.Describe(connOpts)

	c, err := connect.Dial(ctx, connOpts)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cleanups = append(cleanups, c.Close)

	if err := connect.EnsureSearchAttributes(ctx, c, namespace, workflows.SearchAttributes()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, connect.ErrNotPermitted) {
			return err
		}
		logger.Warn("cannot register syncflow's search attributes; syncs fail until an operator registers them by hand", "error", err)
	}

	// Global per-key limits (DESIGN §4, layer 4) on the task queue; without
	// them the per-worker limits still hold, so a failure is not fatal.
	if cfg != nil {
		if limits := cfg.GlobalLimits(); len(limits) > 0 {
			if err := fairness.Apply(ctx, c, namespace, workflows.TaskQueue, limits); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				logger.Warn("cannot apply the global rate limits to the task queue; only the per-worker limits hold", "error", err)
			} else {
				logger.Info("global rate limits applied", "task_queue", workflows.TaskQueue, "limits", limits)
			}
		}
	}

	snk, err := engine.OpenSink(ctx, dsn)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("open sink %s (from %s): %w", sink.RedactDSN(dsn), sinkFrom, err)
	}
	cleanups = append(cleanups, func() {
		if err := snk.Close(); err != nil {
			logger.Warn("close sink", "error", err)
		}
	})

	stopTimeout := o.stopTimeout
	if stopTimeout == 0 {
		stopTimeout = -1 // engine: negative means stop at once
	}
	w, _, err := engine.New(c, engine.Options{
		Sink:                    snk,
		Limits:                  limits,
		Observer:                m,
		StopTimeout:             stopTimeout,
		MaxConcurrentActivities: o.maxActivities,
	})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %q: %w", workflows.TaskQueue, err)
	}
	m.SetHealthy(true)

	attrs := []any{
		"temporal", hostPort, "namespace", namespace, "tls", useTLS,
		"task_queue", workflows.TaskQueue, "sink", sink.RedactDSN(dsn), "sink_from", sinkFrom,
		"metrics", metricsURL(o.metrics),
	}
	if o.dev {
		attrs = append(attrs, "ui", uiAddress)
	}
	logger.Info("worker running", attrs...)

	<-ctx.Done()
	logger.Info(stoppingMessage, "stop_timeout", o.stopTimeout)
	m.SetHealthy(false)
	w.Stop() // returns once the activities in flight have returned
	logger.Info("worker stopped")
	return nil
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
