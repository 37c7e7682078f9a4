package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/ratelimit/hints"
)

// source.quota_headers declares an API's own remaining/reset header pair;
// a pair without its reset header is refused with file, line, dataset and
// field.
func TestQuotaHeaders(t *testing.T) {
	ok := header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination: {type: page}
      quota_headers:
        remaining: X-Calls-Left
        reset: X-Calls-Reset
        limit: X-Calls-Per-Hour
`
	f, err := Load(writeConfig(t, ok))
	require.NoError(t, err)
	ds, err := f.Dataset("orders")
	require.NoError(t, err)
	assert.Equal(t, &hints.Headers{Remaining: "X-Calls-Left", Reset: "X-Calls-Reset", Limit: "X-Calls-Per-Hour"}, ds.Source.QuotaHeaders)

	bad := header + `  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination: {type: page}
      quota_headers:
        remaining: "X Calls Left"
`
	path := writeConfig(t, bad)
	_, err = Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+":9: datasets[0] (orders): source.quota_headers.remaining: invalid header name")
	assert.Contains(t, err.Error(), path+":8: datasets[0] (orders): source.quota_headers.reset: required")
}
