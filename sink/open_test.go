package sink

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenSQLitePaths(t *testing.T) {
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
			s, err := Open(t.Context(), tt.dsn)
			require.NoError(t, err)
			require.NoError(t, s.Close())
			_, err = os.Stat(tt.file)
			assert.NoError(t, err, "database file")
		})
	}
}

func TestOpenRejects(t *testing.T) {
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
			s, err := Open(t.Context(), tt.dsn)
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

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"postgres://app:s3cret@db:5432/x?sslmode=disable", "postgres://app:xxxxx@db:5432/x?sslmode=disable"},
		{"postgres://app@db/x", "postgres://app@db/x"},
		{"postgres://db/x?password=s3cret&user=app", "postgres://db/x?password=xxxxx&user=app"},
		{"sqlite:///var/lib/s.db", "sqlite:///var/lib/s.db"},
		{"host=db user=app password=s3cret", "host=db user=app password=xxxxx"},
		{"postgres://app:s3cret@db:bad port/x", "postgres://app:xxxxx@db:bad port/x"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			assert.Equal(t, tt.want, RedactDSN(tt.dsn))
		})
	}
}
