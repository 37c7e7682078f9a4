package integration_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// An undeclared key against a server that announces its limit
// (RateLimit-Policy: 10 requests per second, a bucket of 3) takes that rate
// from the first answer and is never refused: every record, no 429. Before
// the policy was used, slow start doubled past the limit and the server
// refused requests before the key settled.
func TestUndeclaredKeyTakesTheAnnouncedPolicy(t *testing.T) {
	e := newEnv(t)
	e.startWorker(workerOptions{})
	const pages, size = 60, 10
	api := demoapi.New(demoapi.Options{Seed: 12, Datasets: []demoapi.DatasetSpec{
		{ID: "announced", Pagination: source.PaginationPage, Total: pages * size, RPS: 10, Burst: 3},
	}})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cfg := api.SourceConfig(srv.URL, "announced")
	cfg.Pagination.PageSize = size
	ds := config.Dataset{ID: "announced", Source: cfg} // no rate_limit: undeclared
	res, err := e.result(e.start("task-announced", ds, workflows.SyncOptions{}))
	require.NoError(t, err)
	require.EqualValues(t, pages*size, res.Records)
	require.Len(t, e.storedKeys(ds.ID), pages*size)
	st := api.Stats("announced")
	require.Zero(t, st.RateLimited, "requests refused (%d requests)", st.Requests)
}
