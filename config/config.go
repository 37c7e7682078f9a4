// Package config reads syncflow's YAML configuration file: the destination
// sink and the datasets to sync. Load validates everything before anything
// starts and names the file, the dataset and the field of every problem.
package config

import "github.com/syncflow/syncflow/source"

// RateLimit is a dataset's request budget.
type RateLimit struct {
	// RPS is the ceiling in requests per second on each worker (GlobalRPS
	// bounds all workers together); 0 means undeclared: the worker
	// discovers the server's limit adaptively.
	RPS float64 `json:"rps,omitempty" yaml:"rps,omitempty"`
	// Burst is how many requests may go at once; at least 1.
	Burst int `json:"burst,omitempty" yaml:"burst,omitempty"`
	// Key names the budget; datasets sharing one API credential share a key.
	// Default: the dataset ID.
	Key string `json:"key,omitempty" yaml:"key,omitempty"`
	// GlobalRPS is the limit in requests per second for this key across ALL
	// workers; 0 means none (each worker keeps to RPS on its own). The
	// worker applies it to the task queue at start, and `starter sync` and
	// `batch` before starting (package fairness); it bounds activity
	// dispatch, so tasks of a key with a global limit run one page per
	// activity. At least fairness.MinKeyRate (0.1) when set.
	//
	// Datasets sharing a key must declare the same RPS, Burst and
	// GlobalRPS: Load refuses a file where they differ, naming both.
	GlobalRPS float64 `json:"global_rps,omitempty" yaml:"global_rps,omitempty"`
}

// Dataset is one dataset to sync. It holds no secrets: header values refer to
// environment variables that the worker resolves.
type Dataset struct {
	ID        string        `json:"id" yaml:"id"`
	Source    source.Config `json:"source" yaml:"source"`
	RateLimit RateLimit     `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"`
	// Schedule, when set, makes the dataset's syncs a Temporal Schedule
	// (`starter schedule apply`): a five-field cron expression in UTC, a
	// descriptor such as @daily, or "@every DURATION" (ParseSchedule).
	Schedule string `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	// Incremental, when set, makes each run read only what changed since
	// the last completed run (see Incremental).
	Incremental *Incremental `json:"incremental,omitempty" yaml:"incremental,omitempty"`
	// Deletes is what a completed full run does to the records it did not
	// see: DeletesKeep (default, ""), DeletesMark or DeletesDelete. Not with
	// Incremental: a filtered read cannot tell a delete.
	Deletes string `json:"deletes,omitempty" yaml:"deletes,omitempty"`
}

// LimitKey returns the rate-limit key of the dataset: rate_limit.key when
// set, else its SharedKey when it sends credential references, else the
// dataset ID (ARCHITECTURE.md §Rate-limit layers, "Shared budgets").
func (d Dataset) LimitKey() string {
	if d.RateLimit.Key != "" {
		return d.RateLimit.Key
	}
	if k := d.SharedKey(); k != "" {
		return k
	}
	return d.ID
}

// GlobalLimits returns the global limit of every rate-limit key that has
// one (key → requests per second across all workers): the smallest
// GlobalRPS > 0 of the datasets with that key. Nil when no key has one.
func (f *File) GlobalLimits() map[string]float64 {
	var limits map[string]float64
	for _, ds := range f.Datasets {
		rps := ds.RateLimit.GlobalRPS
		if rps <= 0 {
			continue
		}
		if limits == nil {
			limits = map[string]float64{}
		}
		key := ds.LimitKey()
		if cur, ok := limits[key]; !ok || rps < cur {
			limits[key] = rps
		}
	}
	return limits
}

// File is a whole configuration file.
type File struct {
	// Sink is the destination DSN: sqlite://PATH or postgres://...
	// The environment variable SYNCFLOW_SINK overrides it.
	Sink     string    `json:"sink" yaml:"sink"`
	Datasets []Dataset `json:"datasets" yaml:"datasets"`

	path           string         // the file Load read, for problems found later
	lines          map[string]int // line of every field path, for problems found later
	sinkOverridden bool           // Sink came from ApplySinkOverride
}
