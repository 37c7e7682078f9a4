package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/internal/connect"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1   // the work failed, or Temporal could not be reached
	exitUsage       = 2   // bad command line or configuration
	exitInterrupted = 130 // stopped by Ctrl-C (128 + SIGINT)
)

// dialTimeout bounds the connection to Temporal.
const dialTimeout = 15 * time.Second

// app is one invocation of the CLI: its streams, environment and the
// interrupts (Ctrl-C, SIGTERM) it receives.
type app struct {
	stdout, stderr io.Writer
	environ        []string
	// interrupts receives once per interrupt; the first one also cancels
	// the context given to short commands.
	interrupts <-chan struct{}
	// demoSpecs replaces the demo's datasets (tests); nil means
	// demoapi.DefaultDatasets().
	demoSpecs []demoapi.DatasetSpec
}

// run is main without the process: args without the program name, the
// environment as KEY=VALUE, and the output streams. It returns the exit
// code. SIGINT and SIGTERM, and ctx's end, are interrupts.
func run(ctx context.Context, args []string, environ []string, stdout, stderr io.Writer) int {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	ints := make(chan struct{}, 8)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		done := ctx.Done()
		for {
			select {
			case <-done:
				done = nil
			case <-sig:
			case <-stop:
				return
			}
			select {
			case ints <- struct{}{}:
			default:
			}
		}
	}()
	a := &app{stdout: stdout, stderr: stderr, environ: environ, interrupts: ints}
	return a.main(args)
}

// main runs the command line args and returns the exit code.
func (a *app) main(args []string) int {
	root := a.rootCommand()
	root.SetArgs(longFlags(root, args))
	c, err := root.ExecuteC()
	return a.exitCode(c, err)
}

// usageError reports a bad command line of cmd ("" for starter itself)
// and returns exitUsage.
func (a *app) usageError(cmd, msg string) int {
	path := strings.TrimSpace("starter " + cmd)
	fmt.Fprintf(a.stderr, "%s: %s\nRun '%s --help' for usage.\n", path, msg, path)
	return exitUsage
}

// failf reports a failure and returns exitFailed.
func (a *app) failf(cmd, format string, args ...any) int {
	fmt.Fprintf(a.stderr, "starter %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return exitFailed
}

// getenv looks a variable up in the app's environment.
func (a *app) getenv(key string) (string, bool) {
	for i := len(a.environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(a.environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// connectOptions are the connection settings from the app's environment.
func (a *app) connectOptions(logger *slog.Logger) connect.Options {
	return connect.Options{
		Logger:  logger,
		Env:     a.getenv,
		Environ: func() []string { return a.environ },
	}
}

// dial connects to Temporal; the error already names the address and how
// to get a server.
func (a *app) dial(ctx context.Context, cmd string) (*syncclient.Client, func(), int, bool) {
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := a.connectOptions(logger)
	cdc, err := codec.FromEnv(a.getenv) // bad key material: say so before dialling
	if err != nil {
		fmt.Fprintf(a.stderr, "starter %s: %v\n", cmd, err)
		return nil, nil, exitUsage, false
	}
	opts.Codec = cdc
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := connect.Dial(dctx, opts)
	if err != nil {
		hostPort, ns, _ := connect.Describe(opts)
		msg := err.Error()
		if !strings.Contains(msg, "worker --dev") {
			msg += "; is Temporal running? start one with `go run ./worker --dev` or set TEMPORAL_ADDRESS"
		}
		fmt.Fprintf(a.stderr, "starter %s: cannot use Temporal at %s (namespace %s): %s\n", cmd, hostPort, ns, msg)
		return nil, nil, exitFailed, false
	}
	return syncclient.New(c, syncclient.WithDataConverter(cdc.DataConverter())), c.Close, exitOK, true
}

// ensureSearchAttributes registers syncflow's search attributes so that a
// start does not fail on a fresh namespace; workers register them too, so
// a refusal is only a warning.
func (a *app) ensureSearchAttributes(ctx context.Context, c client.Client) {
	_, ns, _ := connect.Describe(a.connectOptions(nil))
	if err := connect.EnsureSearchAttributes(ctx, c, ns, workflows.SearchAttributes()); err != nil {
		fmt.Fprintf(a.stderr, "starter: warning: %v\n", err)
	}
}

// untilInterrupt returns a context that ends at the first interrupt, for
// commands that have nothing to clean up.
func (a *app) untilInterrupt(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-a.interrupts:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// session runs one short command (status, list, cancel) against Temporal:
// it dials, then runs fn bounded by requestTimeout and the first interrupt.
func (a *app) session(ctx context.Context, cmd string, fn func(context.Context, *syncclient.Client) int) int {
	return a.sessionFor(ctx, cmd, requestTimeout, fn)
}

// sessionFor is session with its own bound on fn: 0 means none, only the
// first interrupt (for a command that waits on a workflow, like
// `cancel --task` waiting for the task's cleanup).
func (a *app) sessionFor(ctx context.Context, cmd string, timeout time.Duration, fn func(context.Context, *syncclient.Client) int) int {
	sc, closeClient, code, ok := a.dial(ctx, cmd)
	if !ok {
		return code
	}
	defer closeClient()
	ctx, cancel := a.untilInterrupt(ctx)
	defer cancel()
	if timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, timeout)
		defer cancelT()
	}
	return fn(ctx, sc)
}
