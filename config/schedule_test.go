package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScheduleAccepts(t *testing.T) {
	for in, want := range map[string]Schedule{
		"@every 1h":                 {Every: time.Hour},
		"@every 90s":                {Every: 90 * time.Second},
		" @every 1h30m ":            {Every: 90 * time.Minute},
		"@daily":                    {Cron: "@daily"},
		"@hourly":                   {Cron: "@hourly"},
		"0 3 * * *":                 {Cron: "0 3 * * *"},
		"*/15  *  * * *":            {Cron: "*/15 * * * *"},
		"0 9-17/2 * * mon-fri":      {Cron: "0 9-17/2 * * mon-fri"},
		"30 2 1,15 JAN,jul SUN":     {Cron: "30 2 1,15 JAN,jul SUN"},
		"0 0 31 12 7":               {Cron: "0 0 31 12 7"},
		"5/10 0-23 1-31 1-12 0-6":   {Cron: "5/10 0-23 1-31 1-12 0-6"},
		"59 23 29 feb sat,sun,mon":  {Cron: "59 23 29 feb sat,sun,mon"},
		"0 0 * * *":                 {Cron: "0 0 * * *"},
		"0,30 */6 */2 */3 */1":      {Cron: "0,30 */6 */2 */3 */1"},
		"0-59/59 0-0 1-1 dec-dec *": {Cron: "0-59/59 0-0 1-1 dec-dec *"},
	} {
		got, err := ParseSchedule(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	assert.Equal(t, "@every 1h30m", Schedule{Every: 90 * time.Minute}.String())
	assert.Equal(t, "@every 1h", Schedule{Every: time.Hour}.String())
	assert.Equal(t, "@every 2m", Schedule{Every: 2 * time.Minute}.String())
	assert.Equal(t, "@every 1h0m5s", Schedule{Every: time.Hour + 5*time.Second}.String())
	assert.Equal(t, "@every 45s", Schedule{Every: 45 * time.Second}.String())
	assert.Equal(t, "0 3 * * *", Schedule{Cron: "0 3 * * *"}.String())
}

func TestParseScheduleRefuses(t *testing.T) {
	for in, text := range map[string]string{
		"":                   "empty schedule",
		"@every":             "want @every DURATION",
		"@every  ":           "want @every DURATION",
		"@every 1 hour":      "is not a duration",
		"@every 500ms":       "at least 1s",
		"@every -1h":         "at least 1s",
		"@every 1500ms":      "whole number of seconds",
		"@weekdays":          "unknown schedule",
		"0 3 * *":            "has 4 fields, want 5",
		"0 0 3 * * *":        "has 6 fields, want 5",
		"60 * * * *":         `minute field "60": "60" is not a valid value (want 0-59)`,
		"0 24 * * *":         "hour field",
		"0 0 0 * * ":         "day of month field",
		"0 0 * 13 *":         "want 1-12 or jan-dec",
		"0 0 * * 8":          "want 0-7 or sun-sat",
		"0 0 * * funday":     "day of week field",
		"*/0 * * * *":        "step \"0\" must be a positive whole number",
		"*/x * * * *":        "must be a positive whole number",
		"10-5 * * * *":       "ends before it starts",
		"1-2-3 * * * *":      "is not a valid value",
		"0 0 * * mon,,fri":   `"" is not a valid value`,
		"every day at three": "has 4 fields",
	} {
		_, err := ParseSchedule(in)
		require.Error(t, err, "%q", in)
		assert.Contains(t, err.Error(), text, "%q", in)
	}
}

// A malformed schedule is a configuration error naming file, line,
// dataset and field, found by Load before anything starts.
func TestLoadMalformedSchedule(t *testing.T) {
	content := header + okDataset + `    schedule: "@every 2h"
  - id: orders
    source:
      url: http://api.example.com/orders
      key: id
      pagination: {type: page}
    schedule: "0 25 * * *"
  - id: invoices
    source:
      url: http://api.example.com/invoices
      key: id
      pagination: {type: page}
    schedule: ""
`
	path := writeConfig(t, content)
	f, err := Load(path)
	require.Error(t, err)
	assert.Nil(t, f)
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	require.Len(t, cerr.Problems, 2, "%v", err)
	assert.Equal(t, Problem{File: path, Line: 14, Entry: "datasets[1]", Dataset: "orders", Field: "schedule",
		Message: cerr.Problems[0].Message}, cerr.Problems[0])
	assert.Contains(t, err.Error(), path+`:14: datasets[1] (orders): schedule: cron expression "0 25 * * *": hour field "25"`)
	assert.Contains(t, err.Error(), path+":20: datasets[2] (invoices): schedule: empty schedule")
}

func TestLoadSchedule(t *testing.T) {
	path := writeConfig(t, header+okDataset+"    schedule: \"@every 15m\"\n")
	f, err := Load(path)
	require.NoError(t, err)
	ds, err := f.Dataset("customers")
	require.NoError(t, err)
	assert.Equal(t, "@every 15m", ds.Schedule)
	s, ok, err := ds.ParsedSchedule()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 15*time.Minute, s.Every)

	path = writeConfig(t, header+okDataset)
	f, err = Load(path)
	require.NoError(t, err)
	_, ok, err = f.Datasets[0].ParsedSchedule()
	require.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, strings.Contains(path, "schedule"))
}
