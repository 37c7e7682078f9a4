package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

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

// command is a subcommand.
type command struct {
	name    string
	summary string
	run     func(a *app, ctx context.Context, args []string) int
}

func commands() []command {
	return []command{
		{"demo", "run everything in one process: Temporal, Web UI, demo API, worker, syncs", (*app).demo},
		{"sync", "start one sync from a config file and follow it", (*app).sync},
		{"batch", "start a batch of syncs from a config file and follow it", (*app).batch},
		{"status", "show a sync's or a batch's status", (*app).status},
		{"list", "list recent syncs and batches", (*app).list},
		{"cancel", "cancel a sync, a batch, or one task of a batch", (*app).cancel},
	}
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

func (a *app) main(args []string) int {
	if len(args) == 0 {
		a.usage(a.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return a.main([]string{args[1], "--help"})
		}
		a.usage(a.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(a, context.Background(), args[1:])
		}
	}
	fmt.Fprintf(a.stderr, "starter: unknown command %q\n\n", name)
	a.usage(a.stderr)
	return exitUsage
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, "starter: syncflow's operator CLI\n\nUsage:\n  starter <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Run 'starter <command> --help' for a command's flags and an example.

Temporal is reached like with every Temporal tool: TEMPORAL_ADDRESS
(default localhost:7233), TEMPORAL_NAMESPACE (default "default"),
TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE. Start a local server
and worker with 'go run ./worker --dev', or try everything at once with
'go run ./starter demo'.
`)
}

// cmdSpec is how a command presents itself in --help.
type cmdSpec struct {
	name     string
	synopsis string // after "starter NAME"
	about    string
	examples []string
}

// parse parses a command's flags, allowing positional arguments between
// them ("cancel ID --task T"). On --help it prints the help to stdout and
// returns done with exitOK; on a bad flag it prints the problem and a hint
// to stderr and returns done with exitUsage.
func (a *app) parse(fs *flag.FlagSet, spec cmdSpec, args []string) (positional []string, code int, done bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			a.help(fs, spec)
			return nil, exitOK, true
		}
		if err != nil {
			return nil, a.usageError(spec.name, err.Error()), true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, exitOK, false
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), exitOK, false
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// help prints a command's help: synopsis, description, flags, examples.
func (a *app) help(fs *flag.FlagSet, spec cmdSpec) {
	w := a.stdout
	fmt.Fprintf(w, "Usage: starter %s %s\n\n%s\n", spec.name, spec.synopsis, strings.TrimSpace(spec.about))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprintf(w, "\nExample:\n")
	for _, e := range spec.examples {
		fmt.Fprintf(w, "  %s\n", e)
	}
}

// usageError reports a bad command line and returns exitUsage.
func (a *app) usageError(cmd, msg string) int {
	fmt.Fprintf(a.stderr, "starter %s: %s\nRun 'starter %s --help' for usage.\n", cmd, msg, cmd)
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
	return syncclient.New(c), c.Close, exitOK, true
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
