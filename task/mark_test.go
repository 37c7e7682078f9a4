package task

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMarkJSON(t *testing.T) {
	for raw, want := range map[string]string{
		`"2026-01-01T01:00:00+01:00"`: "2026-01-01T00:00:00Z",
		`"2026-01-01T00:00:00.5Z"`:    "2026-01-01T00:00:00.5Z",
		`42`:                          "42",
		`-1.5e3`:                      "-1.5e3",
	} {
		got, err := ParseMarkJSON([]byte(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, want, got, raw)
	}
	for _, raw := range []string{`"yesterday"`, `true`, `null`, `{}`, `[1]`, `""`} {
		_, err := ParseMarkJSON([]byte(raw))
		assert.Error(t, err, raw)
	}
}

func TestCompareMarksAndLookback(t *testing.T) {
	c, err := CompareMarks("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.1Z")
	require.NoError(t, err)
	assert.Equal(t, -1, c)
	c, err = CompareMarks("10", "9")
	require.NoError(t, err)
	assert.Equal(t, 1, c, "numbers compare as numbers, not text")
	c, err = CompareMarks("", "1")
	require.NoError(t, err)
	assert.Equal(t, -1, c)
	_, err = CompareMarks("1", "2026-01-01T00:00:00Z")
	assert.Error(t, err)
	assert.Equal(t, "18446744073709551617", MaxMark("18446744073709551617", "18446744073709551616"))

	for _, tt := range []struct{ mark, lookback, want string }{
		{"2026-01-01T00:05:00Z", "5m", "2026-01-01T00:00:00Z"},
		{"100", "10", "90"},
		{"1.5", "0.25", "1.25"},
		{"7", "", "7"},
		{"", "5m", ""},
	} {
		got, err := MinusLookback(tt.mark, tt.lookback)
		require.NoError(t, err, tt)
		assert.Equal(t, tt.want, got)
	}
	_, err = MinusLookback("100", "5m")
	assert.Error(t, err)
	_, err = MinusLookback("2026-01-01T00:00:00Z", "100")
	assert.Error(t, err)
}
