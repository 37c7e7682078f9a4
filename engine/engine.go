// Package engine is the one place that assembles a syncflow worker: a
// Temporal worker on the syncflow task queue with the workflows and
// activities registered and their dependencies (source client, sink,
// rate-limit registry, observer) wired in, defaults filled in. The worker
// main, the starter's all-in-one demo, the tests and the benchmarks all use
// it. It also opens a sink by DSN (OpenSink), which is why it, and not
// package sink, links the sink drivers.
package engine

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/ratelimit"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// DefaultStopTimeout is how long a stopping worker lets the page in flight
// commit before its activities are cancelled. docker-compose's
// stop_grace_period must be longer.
const DefaultStopTimeout = 30 * time.Second

// DefaultHeartbeatEvery is how often a running activity heartbeats while it
// waits or fetches. Heartbeats carry cancellations, so it bounds how long a
// cancelled sync takes to stop.
const DefaultHeartbeatEvery = time.Second

// Options configure a worker and its activities. Only Sink is required;
// New fills in the defaults of everything else.
type Options struct {
	// Sink is the default destination, for a task that names none
	// (SyncInput.Sink empty); required. The caller opens it (OpenSink) and
	// closes it after stopping the worker. A task that names a destination
	// gets it from the worker's pool (Sinks), see ARCHITECTURE.md §Sink
	// protocol.
	Sink sink.Sink
	// DefaultDSN is Sink's DSN as written (--sink): a task naming exactly
	// it shares Sink instead of opening it again. Optional.
	DefaultDSN string
	// ExpandDSN resolves the ${NAME} references of a task's destination;
	// default ExpandWith(Secrets): only names the operator bound to the
	// destination's host.
	ExpandDSN func(dsn string) (string, error)
	// SinkIdle is how long a task's destination stays open unused; default
	// DefaultSinkIdle.
	SinkIdle time.Duration
	// OpenSink opens a task's resolved destination; default OpenSink
	// (tests).
	OpenSink func(ctx context.Context, dsn string) (sink.Sink, error)
	// Source fetches pages; default source.NewClient with Secrets.
	Source activities.Fetcher
	// Secrets are the operator's secret bindings, through which the default
	// Source resolves header ${NAME} references (ARCHITECTURE.md §Data flow,
	// "Secret binding"); nil resolves none. Unused when Source is set.
	Secrets *secrets.Resolver
	// Limits is the worker's per-key request budget; default a new
	// ratelimit.Registry.
	Limits activities.Limiter
	// Observer receives what the activities do, for metrics; optional.
	Observer activities.Observer
	// HeartbeatEvery is the activities' heartbeat interval; default
	// DefaultHeartbeatEvery.
	HeartbeatEvery time.Duration
	// ReportEvery is the least time between two progress reports of one
	// activity execution (activities.Activities.ReportEvery); default
	// activities.DefaultReportEvery.
	ReportEvery time.Duration
	// Now is the activities' clock; default time.Now.
	Now func() time.Time

	// StopTimeout is the worker's WorkerStopTimeout; default
	// DefaultStopTimeout. Negative means 0 (stop at once).
	StopTimeout time.Duration
	// MaxConcurrentActivities bounds activity slots; 0 = SDK default.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow task slots; 0 = SDK default.
	MaxConcurrentWorkflowTasks int
	// WorkflowTaskPollers and ActivityTaskPollers are the worker's
	// concurrent pollers of each kind; 0 = SDK default (2).
	WorkflowTaskPollers int
	ActivityTaskPollers int
	// TaskQueue overrides workflows.TaskQueue (tests).
	TaskQueue string
}

// New assembles a worker: the activities with their dependencies (defaults
// filled in) and a Temporal worker on the task queue with the workflows and
// the activities registered. The caller starts and stops the worker; the
// activities are returned for callers that inspect them.
//
// The worker's pool of task destinations (Sinks) is closed when the
// returned worker stops.
func New(c client.Client, o Options) (worker.Worker, *activities.Activities, error) {
	if o.Sink == nil {
		return nil, nil, errors.New("engine: Options.Sink is required")
	}
	acts := newActivities(o)
	expand := o.ExpandDSN
	if expand == nil {
		expand = ExpandWith(o.Secrets) // only names bound to the destination's host
	}
	pool := NewSinks(SinksOptions{
		Default: o.Sink, DefaultDSN: o.DefaultDSN, ExpandDSN: expand, Open: o.OpenSink, Idle: o.SinkIdle,
	})
	acts.Sinks = pool
	acts.Progress = activities.SignalReporter{Client: c} // live progress (ARCHITECTURE.md §Task position)
	w := worker.New(c, taskQueue(o), workerOptions(o))
	Register(w, acts)
	return &pooledWorker{Worker: w, sinks: pool}, acts, nil
}

// pooledWorker is a Temporal worker that closes its pool of destinations
// once it has stopped.
type pooledWorker struct {
	worker.Worker
	sinks *Sinks
}

// Stop stops the worker, then closes the destinations it opened.
func (w *pooledWorker) Stop() {
	w.Worker.Stop()
	_ = w.sinks.Close()
}

// Run runs the worker until interruptCh delivers, then closes the
// destinations it opened.
func (w *pooledWorker) Run(interruptCh <-chan interface{}) error {
	err := w.Worker.Run(interruptCh)
	_ = w.sinks.Close()
	return err
}

// newActivities returns the activities of o, defaults filled in.
func newActivities(o Options) *activities.Activities {
	a := &activities.Activities{
		Source:         o.Source,
		Sink:           o.Sink,
		Limits:         o.Limits,
		Observer:       o.Observer,
		Now:            o.Now,
		HeartbeatEvery: o.HeartbeatEvery,
		ReportEvery:    o.ReportEvery,
	}
	if a.Source == nil {
		a.Source = source.NewClient(source.WithSecrets(o.Secrets))
	}
	if a.Limits == nil {
		a.Limits = ratelimit.NewRegistry(ratelimit.Options{})
	}
	if a.HeartbeatEvery <= 0 {
		a.HeartbeatEvery = DefaultHeartbeatEvery
	}
	return a
}

// taskQueue is the task queue of o: workflows.TaskQueue unless overridden.
func taskQueue(o Options) string {
	if o.TaskQueue != "" {
		return o.TaskQueue
	}
	return workflows.TaskQueue
}

// workerOptions are the Temporal worker options of o.
func workerOptions(o Options) worker.Options {
	stop := o.StopTimeout
	switch {
	case stop == 0:
		stop = DefaultStopTimeout
	case stop < 0:
		stop = 0
	}
	return worker.Options{
		WorkerStopTimeout:                      stop,
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
		MaxConcurrentWorkflowTaskPollers:       o.WorkflowTaskPollers,
		MaxConcurrentActivityTaskPollers:       o.ActivityTaskPollers,
		// Heartbeats carry cancellations to activities: send them at least
		// every second so that a cancelled sync stops within about a second.
		MaxHeartbeatThrottleInterval:     time.Second,
		DefaultHeartbeatThrottleInterval: time.Second,
	}
}

// Register registers syncflow's workflows and activities on w.
func Register(w worker.Registry, a *activities.Activities) {
	RegisterWorkflows(w)
	w.RegisterActivity(a)
}

// RegisterWorkflows registers syncflow's workflows (and nothing else) on r:
// a worker's registry, or a replayer's.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.SyncWorkflow, workflow.RegisterOptions{Name: workflows.SyncWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.BatchWorkflow, workflow.RegisterOptions{Name: workflows.BatchWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ResetWorkflow, workflow.RegisterOptions{Name: workflows.ResetWorkflowName})
}
