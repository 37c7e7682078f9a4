package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/syncclient"
)

// startTimeout bounds the start of a sync or batch once connected.
const startTimeout = 30 * time.Second

// interruptible returns a context that ends at the first interrupt and a
// stop function that releases the watcher and reports whether an
// interrupt ended the context. After stop no interrupt is consumed, so the
// follow loop sees every later one.
func (a *app) interruptible(ctx context.Context) (context.Context, func() bool) {
	ctx, cancel := context.WithCancel(ctx)
	var hit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-a.interrupts:
			hit.Store(true)
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() bool {
		cancel()
		<-done
		return hit.Load()
	}
}

// startFunc starts the workflow of a command on a connected client.
type startFunc func(ctx context.Context, sc *syncclient.Client) (client.WorkflowRun, error)

// dialAndStart connects to Temporal, prepares the namespace and task queue
// for f (search attributes, global limits) and starts a workflow: the
// common opening of `sync` and `batch`. An interrupt (Ctrl-C) at any point
// of it ends it at once with exitInterrupted; a workflow whose start
// request was already sent may have started, which the message says.
// On success the caller closes the client with closeClient.
func (a *app) dialAndStart(ctx context.Context, cmd string, f *config.File, start startFunc) (sc *syncclient.Client, closeClient func(), run client.WorkflowRun, code int, ok bool) {
	ictx, stop := a.interruptible(ctx)
	sc, closeClient, code, ok = a.dial(ictx, cmd)
	if !ok {
		if stop() {
			return nil, nil, nil, a.interruptedStart(cmd, false), false
		}
		return nil, nil, nil, code, false
	}
	sctx, cancel := context.WithTimeout(ictx, startTimeout)
	a.ensureSearchAttributes(sctx, sc.Temporal())
	a.applyGlobalLimits(sctx, sc.Temporal(), f)
	run, err := start(sctx, sc)
	cancel()
	if stop() {
		closeClient()
		return nil, nil, nil, a.interruptedStart(cmd, true), false
	}
	if err != nil {
		closeClient()
		return nil, nil, nil, a.failf(cmd, "%v", err), false
	}
	return sc, closeClient, run, exitOK, true
}

// interruptedStart reports an interrupt before the workflow was known to
// have started and returns exitInterrupted.
func (a *app) interruptedStart(cmd string, connected bool) int {
	if connected {
		fmt.Fprintf(a.stderr, "starter %s: interrupted while starting; if it started, `starter status` shows it and `starter cancel` stops it\n", cmd)
	} else {
		fmt.Fprintf(a.stderr, "starter %s: interrupted while connecting to Temporal\n", cmd)
	}
	return exitInterrupted
}
