package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/sink/sinktest"
	"github.com/syncflow/syncflow/task"
)

// BenchmarkCommitSQLite commits pages of 500 records (about 150 bytes of
// JSON each): new keys (a first sync) and the same keys again (a re-sync).
func BenchmarkCommitSQLite(b *testing.B) {
	const perPage = 500
	for _, mode := range []string{"insert", "update"} {
		b.Run(mode, func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
			require.NoError(b, err)
			defer func() { require.NoError(b, s.Close()) }()
			pages := 0
			for b.Loop() {
				pages++
				prefix := fmt.Sprintf("p%d", pages)
				if mode == "update" {
					prefix = "same"
				}
				cp := sink.Checkpoint{TaskID: "bench", DatasetID: "d", Position: task.Position{Generation: "g", Cursor: prefix, Pages: int64(pages), Records: int64(pages * perPage)}}
				if err := s.Commit(b.Context(), cp, sinktest.MakePage(prefix, perPage, "some tag to make the record a little longer")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(pages*perPage)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
