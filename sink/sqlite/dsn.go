package sqlite

import (
	"context"
	"fmt"
	"strings"
)

// Scheme is the DSN prefix of a SQLite destination: sqlite:///abs/path or
// sqlite://rel/path.
const Scheme = "sqlite://"

// IsDSN reports whether dsn names a SQLite destination.
func IsDSN(dsn string) bool { return strings.HasPrefix(dsn, Scheme) }

// OpenDSN opens the SQLite file named by a sqlite:// DSN (see Open).
func OpenDSN(ctx context.Context, dsn string) (*Sink, error) {
	path, err := PathFromDSN(dsn)
	if err != nil {
		return nil, err
	}
	return Open(ctx, path)
}

// PathFromDSN returns the file path of a sqlite:// DSN. It refuses options
// and in-memory databases: a sink must be a durable file.
func PathFromDSN(dsn string) (string, error) {
	path := strings.TrimPrefix(dsn, Scheme)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return "", fmt.Errorf("open sink %q: sqlite DSN takes no options; want sqlite://PATH", dsn)
	}
	switch path {
	case "", "/":
		return "", fmt.Errorf("open sink %q: missing file path; want sqlite:///abs/path or sqlite://rel/path", dsn)
	case ":memory:":
		return "", fmt.Errorf("open sink %q: in-memory SQLite is not durable; give a file path", dsn)
	}
	return path, nil
}
