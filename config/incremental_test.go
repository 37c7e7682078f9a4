package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tickets is a dataset entry (lines 3-7) that the cases below extend.
const tickets = `  - id: tickets
    source:
      url: http://api.example.com/tickets
      key: id
      pagination: {type: page}
`

// Bad incremental and deletes settings are refused by Load, before
// anything starts, naming file, line, dataset and field.
func TestLoadIncrementalProblems(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"incremental without field", tickets + "    incremental:\n      param: updated_since\n",
			":8: datasets[0] (tickets): incremental.field: required"},
		{"incremental without param", tickets + "    incremental:\n      field: updated_at\n",
			":8: datasets[0] (tickets): incremental.param: required"},
		{"deletes mark with incremental", tickets + "    incremental: {field: updated_at, param: since}\n    deletes: mark\n",
			":9: datasets[0] (tickets): deletes: deletes: mark needs full runs"},
		{"deletes delete with incremental", tickets + "    incremental: {field: updated_at, param: since}\n    deletes: delete\n",
			":9: datasets[0] (tickets): deletes: deletes: delete needs full runs"},
		{"unknown deletes", tickets + "    deletes: sometimes\n",
			":8: datasets[0] (tickets): deletes: unknown value \"sometimes\""},
		{"initial neither time nor number", tickets + "    incremental:\n      field: updated_at\n      param: since\n      initial: yesterday\n",
			":11: datasets[0] (tickets): incremental.initial: must be an RFC 3339 time"},
		{"lookback of the wrong kind", tickets + "    incremental:\n      field: seq\n      param: since\n      initial: 100\n      lookback: 5m\n",
			":12: datasets[0] (tickets): incremental.lookback: initial is a number, so lookback must be a number"},
		{"malformed lookback", tickets + "    incremental:\n      field: updated_at\n      param: since\n      lookback: soon\n",
			":11: datasets[0] (tickets): incremental.lookback: must be a duration"},
		{"param is the pagination's", tickets + "    incremental:\n      field: updated_at\n      param: page\n",
			":10: datasets[0] (tickets): incremental.param: \"page\" is the pagination's parameter too"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, header+tt.yaml)
			_, err := Load(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path+tt.want)
		})
	}
}

func TestLoadIncremental(t *testing.T) {
	path := writeConfig(t, header+tickets+`    incremental:
      field: updated_at
      param: updated_since
      initial: 2026-01-01T00:00:00Z
      lookback: 5m
  - id: full
    source:
      url: http://api.example.com/full
      key: id
      pagination: {type: cursor, next: next}
    deletes: delete
`)
	f, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, &Incremental{Field: "updated_at", Param: "updated_since", Initial: "2026-01-01T00:00:00Z", Lookback: "5m"},
		f.Datasets[0].Incremental)
	assert.Equal(t, DeletesDelete, f.Datasets[1].Deletes)
}
