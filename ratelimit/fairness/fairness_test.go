package fairness_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"
	tserver "go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/ratelimit/fairness"
)

func TestWeights(t *testing.T) {
	w, err := fairness.Weights(map[string]float64{"a": 20, "b": 250, "off": 0, "neg": -1, "tiny": fairness.MinKeyRate})
	require.NoError(t, err)
	assert.Equal(t, map[string]float32{"a": 0.2, "b": 2.5, "tiny": 0.001}, w)

	for name, limits := range map[string]map[string]float64{
		"below the minimum": {"a": fairness.MinKeyRate / 2},
		"empty key":         {"": 5},
		"long key":          {string(make([]byte, 65)): 5},
		"infinite":          {"a": posInf()},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fairness.Weights(limits)
			assert.Error(t, err)
		})
	}
}

func posInf() float64 { return math.Inf(1) }

// newServer starts an in-process Temporal server with fairness enabled, as
// the dev server and docker-compose run it.
// It runs one partition per task queue, as the dev server does, so that a
// key's limit is one limiter.
func newServer(t *testing.T) *temporaltest.TestServer {
	dc := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():      1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key():     1,
	}
	for k, v := range fairness.ServerSettings() {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		tserver.WithDynamicConfigClient(dc)))
}

// waitConfig returns the activity queue's configuration once done accepts
// it. The server writes UpdateTaskQueueConfig to the workflow queue's root
// partition; DescribeTaskQueue reads the activity queue's, which learns of
// the change asynchronously (a long poll), so a describe right after an
// update may still show the previous configuration.
func waitConfig(ctx context.Context, t *testing.T, c client.Client, ns, tq string, done func(*taskqueuepb.TaskQueueConfig) bool) *taskqueuepb.TaskQueueConfig {
	t.Helper()
	var cfg *taskqueuepb.TaskQueueConfig
	require.Eventually(t, func() bool {
		got, err := fairness.Describe(ctx, c, ns, tq)
		if err != nil {
			return false
		}
		cfg = got
		return done(got)
	}, 15*time.Second, 10*time.Millisecond, "the task queue configuration did not reach the activity queue")
	return cfg
}

// Apply writes default × weight; applying the same limits again writes
// nothing; another process's keys are kept; a limit of 0 removes a key.
func TestApply(t *testing.T) {
	ts := newServer(t)
	c := ts.GetDefaultClient()
	ns, tq := ts.GetDefaultNamespace(), "fairness-test"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	require.NoError(t, fairness.Apply(ctx, c, ns, tq, nil), "no limits: nothing to do")
	cfg, err := fairness.Describe(ctx, c, ns, tq)
	require.NoError(t, err)
	_, limited := fairness.KeyRate(cfg, "orders")
	assert.False(t, limited, "a fresh queue has no per-key limit")

	require.NoError(t, fairness.Apply(ctx, c, ns, tq, map[string]float64{"orders": 20, "events": 5}))
	cfg = waitConfig(ctx, t, c, ns, tq, func(cfg *taskqueuepb.TaskQueueConfig) bool { return len(cfg.GetFairnessWeightOverrides()) == 2 })
	assert.EqualValues(t, fairness.DefaultKeyRate, cfg.GetFairnessKeysRateLimitDefault().GetRateLimit().GetRequestsPerSecond())
	for key, want := range map[string]float64{"orders": 20, "events": 5, "unlisted": fairness.DefaultKeyRate} {
		got, ok := fairness.KeyRate(cfg, key)
		assert.True(t, ok)
		assert.InDelta(t, want, got, 1e-4, key)
	}
	written := cfg.GetFairnessKeysRateLimitDefault().GetMetadata().GetUpdateTime().AsTime()

	// Idempotent: the same limits again change nothing, not even the
	// update time.
	require.NoError(t, fairness.Apply(ctx, c, ns, tq, map[string]float64{"orders": 20, "events": 5}))
	again, err := fairness.Describe(ctx, c, ns, tq)
	require.NoError(t, err)
	assert.Equal(t, written, again.GetFairnessKeysRateLimitDefault().GetMetadata().GetUpdateTime().AsTime())
	assert.Equal(t, cfg.GetFairnessWeightOverrides(), again.GetFairnessWeightOverrides())

	// Another process applies its own keys: ours stay; a limit of 0 lifts one.
	require.NoError(t, fairness.Apply(ctx, c, ns, tq, map[string]float64{"orders": 40, "events": 0}))
	cfg = waitConfig(ctx, t, c, ns, tq, func(cfg *taskqueuepb.TaskQueueConfig) bool { return len(cfg.GetFairnessWeightOverrides()) == 1 })
	assert.Equal(t, map[string]float32{"orders": 0.4}, cfg.GetFairnessWeightOverrides())

	assert.Error(t, fairness.Apply(ctx, c, ns, tq, map[string]float64{"orders": 0.01}))
}

// The server holds back a key's activity tasks once the key's budget is
// spent, while other keys' tasks go on. A workflow schedules two activities
// of a limited key and one of an unlisted key, all at once, on the worker's
// own task queue (where the SDK asks for eager execution). Once the
// unlisted one and one limited one have run, the other limited one is
// still waiting in matching: its state is SCHEDULED, not STARTED. With
// eager execution on, or fairness off, all three would start at once.
//
// The key gets the smallest weight Apply sets (MinKeyRate's, 0.001), and
// the queue's default rate is then lowered from DefaultKeyRate to 1/s: the
// key's rate, default × weight, is one dispatch per 1000 s (matching's
// limiter lets the first go at once, the next about 999 s later), so the
// held-back one cannot be dispatched while the test runs, however slow the
// machine. (At MinKeyRate itself the next was due after 9 s, which a
// loaded machine could reach before the check.)
func TestServerLimitsDispatch(t *testing.T) {
	ts := newServer(t)
	c := ts.GetDefaultClient()
	ns, tq := ts.GetDefaultNamespace(), "fairness-dispatch"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const limited, free = "limited", "free"
	require.NoError(t, fairness.Apply(ctx, c, ns, tq, map[string]float64{limited: fairness.MinKeyRate}))
	const slowDefault = 1.0 // req/s: the limited key's rate becomes 0.001/s
	_, err := c.WorkflowService().UpdateTaskQueueConfig(ctx, &workflowservice.UpdateTaskQueueConfigRequest{
		Namespace: ns, Identity: "test", TaskQueue: tq, TaskQueueType: enumspb.TASK_QUEUE_TYPE_ACTIVITY,
		UpdateFairnessKeyRateLimitDefault: &workflowservice.UpdateTaskQueueConfigRequest_RateLimitUpdate{
			RateLimit: &taskqueuepb.RateLimit{RequestsPerSecond: slowDefault}, Reason: "test: a key budget no machine outruns",
		},
	})
	require.NoError(t, err)
	// The activity queue learns its configuration from the workflow queue's
	// root partition, where the update is written, asynchronously: wait
	// until it knows the limit before any activity task arrives.
	want := slowDefault * fairness.MinKeyRate / fairness.DefaultKeyRate
	cfg := waitConfig(ctx, t, c, ns, tq, func(cfg *taskqueuepb.TaskQueueConfig) bool {
		rps, ok := fairness.KeyRate(cfg, limited)
		return ok && math.Abs(rps-want) < 1e-6
	})
	rps, _ := fairness.KeyRate(cfg, limited)
	require.InDelta(t, want, rps, 1e-6)

	ran := make(chan string, 3)
	w := worker.New(c, tq, worker.Options{})
	w.RegisterActivityWithOptions(func(_ context.Context, key string) error {
		ran <- key
		return nil
	}, activity.RegisterOptions{Name: "Touch"})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		var fs []workflow.Future
		for _, key := range []string{limited, limited, free} {
			actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
				StartToCloseTimeout: time.Minute,
				Priority:            temporal.Priority{FairnessKey: key},
			})
			fs = append(fs, workflow.ExecuteActivity(actx, "Touch", key))
		}
		for _, f := range fs {
			if err := f.Get(ctx, nil); err != nil {
				return err
			}
		}
		return nil
	}, workflow.RegisterOptions{Name: "ThreeTouches"})
	require.NoError(t, w.Start())
	defer w.Stop()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "three-touches", TaskQueue: tq}, "ThreeTouches")
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), "", "test over") }()

	got := map[string]int{}
	for got[limited] < 1 || got[free] < 1 {
		select {
		case key := <-ran:
			got[key]++
		case <-ctx.Done():
			t.Fatalf("activities run so far: %v: %v", got, ctx.Err())
		}
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	require.NoError(t, err)
	// The activities that ran may still be pending (STARTED) until their
	// completion is recorded; the held-back one is the only SCHEDULED one.
	scheduled := 0
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			scheduled++
		}
	}
	assert.Equal(t, 1, scheduled, "the second activity of the limited key waits for its budget")
	assert.Equal(t, 1, got[limited], "activities of the limited key that ran")
}
