package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/engine"
)

func TestOpenSinkSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // relative paths resolve here
	tests := []struct {
		name string
		dsn  string
		file string // where the database must appear
	}{
		{"absolute", "sqlite://" + filepath.Join(dir, "abs", "a.db"), filepath.Join(dir, "abs", "a.db")},
		{"relative", "sqlite://rel/sub/b.db", filepath.Join(dir, "rel", "sub", "b.db")},
		{"relative, current directory", "sqlite://c.db", filepath.Join(dir, "c.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := engine.OpenSink(t.Context(), tt.dsn)
			require.NoError(t, err)
			require.NoError(t, s.Close())
			_, err = os.Stat(tt.file)
			assert.NoError(t, err, "database file")
		})
	}
}

func TestOpenSinkRejects(t *testing.T) {
	tests := []struct {
		name     string
		dsn      string
		contains []string
		secret   string // must not appear in the error
	}{
		{"unknown scheme", "mysql://app:hunter2@db:3306/sync", []string{"mysql://app:xxxxx@db:3306/sync", "sqlite://", "postgres://"}, "hunter2"},
		{"no scheme", "/var/lib/syncflow.db", []string{"/var/lib/syncflow.db", "sqlite:///abs/path"}, ""},
		{"empty", "", []string{"unsupported destination"}, ""},
		{"password in query", "mssql://db/x?user=a&password=hunter2", []string{"password=xxxxx"}, "hunter2"},
		{"sqlite without path", "sqlite://", []string{"missing file path"}, ""},
		{"sqlite in memory", "sqlite://:memory:", []string{"not durable"}, ""},
		{"sqlite options", "sqlite://x.db?mode=rwc", []string{"no options"}, ""},
		{"postgres bad port", "postgres://app:hunter2@db:notaport/sync", []string{"invalid DSN", "app:xxxxx@"}, "hunter2"},
		{"postgres unreachable", "postgres://app:hunter2@127.0.0.1:1/sync?connect_timeout=5&sslmode=disable", []string{"open postgres"}, "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := engine.OpenSink(t.Context(), tt.dsn)
			require.Error(t, err)
			assert.Nil(t, s)
			for _, c := range tt.contains {
				assert.Contains(t, err.Error(), c)
			}
			if tt.secret != "" {
				assert.NotContains(t, err.Error(), tt.secret)
			}
		})
	}
}
