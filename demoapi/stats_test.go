package demoapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/source"
)

func TestStatsEndpoint(t *testing.T) {
	s := New(Options{Datasets: []DatasetSpec{{ID: "d", Pagination: source.PaginationPage, Total: 10, RPS: 1, Burst: 1}}})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	var st StatsJSON
	require.NoError(t, json.Unmarshal(get("/datasets/d/stats").Body.Bytes(), &st))
	assert.Zero(t, st.Requests)
	assert.Nil(t, st.FirstRequest)

	assert.Equal(t, http.StatusOK, get("/datasets/d/records?page=1").Code)
	assert.Equal(t, http.StatusTooManyRequests, get("/datasets/d/records?page=2").Code)
	require.NoError(t, json.Unmarshal(get("/datasets/d/stats").Body.Bytes(), &st))
	assert.Equal(t, int64(2), st.Requests)
	assert.Equal(t, int64(1), st.OK)
	assert.Equal(t, int64(1), st.RateLimited)
	require.NotNil(t, st.FirstRequest)
	assert.False(t, st.LastRequest.Before(*st.FirstRequest))

	assert.Equal(t, http.StatusNotFound, get("/datasets/nope/stats").Code)
}
