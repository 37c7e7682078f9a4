package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/demoapi"
)

func TestOverrides(t *testing.T) {
	sizes, limits := recordsFlag{}, limitFlag{}
	require.NoError(t, sizes.Set("orders=20000"))
	require.NoError(t, limits.Set("orders=6:6"))
	require.NoError(t, limits.Set("events=0"))
	got, err := applyOverrides(demoapi.DefaultDatasets(), sizes, limits)
	require.NoError(t, err)
	for _, d := range got {
		switch d.ID {
		case "orders":
			assert.Equal(t, demoapi.DatasetSpec{ID: "orders", Pagination: d.Pagination, Total: 20000, RPS: 6, Burst: 6}, d)
		case "events":
			assert.Zero(t, d.RPS, "events unlimited")
		}
	}
	assert.Equal(t, 2000, demoapi.DefaultDatasets()[0].Total, "the defaults are not changed")

	for _, bad := range []string{"orders", "=5", "orders=-1", "orders=x"} {
		assert.Error(t, recordsFlag{}.Set(bad), bad)
	}
	for _, bad := range []string{"orders", "orders=x", "orders=-1", "orders=5:0", "orders=5:x"} {
		assert.Error(t, limitFlag{}.Set(bad), bad)
	}
	_, err = applyOverrides(demoapi.DefaultDatasets(), recordsFlag{"nope": 1}, nil)
	assert.ErrorContains(t, err, "--records nope: no such dataset")
	_, err = applyOverrides(demoapi.DefaultDatasets(), nil, limitFlag{"nope": {}})
	assert.ErrorContains(t, err, "--limit nope: no such dataset")
}
