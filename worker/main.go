// Command worker runs syncflow's Temporal worker: it connects to Temporal,
// registers syncflow's workflows and activities on the "syncflow" task queue
// and copies pages from source APIs into the sink database until it is told
// to stop. With --dev it also hosts an embedded Temporal server and Web UI.
//
//	go run ./worker --dev                     # everything local
//	TEMPORAL_ADDRESS=temporal:7233 worker     # against a Temporal cluster
//	worker healthcheck --addr 127.0.0.1:9090  # container health probe
//
// The first SIGINT/SIGTERM stops polling and lets the page in flight commit
// (bounded by --stop-timeout), then exits 0; a second one exits at once with
// status 130. Run `worker --help` for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel() // run logs "stopping: ..." and stops gracefully
		<-sigs
		fmt.Fprintln(os.Stderr, "worker: second signal: exiting at once")
		os.Exit(130)
	}()

	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on w and returns the process status for it: 0 for
// success and --help, 2 for a bad command line, 1 otherwise.
func exitCode(err error, w io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(w, "worker:", err)
		return 2
	default:
		fmt.Fprintln(w, "worker:", err)
		return 1
	}
}
