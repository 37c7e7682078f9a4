package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/secrets"
	"github.com/syncflow/syncflow/sink"
)

// DefaultSinkIdle is how long a destination of the pool stays open while
// no task uses it.
const DefaultSinkIdle = 5 * time.Minute

// sinkOpenTimeout bounds opening a destination (connecting, creating its
// tables); the open does not follow the first task's cancellation, since
// other tasks may be waiting for it.
const sinkOpenTimeout = time.Minute

// SinksOptions configure a Sinks pool.
type SinksOptions struct {
	// Default is the worker's default destination, for a task that names
	// none; the caller owns it (the pool never closes it). Nil: such a
	// task fails as invalid request.
	Default sink.Sink
	// DefaultDSN is Default's DSN as the operator wrote it: a task naming
	// exactly it shares Default instead of opening it again.
	DefaultDSN string
	// ExpandDSN resolves the ${NAME} references of a task's DSN; default
	// ExpandWith(nil), which resolves none. Its errors fail the task (invalid request unless they
	// carry another class).
	ExpandDSN func(dsn string) (string, error)
	// Open opens a resolved DSN; default OpenSink.
	Open func(ctx context.Context, dsn string) (sink.Sink, error)
	// Idle is how long an unused destination stays open; default
	// DefaultSinkIdle.
	Idle time.Duration
}

// Sinks is a worker's pool of destinations (ARCHITECTURE.md §Sink
// protocol): one sink per resolved DSN, opened by the first task that
// names it, shared by all tasks, closed after Idle unused and by Close. It
// implements activities.Sinks and is safe for concurrent use.
type Sinks struct {
	o      SinksOptions
	mu     sync.Mutex
	open   map[string]*pooled // by resolved DSN
	closed bool
}

// pooled is one destination of the pool.
type pooled struct {
	ready chan struct{} // closed once s or err is set
	s     sink.Sink
	err   error
	refs  int         // tasks using it now
	uses  uint64      // acquisitions so far: an idle timer of an older use does nothing
	idle  *time.Timer // runs while refs is 0
}

// NewSinks returns a pool with the defaults of o filled in.
func NewSinks(o SinksOptions) *Sinks {
	if o.ExpandDSN == nil {
		o.ExpandDSN = ExpandWith(nil)
	}
	if o.Open == nil {
		o.Open = OpenSink
	}
	if o.Idle <= 0 {
		o.Idle = DefaultSinkIdle
	}
	return &Sinks{o: o, open: map[string]*pooled{}}
}

// Acquire returns the open sink of the destination dsn ("" or DefaultDSN:
// the default) and its release. A DSN with a literal password, an
// unresolvable reference or an unsupported scheme fails as invalid request;
// a failed open keeps the driver's class (a lost connection is transient;
// authentication, a missing database or a file that cannot be created are
// unrecoverable). Messages name the destination, password redacted.
func (p *Sinks) Acquire(ctx context.Context, dsn string) (sink.Sink, func(), error) {
	if dsn == "" || dsn == p.o.DefaultDSN {
		if p.o.Default == nil {
			return nil, nil, sferrors.Newf(sferrors.InvalidRequest, "open destination", "the task names no destination and this worker has no default (--sink)")
		}
		return p.o.Default, func() {}, nil
	}
	op := "open destination " + sink.RedactDSN(dsn)
	if where, ok := sink.LiteralPassword(dsn); ok {
		return nil, nil, sferrors.Newf(sferrors.InvalidRequest, op,
			"the destination holds a literal password (%s): a task's destination must refer to it as ${NAME}, resolved by the worker", where)
	}
	resolved, err := p.o.ExpandDSN(dsn)
	if err != nil {
		return nil, nil, classed(sferrors.InvalidRequest, op, err, nil)
	}
	if resolved == p.o.DefaultDSN && p.o.Default != nil {
		return p.o.Default, func() {}, nil
	}
	e, err := p.get(ctx, resolved, op)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return e.s, func() { once.Do(func() { p.release(resolved, e) }) }, nil
}

// get returns the open entry of resolved, opening it if it is the first
// use, waiting for the open if another task started it.
func (p *Sinks) get(ctx context.Context, resolved, op string) (*pooled, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, sferrors.Newf(sferrors.Transient, op, "the worker is stopping")
	}
	e, found := p.open[resolved]
	if !found {
		e = &pooled{ready: make(chan struct{})}
		p.open[resolved] = e
	}
	e.refs++
	e.uses++
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
	p.mu.Unlock()
	if !found {
		p.openEntry(ctx, resolved, op, e)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		p.release(resolved, e)
		return nil, sferrors.New(sferrors.Cancelled, op, ctx.Err())
	}
	if e.err != nil {
		p.release(resolved, e)
		return nil, e.err
	}
	return e, nil
}

// openEntry opens the destination of e; a failure removes e from the pool,
// so that the next task tries again.
func (p *Sinks) openEntry(ctx context.Context, resolved, op string, e *pooled) {
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sinkOpenTimeout)
	defer cancel()
	s, err := p.o.Open(octx, resolved)
	if err != nil {
		e.err = classed(sferrors.InvalidRequest, op, err, secretsOf(resolved))
		p.mu.Lock()
		if p.open[resolved] == e {
			delete(p.open, resolved)
		}
		p.mu.Unlock()
	}
	e.s = s
	close(e.ready)
}

// release ends one use of e; the last one starts its idle timer.
func (p *Sinks) release(resolved string, e *pooled) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.refs--
	if e.refs > 0 || e.s == nil || p.closed || p.open[resolved] != e {
		return
	}
	uses := e.uses
	e.idle = time.AfterFunc(p.o.Idle, func() { p.expire(resolved, e, uses) })
}

// expire closes e if it has not been used since its idle timer started.
func (p *Sinks) expire(resolved string, e *pooled, uses uint64) {
	p.mu.Lock()
	if p.open[resolved] != e || e.refs > 0 || e.uses != uses {
		p.mu.Unlock()
		return
	}
	delete(p.open, resolved)
	p.mu.Unlock()
	_ = e.s.Close()
}

// Len is the number of destinations open (or opening) now.
func (p *Sinks) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}

// Close closes every destination the pool opened (not the default); later
// Acquires of a task's destination fail as transient. Call it after the
// worker stopped.
func (p *Sinks) Close() error {
	p.mu.Lock()
	p.closed = true
	entries := make([]*pooled, 0, len(p.open))
	for k, e := range p.open {
		if e.idle != nil {
			e.idle.Stop()
		}
		entries = append(entries, e)
		delete(p.open, k)
	}
	p.mu.Unlock()
	var errs []error
	for _, e := range entries {
		<-e.ready
		if e.s != nil {
			errs = append(errs, e.s.Close())
		}
	}
	return errors.Join(errs...)
}

// classed is err as a classified failure of op: its own class when it has
// one, else class; its text with every secret of scrub replaced, and DSNs
// in it redacted.
func classed(class sferrors.Class, op string, err error, scrub []string) *sferrors.Error {
	var se *sferrors.Error
	if errors.As(err, &se) {
		class = se.Class
	}
	msg := err.Error()
	for _, s := range scrub {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return sferrors.New(class, op, errors.New(sink.RedactDSN(msg)))
}

// secretsOf lists the password of a resolved DSN as written and
// unescaped, for scrubbing error messages.
func secretsOf(resolved string) []string {
	var out []string
	add := func(s string) {
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	if pw, ok := sink.DSNPassword(resolved); ok {
		add(pw)
	}
	if u, err := url.Parse(resolved); err == nil {
		for k, vs := range u.Query() {
			if strings.Contains(strings.ToLower(k), "password") {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	return out
}

// ExpandWith returns an ExpandDSN that resolves each ${NAME} of a DSN
// through the operator's secret bindings, for the destination's host
// (ARCHITECTURE.md §Data flow, "Secret binding"): a name not bound to that
// host, or not set, fails as invalid request, naming the variable and the
// host, never a value. A nil resolver resolves nothing.
func ExpandWith(r *secrets.Resolver) func(dsn string) (string, error) {
	return func(dsn string) (string, error) {
		host := secrets.DSNHost(dsn) // with its port, as bindings may name one
		return ExpandDSNRefs(dsn, func(ref, _ string) (string, error) { return r.Expand(ref, host) })
	}
}

// ExpandDSNRefs replaces each ${NAME} reference of dsn by resolve(ref,
// host), ref being "${NAME}" and host the DSN's host (sink.DSNHost), so
// that an operator's bindings can restrict a secret to its host. Inside a
// PostgreSQL URL a value is percent-encoded, so that a password with '/',
// '@', ':' or '?' stays the password; in a SQLite path it is kept as is.
func ExpandDSNRefs(dsn string, resolve func(ref, host string) (string, error)) (string, error) {
	host := sink.DSNHost(dsn)
	// A SQLite DSN is a file path, never unescaped: values go in as they are.
	isURL := strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite://")
	var b strings.Builder
	rest := dsn
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf(`"${" is not closed by "}"`)
		}
		ref := rest[i : i+j+1]
		v, err := resolve(ref, host)
		if err != nil {
			return "", err
		}
		if isURL {
			v = escapeURLValue(v)
		}
		b.WriteString(rest[:i])
		b.WriteString(v)
		rest = rest[i+j+1:]
	}
}

// escapeURLValue percent-encodes every byte of v but the unreserved ones
// (RFC 3986): valid in a URL's userinfo, path and query alike.
func escapeURLValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
