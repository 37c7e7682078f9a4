// Package engine assembles a syncflow worker: a Temporal worker on the
// syncflow task queue with the workflows and activities registered and
// their dependencies (source client, sink, rate-limit registry) wired in.
// The worker main and the starter's all-in-one demo both use it.
package engine

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/activities"
	"github.com/syncflow/syncflow/workflows"
)

// DefaultStopTimeout is how long a stopping worker lets the page in flight
// commit before its activities are cancelled. docker-compose's
// stop_grace_period must be longer.
const DefaultStopTimeout = 30 * time.Second

// Options configure a worker.
type Options struct {
	// Activities carries the dependencies; required.
	Activities *activities.Activities
	// StopTimeout is the worker's WorkerStopTimeout; default
	// DefaultStopTimeout. Negative means 0 (stop at once).
	StopTimeout time.Duration
	// MaxConcurrentActivities bounds activity slots; 0 = SDK default.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow task slots; 0 = SDK default.
	MaxConcurrentWorkflowTasks int
	// TaskQueue overrides workflows.TaskQueue (tests).
	TaskQueue string
}

// NewWorker returns a worker with everything registered; the caller starts
// and stops it.
func NewWorker(c client.Client, o Options) worker.Worker {
	tq := o.TaskQueue
	if tq == "" {
		tq = workflows.TaskQueue
	}
	stop := o.StopTimeout
	switch {
	case stop == 0:
		stop = DefaultStopTimeout
	case stop < 0:
		stop = 0
	}
	w := worker.New(c, tq, worker.Options{
		WorkerStopTimeout:                      stop,
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
		// Heartbeats carry cancellations to activities: send them at least
		// every second so that a cancelled sync stops within about a second.
		MaxHeartbeatThrottleInterval:     time.Second,
		DefaultHeartbeatThrottleInterval: time.Second,
	})
	Register(w, o.Activities)
	return w
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
}
