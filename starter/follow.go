package main

import (
	"context"
	"io"
	"time"

	"github.com/syncflow/syncflow/syncclient"
)

// pollTimeout bounds one refresh of a followed workflow's progress.
const pollTimeout = 5 * time.Second

// followed is a workflow that follow shows: a sync or a batch.
type followed struct {
	kind, id string
	waitsFor string    // what a cancelled workflow is still doing
	out      io.Writer // where the progress goes
}

// follow shows a workflow's progress until wait returns, refreshing it with
// poll (nil lines: nothing new to show). The first interrupt cancels the
// workflow and keeps following; the second detaches. It returns wait's
// result, whether an interrupt cancelled the workflow, and whether starter
// detached (then the result is the zero value).
func follow[R any](a *app, ctx context.Context, sc *syncclient.Client, f followed,
	wait func(context.Context) R, poll func(context.Context) []progressLine) (res R, cancelled, detached bool) {
	wctx, stopWait := context.WithCancel(ctx)
	defer stopWait()
	done := make(chan R, 1)
	go func() { done <- wait(wctx) }()
	lv := newLive(f.out)
	defer lv.close()
	tick := time.NewTicker(lv.interval())
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r, cancelled, false
		case <-a.interrupts:
			if a.onInterrupt(ctx, sc, lv, f, &cancelled) {
				return res, cancelled, true
			}
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, pollTimeout)
			if lines := poll(pctx); lines != nil {
				lv.show(lines, false)
			}
			cancel()
		}
	}
}

// onInterrupt handles Ctrl-C while following f: the first cancels it and
// keeps following, the second detaches. It reports whether to detach.
func (a *app) onInterrupt(ctx context.Context, sc *syncclient.Client, lv *live, f followed, cancelled *bool) bool {
	if *cancelled {
		lv.say("detached: %s %s goes on without starter (it may still be cancelling)", f.kind, f.id)
		lv.say("follow it with `starter status %s` or `temporal workflow describe -w %s`", f.id, f.id)
		return true
	}
	*cancelled = true
	lv.say("interrupted: cancelling %s %s and waiting for %s (Ctrl-C again to detach)", f.kind, f.id, f.waitsFor)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sc.Cancel(cctx, f.id); err != nil {
		lv.say("could not cancel: %v", err)
	}
	return false
}
