package source_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/source"
)

func TestPredict(t *testing.T) {
	page := source.Config{Pagination: source.Pagination{Type: source.PaginationPage}}
	offset := source.Config{Pagination: source.Pagination{Type: source.PaginationOffset}}
	cursor := source.Config{Pagination: source.Pagination{Type: source.PaginationCursor}}
	full := source.Shape{Records: 50}
	for _, c := range []struct {
		name   string
		cfg    source.Config
		cursor string
		last   source.Shape
		n      int
		want   []string
	}{
		{"pages from the first", page, "", full, 3, []string{"2", "3", "4"}},
		{"pages count on", page, "7", full, 2, []string{"8", "9"}},
		{"pages stop at the total", page, "2", source.Shape{Records: 50, Total: 190, HasTotal: true}, 5, []string{"3", "4"}},
		{"pages: a total reached", page, "4", source.Shape{Records: 50, Total: 190, HasTotal: true}, 5, nil},
		{"offsets by the page's records", offset, "100", source.Shape{Records: 10}, 3, []string{"110", "120", "130"}},
		{"offsets stop at the total", offset, "0", source.Shape{Records: 10, Total: 25, HasTotal: true}, 5, []string{"10", "20"}},
		{"offsets need a page with records", offset, "0", source.Shape{}, 3, nil},
		{"a bad cursor predicts nothing", page, "x", full, 3, nil},
		{"cursors cannot be predicted", cursor, "abc", full, 3, nil},
	} {
		require.Equal(t, c.want, source.Predict(c.cfg, c.cursor, c.last, c.n), c.name)
	}
}

func TestConcurrencyBound(t *testing.T) {
	cfg := source.Config{Pagination: source.Pagination{Type: source.PaginationPage}}
	require.Equal(t, source.DefaultConcurrency, cfg.ConcurrencyBound())
	cfg.Concurrency = 3
	require.Equal(t, 3, cfg.ConcurrencyBound())
	cfg.Pagination.Type = source.PaginationLinkHeader
	require.Equal(t, 1, cfg.ConcurrencyBound(), "sequential paginations have one page in flight")
}

func TestValidateConcurrency(t *testing.T) {
	base := source.Config{URL: "https://api.example.com/items", Key: "id", Pagination: source.Pagination{Type: source.PaginationOffset}}
	for _, c := range []struct {
		pagination string
		n          int
		problem    string
	}{
		{source.PaginationOffset, 0, ""},
		{source.PaginationOffset, 64, ""},
		{source.PaginationOffset, 65, "want 1 to 64"},
		{source.PaginationPage, -1, "want 1 to 64"},
		{source.PaginationCursor, 1, ""},
		{source.PaginationCursor, 4, "cursor pagination fetches one page at a time"},
	} {
		cfg := base
		cfg.Pagination.Type, cfg.Concurrency = c.pagination, c.n
		if c.pagination == source.PaginationCursor {
			cfg.Pagination.Next = "next"
		}
		err := cfg.Validate()
		if c.problem == "" {
			require.NoError(t, err, "%s %d", c.pagination, c.n)
			continue
		}
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), "concurrency: ") && strings.Contains(err.Error(), c.problem), "%s %d: %v", c.pagination, c.n, err)
	}
}
