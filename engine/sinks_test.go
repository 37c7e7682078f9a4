package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
)

// countingSink counts Close calls of a pooled sink.
type countingSink struct {
	sink.Sink
	closed *atomic.Int32
}

func (s countingSink) Close() error { s.closed.Add(1); return s.Sink.Close() }

// countingOpen opens real sinks and counts opens and closes.
type countingOpen struct {
	opened, closed atomic.Int32
}

func (c *countingOpen) open(ctx context.Context, dsn string) (sink.Sink, error) {
	s, err := engine.OpenSink(ctx, dsn)
	if err != nil {
		return nil, err
	}
	c.opened.Add(1)
	return countingSink{s, &c.closed}, nil
}

func classOf(t *testing.T, err error) sferrors.Class {
	t.Helper()
	var e *sferrors.Error
	require.ErrorAs(t, err, &e)
	return e.Class
}

func TestSinksShareOneSinkPerDestination(t *testing.T) {
	dir := t.TempDir()
	var c countingOpen
	p := engine.NewSinks(engine.SinksOptions{Open: c.open})
	a := "sqlite://" + filepath.Join(dir, "a.db")
	b := "sqlite://" + filepath.Join(dir, "b.db")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dsn := a
			if i%2 == 1 {
				dsn = b
			}
			s, release, err := p.Acquire(t.Context(), dsn)
			if !assert.NoError(t, err) {
				return
			}
			defer release()
			_, err = s.Count(t.Context(), "x")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 2, c.opened.Load(), "one open per destination")
	assert.Equal(t, 2, p.Len())
	require.NoError(t, p.Close())
	assert.EqualValues(t, 2, c.closed.Load(), "Close closes what the pool opened")
	_, _, err := p.Acquire(t.Context(), a)
	assert.Equal(t, sferrors.Transient, classOf(t, err), "a stopping worker's task is retried elsewhere")
}

func TestSinksCloseIdleDestinations(t *testing.T) {
	var c countingOpen
	p := engine.NewSinks(engine.SinksOptions{Open: c.open, Idle: time.Millisecond})
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "a.db")
	_, release, err := p.Acquire(t.Context(), dsn)
	require.NoError(t, err)
	release()
	require.Eventually(t, func() bool { return p.Len() == 0 }, 10*time.Second, time.Millisecond)
	assert.EqualValues(t, 1, c.closed.Load())
	// Reopened on the next use.
	_, release, err = p.Acquire(t.Context(), dsn)
	require.NoError(t, err)
	defer release()
	assert.EqualValues(t, 2, c.opened.Load())
	require.NoError(t, p.Close())
}

func TestSinksDefault(t *testing.T) {
	def, err := engine.OpenSink(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
	require.NoError(t, err)
	defer def.Close()
	opened := 0
	p := engine.NewSinks(engine.SinksOptions{Default: def, DefaultDSN: "sqlite:///the/default.db",
		Open: func(context.Context, string) (sink.Sink, error) { opened++; return nil, errors.New("not expected") }})
	for _, dsn := range []string{"", "sqlite:///the/default.db"} {
		s, release, err := p.Acquire(t.Context(), dsn)
		require.NoError(t, err)
		release()
		assert.Same(t, def, s)
	}
	assert.Zero(t, opened)
	require.NoError(t, p.Close())
	_, err = def.Count(t.Context(), "x")
	require.NoError(t, err, "the pool never closes the default")
}

func TestSinksRefuseBadDestinations(t *testing.T) {
	t.Setenv("SYNCFLOW_TEST_PW", "p/w@d:x")
	// The operator bound both names to the destinations' host.
	p := engine.NewSinks(engine.SinksOptions{ExpandDSN: engine.ExpandWith(secrets.New(secrets.Bindings{
		"SYNCFLOW_TEST_PW": {"127.0.0.1"}, "SYNCFLOW_TEST_UNSET": {"127.0.0.1"},
	}, nil))})
	defer p.Close()
	tests := []struct {
		name, dsn string
		class     sferrors.Class
		text      string
	}{
		{"literal password", "postgres://app:hunter2@127.0.0.1:1/x", sferrors.InvalidRequest, "literal password"},
		{"unset variable", "postgres://app:${SYNCFLOW_TEST_UNSET}@127.0.0.1:1/x", sferrors.InvalidRequest, "${SYNCFLOW_TEST_UNSET} is bound to host 127.0.0.1:1 but is not set"},
		{"unsupported scheme", "mysql://app@db/x", sferrors.InvalidRequest, "unsupported destination"},
		{"sqlite with options", "sqlite:///tmp/x.db?mode=memory", sferrors.InvalidRequest, "takes no options"},
		{"sqlite file that cannot be created", "sqlite:///proc/syncflow/x.db", sferrors.Unrecoverable, "open destination sqlite:///proc/syncflow/x.db"},
		{"connection refused", "postgres://app:${SYNCFLOW_TEST_PW}@127.0.0.1:1/x?connect_timeout=5", sferrors.Transient, "open destination postgres://app:${SYNCFLOW_TEST_PW}@127.0.0.1:1/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := p.Acquire(t.Context(), tt.dsn)
			require.Error(t, err)
			assert.Equal(t, tt.class, classOf(t, err), "%v", err)
			assert.Contains(t, err.Error(), tt.text)
			for _, secret := range []string{"hunter2", "p/w@d:x", "p%2Fw%40d%3Ax"} {
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// A pool without bindings resolves no ${NAME}, even one set in the
// worker's environment: a task cannot read the worker's environment
// through its destination.
func TestSinksResolveNoSecretByDefault(t *testing.T) {
	t.Setenv("SYNCFLOW_TEST_PW", "p/w@d:x")
	p := engine.NewSinks(engine.SinksOptions{})
	defer p.Close()
	_, _, err := p.Acquire(t.Context(), "postgres://app:${SYNCFLOW_TEST_PW}@evil.example:5432/x")
	require.Error(t, err)
	assert.Equal(t, sferrors.InvalidRequest, classOf(t, err), "%v", err)
	assert.Contains(t, err.Error(), "${SYNCFLOW_TEST_PW} is not bound to any host")
	assert.NotContains(t, err.Error(), "p/w@d:x")
}

func TestExpandDSNRefsEscapesValues(t *testing.T) {
	var hosts []string
	got, err := engine.ExpandDSNRefs("postgres://${PG_USER}:${PG_PASSWORD}@db.example:5432/sync",
		func(ref, host string) (string, error) {
			hosts = append(hosts, host)
			return map[string]string{"${PG_USER}": "app", "${PG_PASSWORD}": "a/b@c:d e"}[ref], nil
		})
	require.NoError(t, err)
	assert.Equal(t, "postgres://app:a%2Fb%40c%3Ad%20e@db.example:5432/sync", got)
	assert.Equal(t, []string{"db.example", "db.example"}, hosts)
	got, err = engine.ExpandDSNRefs("sqlite://${DATA_DIR}/x.db", func(string, string) (string, error) { return "/var/lib/a b", nil })
	require.NoError(t, err)
	assert.Equal(t, "sqlite:///var/lib/a b/x.db", got)
	_, err = engine.ExpandDSNRefs("postgres://app:${PG@db/x", nil)
	assert.Error(t, err)
}
