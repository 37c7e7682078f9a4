package fairness_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/syncflow/syncflow/fairness"
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
func newServer(t *testing.T) *temporaltest.TestServer {
	return temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.MatchingEnableFairness.Key():                  true,
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		})))
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
	cfg, err = fairness.Describe(ctx, c, ns, tq)
	require.NoError(t, err)
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
	cfg, err = fairness.Describe(ctx, c, ns, tq)
	require.NoError(t, err)
	assert.Equal(t, map[string]float32{"orders": 0.4}, cfg.GetFairnessWeightOverrides())

	assert.Error(t, fairness.Apply(ctx, c, ns, tq, map[string]float64{"orders": 0.01}))
}
