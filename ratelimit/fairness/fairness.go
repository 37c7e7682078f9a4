// Package fairness sets the global, cross-worker request budget of rate-limit
// keys (ARCHITECTURE.md §Rate-limit layers, layer 4) as Temporal task-queue
// configuration.
//
// Every SyncPages activity carries temporal.Priority{FairnessKey: <rate-limit
// key>}. With matching.enableFairness on, Temporal's matching service limits
// how fast it dispatches activity tasks of each fairness key: the per-key rate
// is the queue's fairness-key default rate times the key's weight. Apply sets
// the default to DefaultKeyRate and each limited key's weight override to
// rps/DefaultKeyRate, through the frontend's UpdateTaskQueueConfig.
//
// What this bounds is the dispatch of activity tasks, not HTTP requests: an
// activity that fetches n pages makes n requests. A key with a global limit
// therefore needs activities of one page each (SyncOptions.PagesPerActivity =
// 1), so that the dispatch rate is the request rate. The per-worker limiter
// (package ratelimit) still paces requests within each worker.
//
// Side effects of Temporal's model, by design of the server:
//   - keys that Apply does not list (datasets without a global limit, and
//     activities without a fairness key) are limited at DefaultKeyRate
//     activity dispatches per second each, far above what one key uses;
//   - the weight also sets a key's share when tasks of several keys wait in a
//     backlog: a key limited to 20/s has weight 0.2 against 1 for an unlisted
//     key.
//
// Eager activities bypass it. By default (system.enableActivityEagerExecution
// is true in server v1.32.0, and the Go SDK requests eager execution for
// activities on the worker's own task queue) the history service hands an
// activity scheduled by a workflow task straight back to the worker that
// completed that task, in the RespondWorkflowTaskCompleted answer: the
// activity task never reaches matching, so neither the per-key limit nor
// fairness applies to it. The server must therefore run with eager activity
// execution off as well: ServerSettings lists both settings. (Measured with
// `go run ./benchmarks -only rate:global`: two workers reached 32 req/s
// under a 20 req/s key limit, and 33 under 5, with eager execution on.)
//
// The matching service keeps the limit per task-queue partition: each of n
// read partitions gets default/n × weight, with a burst of one second of
// that rate. Tasks land on the partitions at random, and a partition that
// holds no task of the key when its budget is due loses that budget: with
// the server's default of 4 partitions, 4 tasks of one key from 2 workers
// reached 0.78–0.87 of a 20/s limit (`go run ./benchmarks -only rate:global
// -rate-partitions 4`). One partition is one limiter, which is busy whenever
// any task of the key waits: the combined rate is then the limit, plus at
// most the limiter's burst (one second of the limit) once. ServerSettings
// therefore asks for one partition per task queue, as the embedded dev
// server always ran; on one host more partitions only add forwarding.
//
// Who applies it: the worker at start, from its configuration, and the
// starter before it starts syncs. Apply is idempotent (it reads the queue's
// configuration first and writes only what differs), so every process that
// holds the configuration can apply it and they stay in step. Limits of
// other keys set by another process are left as they are: two processes
// with different key sets do not undo each other.
package fairness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// ServerSettings are the dynamic config values (by name) a Temporal server
// needs for Apply's limits to bound dispatch: fairness on, so that matching
// keeps per-key rate limits; eager activity execution off, so that every
// activity task goes through matching; and one task-queue partition, so
// that a key's limit is one limiter and is reached, not only respected (see
// the package documentation). The embedded dev server and the benchmarks
// set them; an external server needs them in its dynamic config file. A
// server that ran with more partitions must drain them before it is cut to
// one: lower the write partitions first, the read partitions once the other
// partitions' backlog is empty.
func ServerSettings() map[string]any {
	return map[string]any{
		"matching.enableFairness":              true,
		"system.enableActivityEagerExecution":  false,
		"matching.numTaskqueueReadPartitions":  1,
		"matching.numTaskqueueWritePartitions": 1,
	}
}

// DefaultKeyRate is the fairness-key default rate (activity dispatches per
// second) that Apply sets; a key's limit is expressed as a weight relative
// to it. It is also the limit of every key Apply does not list.
const DefaultKeyRate = 100

// MinKeyRate is the lowest limit Apply accepts: Temporal clamps weights
// below 0.001, so DefaultKeyRate × 0.001 is the smallest rate it can express.
const MinKeyRate = DefaultKeyRate * 0.001

// maxKeyLength is Temporal's limit on a fairness key's length.
const maxKeyLength = 64

// Identity is the identity Apply reports to the server.
const Identity = "syncflow-fairness"

// Weights returns the weight override of every key in limits (key →
// requests per second): rps / DefaultKeyRate. Limits <= 0 are left out (the
// key has no global limit); a limit below MinKeyRate, a NaN or infinite
// limit, or an empty or too long key is an error.
func Weights(limits map[string]float64) (map[string]float32, error) {
	w := make(map[string]float32, len(limits))
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(limits)) {
		rps := limits[key]
		switch {
		case key == "" || len(key) > maxKeyLength:
			errs = append(errs, fmt.Errorf("key %q: must be 1 to %d bytes", key, maxKeyLength))
		case math.IsNaN(rps) || math.IsInf(rps, 0):
			errs = append(errs, fmt.Errorf("key %q: limit %v is not a number", key, rps))
		case rps <= 0:
		case rps < MinKeyRate:
			errs = append(errs, fmt.Errorf("key %q: limit %g req/s is below the smallest Temporal can express (%g)", key, rps, MinKeyRate))
		default:
			w[key] = float32(rps / DefaultKeyRate)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fairness: %w", err)
	}
	return w, nil
}

// Apply makes the activity task queue taskQueue of namespace limit each key
// of limits (key → requests per second, across all workers) to its rate:
// default DefaultKeyRate, weight rps/DefaultKeyRate. Keys with a limit <= 0
// lose their override (back to the default, i.e. no meaningful global
// limit); keys not in limits are not touched. It reads the current
// configuration first and sends an update only for what differs, so calling
// it again with the same limits changes nothing. An empty limits is a no-op.
//
// The server must run with ServerSettings for the limits to take effect.
func Apply(ctx context.Context, c client.Client, namespace, taskQueue string, limits map[string]float64) error {
	weights, err := Weights(limits)
	if err != nil {
		return err
	}
	var unset []string
	for key, rps := range limits {
		if rps <= 0 {
			unset = append(unset, key)
		}
	}
	if len(weights) == 0 && len(unset) == 0 {
		return nil
	}
	cur, err := Describe(ctx, c, namespace, taskQueue)
	if err != nil {
		return err
	}
	req := &workflowservice.UpdateTaskQueueConfigRequest{
		Namespace:     namespace,
		Identity:      Identity,
		TaskQueue:     taskQueue,
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_ACTIVITY,
	}
	changed := false
	if len(weights) > 0 {
		if def := cur.GetFairnessKeysRateLimitDefault().GetRateLimit(); def == nil || def.GetRequestsPerSecond() != DefaultKeyRate {
			req.UpdateFairnessKeyRateLimitDefault = &workflowservice.UpdateTaskQueueConfigRequest_RateLimitUpdate{
				RateLimit: &taskqueuepb.RateLimit{RequestsPerSecond: DefaultKeyRate},
				Reason:    "syncflow: per-key limits are weights of this default",
			}
			changed = true
		}
	}
	have := cur.GetFairnessWeightOverrides()
	for key, w := range weights {
		if old, ok := have[key]; !ok || !sameWeight(old, w) {
			if req.SetFairnessWeightOverrides == nil {
				req.SetFairnessWeightOverrides = map[string]float32{}
			}
			req.SetFairnessWeightOverrides[key] = w
			changed = true
		}
	}
	for _, key := range unset {
		if _, ok := have[key]; ok {
			req.UnsetFairnessWeightOverrides = append(req.UnsetFairnessWeightOverrides, key)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	slices.Sort(req.UnsetFairnessWeightOverrides)
	if _, err := c.WorkflowService().UpdateTaskQueueConfig(ctx, req); err != nil {
		return fmt.Errorf("fairness: update task queue %q config: %w", taskQueue, err)
	}
	return nil
}

// Describe returns the configuration of the activity task queue taskQueue:
// its fairness-key default rate and weight overrides among others. The
// server writes updates to the workflow queue's root partition and the
// activity queue, which Describe reads, learns of them asynchronously:
// right after an update it may still show the previous configuration (Apply
// then merely writes the same values again).
func Describe(ctx context.Context, c client.Client, namespace, taskQueue string) (*taskqueuepb.TaskQueueConfig, error) {
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_ACTIVITY,
		ReportConfig:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("fairness: describe task queue %q: %w", taskQueue, err)
	}
	return resp.GetConfig(), nil
}

// KeyRate returns the effective global limit of key in cfg (default ×
// weight) and whether the queue has per-key limits at all.
func KeyRate(cfg *taskqueuepb.TaskQueueConfig, key string) (float64, bool) {
	def := cfg.GetFairnessKeysRateLimitDefault().GetRateLimit()
	if def == nil {
		return 0, false
	}
	w, ok := cfg.GetFairnessWeightOverrides()[key]
	if !ok || w <= 0 {
		w = 1
	}
	return float64(def.GetRequestsPerSecond()) * float64(w), true
}

// sameWeight compares weights as float32s travel: equal to 1e-6 relative.
func sameWeight(a, b float32) bool {
	return math.Abs(float64(a-b)) <= 1e-6*math.Max(math.Abs(float64(a)), math.Abs(float64(b)))
}
