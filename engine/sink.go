package engine

import (
	"context"
	"fmt"

	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/sink/postgres"
	"github.com/syncflow/syncflow/sink/sqlite"
)

// OpenSink connects to the destination named by dsn and creates its tables
// if needed: sqlite://PATH (sqlite:///abs/path or sqlite://rel/path) or
// postgres://... / postgresql://... (any libpq URL). It lives here, not in
// package sink, so that sink (and everything importing it, such as the
// workflows) does not link the drivers.
func OpenSink(ctx context.Context, dsn string) (sink.Sink, error) {
	switch {
	case sqlite.IsDSN(dsn):
		return asSink(sqlite.OpenDSN(ctx, dsn))
	case postgres.IsDSN(dsn):
		return asSink(postgres.Open(ctx, dsn))
	default:
		return nil, fmt.Errorf("open sink %q: unsupported destination; want sqlite:///abs/path, sqlite://rel/path, postgres://... or postgresql://...", sink.RedactDSN(dsn))
	}
}

// asSink returns a driver's sink as a sink.Sink, and a nil interface (not
// an interface holding a nil pointer) on an error.
func asSink[S sink.Sink](s S, err error) (sink.Sink, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}
