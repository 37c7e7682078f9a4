package source

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Timeout defaults (ARCHITECTURE.md §Failure table: each cut is transient).
const (
	// DefaultHeaderTimeout bounds the wait for a response's headers.
	DefaultHeaderTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds the gap between two bytes of a body.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultTotalTimeout caps a whole request, body included. It stays
	// below the SyncPages activity's margin over its own duration (3 min).
	DefaultTotalTimeout = 2 * time.Minute
)

// Timeouts bound one request of a source. Zero fields take the Client's
// defaults (DefaultHeaderTimeout, DefaultIdleTimeout, DefaultTotalTimeout).
type Timeouts struct {
	// Header is the time from sending the request to its response headers.
	Header Duration `json:"header,omitempty" yaml:"header,omitempty"`
	// Idle is the longest time without a byte of the body: a stalled body
	// is cut, a slow but steady one is not.
	Idle Duration `json:"idle,omitempty" yaml:"idle,omitempty"`
	// Total caps the whole request; Config.Timeout is its older name.
	Total Duration `json:"total,omitempty" yaml:"total,omitempty"`
}

// timeoutError is why a request was cut: which timeout, after how long.
type timeoutError struct {
	field string        // the configuration field: timeouts.header, .idle, .total
	d     time.Duration // its value
}

func (e *timeoutError) Error() string {
	switch e.field {
	case "timeouts.header":
		return fmt.Sprintf("no response headers within %s (timeouts.header)", e.d)
	case "timeouts.idle":
		return fmt.Sprintf("response body stalled: no byte for %s (timeouts.idle)", e.d)
	}
	return fmt.Sprintf("request timed out after %s (timeouts.total)", e.d)
}

// Unwrap makes every cut a context.DeadlineExceeded.
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// resolvedTimeouts are the timeouts of one request, defaults applied.
type resolvedTimeouts struct {
	header, idle, total time.Duration
}

// timeoutsFor returns cfg's timeouts over the Client's: timeouts.total,
// else timeout, else the Client's total.
func (c *Client) timeoutsFor(cfg Config) resolvedTimeouts {
	t := c.timeouts
	if cfg.Timeout > 0 {
		t.total = time.Duration(cfg.Timeout)
	}
	if cfg.Timeouts.Total > 0 {
		t.total = time.Duration(cfg.Timeouts.Total)
	}
	if cfg.Timeouts.Header > 0 {
		t.header = time.Duration(cfg.Timeouts.Header)
	}
	if cfg.Timeouts.Idle > 0 {
		t.idle = time.Duration(cfg.Timeouts.Idle)
	}
	return t
}

// guard cuts one request when one of its timeouts passes: the header
// timer runs until the response headers arrive, then the idle timer is
// restarted by every byte of the body; the total is the context's deadline.
type guard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc
	t      resolvedTimeouts

	mu    sync.Mutex
	timer *time.Timer
}

// newGuard returns the guard of a request made under ctx.
func newGuard(ctx context.Context, t resolvedTimeouts) *guard {
	tctx, stop := context.WithTimeoutCause(ctx, t.total, &timeoutError{field: "timeouts.total", d: t.total})
	gctx, cancel := context.WithCancelCause(tctx)
	g := &guard{ctx: gctx, cancel: cancel, stop: stop, t: t}
	g.arm("timeouts.header", t.header)
	return g
}

// arm (re)starts the timer for field.
func (g *guard) arm(field string, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
	}
	err := &timeoutError{field: field, d: d}
	g.timer = time.AfterFunc(d, func() { g.cancel(err) })
}

// headers marks the response headers arrived: the idle timer takes over.
func (g *guard) headers() { g.arm("timeouts.idle", g.t.idle) }

// progress restarts the idle timer after a byte arrived.
func (g *guard) progress() {
	g.mu.Lock()
	g.timer.Reset(g.t.idle)
	g.mu.Unlock()
}

// close stops the timers and releases the context.
func (g *guard) close() {
	g.mu.Lock()
	g.timer.Stop()
	g.mu.Unlock()
	g.cancel(nil)
	g.stop()
}

// cut returns the timeout that cut the request, or nil.
func (g *guard) cut() *timeoutError {
	te, _ := context.Cause(g.ctx).(*timeoutError)
	return te
}

// body wraps a response body so that each byte read restarts the idle timer.
func (g *guard) body(r io.Reader) io.Reader { return &idleReader{r: r, g: g} }

type idleReader struct {
	r io.Reader
	g *guard
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.g.progress()
	}
	return n, err
}
