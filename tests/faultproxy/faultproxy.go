// Package faultproxy is a TCP proxy for tests that misbehaves on demand: it
// listens on a loopback port, forwards every connection to an upstream
// address, and applies a Fault to the connections it accepts — added
// latency, connection resets, stalled responses, truncated responses, a
// bandwidth limit — or passes bytes through untouched.
//
// It works on bytes, not HTTP: a fault applies to a connection. To make a
// fault hit a given HTTP request, make sure the client does not reuse a
// connection across the fault (for example, have the upstream server disable
// keep-alives, so that every request opens a connection of its own).
//
// "Upstream" is the server the proxy forwards to; "client" is whoever
// connected to the proxy. Response bytes flow upstream→client.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Direction selects which way of a connection Latency and BytesPerSecond
// slow down.
type Direction int

// Directions.
const (
	Both       Direction = iota // both ways (the default)
	ToUpstream                  // client→upstream: requests
	ToClient                    // upstream→client: responses
)

func (d Direction) includes(way Direction) bool { return d == Both || d == way }

// Fault is what the proxy does to a connection. The zero Fault (Pass)
// forwards bytes untouched. Fields combine: a connection may be slow and
// then truncated.
type Fault struct {
	// Latency is added before each chunk (one read's worth of bytes) is
	// forwarded in Direction.
	Latency time.Duration
	// Direction limits Latency and BytesPerSecond to one way; default Both.
	Direction Direction
	// Reset closes the client connection with a TCP RST (SO_LINGER 0) at
	// accept, before the upstream is dialled; with ResetAfter > 0 it does so
	// after that many response bytes instead (a shorter response is not
	// reset). ResetAfter > 0 implies Reset.
	Reset      bool
	ResetAfter int
	// Truncate forwards TruncateAfter response bytes (none when 0: the
	// request reaches the upstream, the client gets no answer) and then
	// closes both sides with an orderly FIN (a shorter response is not
	// cut). TruncateAfter > 0 implies Truncate.
	Truncate      bool
	TruncateAfter int
	// Stall holds every response byte (upstream→client) without closing
	// anything, until Release is called or the connection ends. Request
	// bytes still flow.
	Stall bool
	// BytesPerSecond, when positive, paces forwarding in Direction to about
	// that many bytes per second.
	BytesPerSecond int
	// Times applies the fault to the next Times connections only, after
	// which the proxy passes; 0 applies it to every connection.
	Times int
}

// Pass is the fault that is no fault: bytes are forwarded untouched.
var Pass = Fault{}

func (f Fault) resets() bool    { return f.Reset || f.ResetAfter > 0 }
func (f Fault) truncates() bool { return f.Truncate || f.TruncateAfter > 0 }

// faulty reports whether f changes anything.
func (f Fault) faulty() bool {
	f.Times, f.Direction = 0, Both
	return f != Pass
}

// String describes f briefly, for logs.
func (f Fault) String() string {
	if !f.faulty() {
		return "pass"
	}
	type plain Fault // without the String method
	return fmt.Sprintf("%+v", plain(f))
}

// Stats counts what the proxy did since it started.
type Stats struct {
	Connections int64 // connections accepted
	Faulted     int64 // accepted connections given a fault other than Pass
	Resets      int64 // connections reset
	Truncations int64 // connections truncated
	Stalls      int64 // connections that held response bytes back
	BytesUp     int64 // bytes forwarded client→upstream
	BytesDown   int64 // bytes forwarded upstream→client
}

// EventKind says what happened to a connection.
type EventKind int

// Event kinds.
const (
	Accepted  EventKind = iota // a connection was accepted; Fault is what it gets
	ResetSent                  // the client connection was reset
	Truncated                  // the response was cut short and the connection closed
	Stalled                    // response bytes are being held back (once per connection)
	Closed                     // the connection ended: both sides are closed, forwarding has stopped
)

// String names the kind, for logs.
func (k EventKind) String() string {
	switch k {
	case Accepted:
		return "accepted"
	case ResetSent:
		return "reset"
	case Truncated:
		return "truncated"
	case Stalled:
		return "stalled"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened to a connection, reported to the
// function given to Observe.
type Event struct {
	Conn  int64 // 1-based number of the connection, in accept order
	Kind  EventKind
	Fault Fault // the connection's fault
	Bytes int64 // response bytes forwarded so far
}

// Proxy is a running fault-injecting TCP proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	upstream string
	ln       net.Listener
	dialer   net.Dialer

	mu      sync.Mutex
	fault   Fault
	left    int // connections the fault still applies to when fault.Times > 0
	release chan struct{}
	conns   map[*conn]struct{}
	closed  bool
	observe func(Event)

	wg    sync.WaitGroup
	stats struct {
		connections, faulted, resets, truncations, stalls, up, down atomic.Int64
	}
}

// New starts a proxy on 127.0.0.1 (a free port) that forwards to upstream
// ("host:port"). It passes until Set says otherwise.
func New(upstream string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("faultproxy: upstream address %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		upstream: upstream,
		ln:       ln,
		dialer:   net.Dialer{Timeout: 5 * time.Second},
		release:  make(chan struct{}),
		conns:    map[*conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address ("127.0.0.1:port").
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// Set makes f the fault of the connections accepted from now on: the next
// f.Times of them, or all of them when f.Times is 0. Connections already
// open keep their fault (see Release for stalls).
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.left = f, f.Times
}

// Fault returns the fault the next connection would get.
func (p *Proxy) Fault() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// Release ends the stall of every open connection: the response bytes held
// back are forwarded and the rest flows. Connections accepted later still
// stall if the fault in force says so.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.release)
	p.release = make(chan struct{})
}

// Observe sets a function called with every Event (nil: none). It is called
// from the proxy's goroutines, synchronously: it must be quick and must not
// call Close.
func (p *Proxy) Observe(fn func(Event)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observe = fn
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{
		Connections: p.stats.connections.Load(),
		Faulted:     p.stats.faulted.Load(),
		Resets:      p.stats.resets.Load(),
		Truncations: p.stats.truncations.Load(),
		Stalls:      p.stats.stalls.Load(),
		BytesUp:     p.stats.up.Load(),
		BytesDown:   p.stats.down.Load(),
	}
}

// Close stops listening, closes every open connection and waits until all
// of the proxy's goroutines have returned. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.shut()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) emit(e Event) {
	p.mu.Lock()
	fn := p.observe
	p.mu.Unlock()
	if fn != nil {
		fn(e)
	}
}

// next takes the fault for a newly accepted connection.
func (p *Proxy) next() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f.Times > 0 {
		p.left--
		if p.left <= 0 {
			p.fault, p.left = Pass, 0
		}
	}
	return f
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	var n int64
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		n++
		c := &conn{p: p, id: n, client: client, fault: p.next(), done: make(chan struct{})}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			return
		}
		p.conns[c] = struct{}{}
		c.release = p.release
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// conn is one proxied connection.
type conn struct {
	p       *Proxy
	id      int64
	fault   Fault
	client  net.Conn
	release <-chan struct{} // closed by Release

	mu       sync.Mutex
	upstream net.Conn
	done     chan struct{} // closed when the connection ends
	ctx      context.Context
	cancel   context.CancelFunc // cancels ctx (a dial in progress) when the connection ends
	once     sync.Once
	down     atomic.Int64 // response bytes forwarded
	stalled  bool
}

// shut ends the connection: both sides are closed and every wait aborts.
func (c *conn) shut() {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
		_ = c.client.Close()
		c.mu.Lock()
		if c.upstream != nil {
			_ = c.upstream.Close()
		}
		c.mu.Unlock()
	})
}

// reset ends the connection with an RST to the client.
func (c *conn) reset() {
	if tc, ok := c.client.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.p.stats.resets.Add(1)
	c.shut()
	c.p.emit(Event{Conn: c.id, Kind: ResetSent, Fault: c.fault, Bytes: c.down.Load()})
}

func (c *conn) run() {
	p := c.p
	defer p.wg.Done()
	defer func() {
		c.shut()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		p.emit(Event{Conn: c.id, Kind: Closed, Fault: c.fault, Bytes: c.down.Load()})
	}()
	p.stats.connections.Add(1)
	if c.fault.faulty() {
		p.stats.faulted.Add(1)
	}
	p.emit(Event{Conn: c.id, Kind: Accepted, Fault: c.fault})

	f := c.fault
	if f.resets() && f.ResetAfter <= 0 {
		c.reset()
		return
	}

	up, err := p.dialer.DialContext(c.ctx, "tcp", p.upstream)
	if err != nil {
		return // the client sees the connection close
	}
	c.mu.Lock()
	c.upstream = up
	c.mu.Unlock()
	select {
	case <-c.done: // shut (Close) before the upstream was recorded
		_ = up.Close()
		return
	default:
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.forward(c.client, up, ToUpstream)
		c.shut() // the client hung up (or the upstream went away)
	}()
	c.forward(up, c.client, ToClient)
	c.shut() // the upstream finished its response, or the connection was cut
	wg.Wait()
}

// forward copies src to dst applying the connection's fault for one way,
// until src ends, a write fails, or the connection is shut.
func (c *conn) forward(src, dst net.Conn, way Direction) {
	f := c.fault
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 && !c.send(dst, buf[:n], way, f) {
			return
		}
		if rerr != nil {
			return
		}
	}
}

// send forwards one chunk; it reports false when the connection is over.
func (c *conn) send(dst net.Conn, b []byte, way Direction, f Fault) bool {
	if way == ToClient && f.Stall && !c.hold() {
		return false
	}
	if f.Latency > 0 && f.Direction.includes(way) && !c.wait(f.Latency) {
		return false
	}
	// Cut the chunk where a reset or a truncation is due.
	limit := -1
	if way == ToClient {
		sent := c.down.Load()
		switch {
		case f.resets():
			limit = max(0, f.ResetAfter-int(sent))
		case f.truncates():
			limit = max(0, f.TruncateAfter-int(sent))
		}
	}
	cut := limit >= 0 && len(b) >= limit
	if cut {
		b = b[:limit]
	}
	if !c.write(dst, b, way, f) {
		return false
	}
	if cut {
		if f.resets() {
			c.reset()
		} else {
			c.p.stats.truncations.Add(1)
			c.shut()
			c.p.emit(Event{Conn: c.id, Kind: Truncated, Fault: f, Bytes: c.down.Load()})
		}
		return false
	}
	return true
}

// write writes b to dst, paced to f.BytesPerSecond when it applies.
func (c *conn) write(dst net.Conn, b []byte, way Direction, f Fault) bool {
	piece := len(b)
	paced := f.BytesPerSecond > 0 && f.Direction.includes(way)
	if paced {
		piece = max(1, f.BytesPerSecond/20) // about 20 writes a second
	}
	for len(b) > 0 {
		n := min(piece, len(b))
		w, err := dst.Write(b[:n])
		c.count(way, w)
		if err != nil {
			return false
		}
		b = b[n:]
		if paced && !c.wait(time.Duration(n)*time.Second/time.Duration(f.BytesPerSecond)) {
			return false
		}
	}
	return true
}

func (c *conn) count(way Direction, n int) {
	if way == ToClient {
		c.down.Add(int64(n))
		c.p.stats.down.Add(int64(n))
	} else {
		c.p.stats.up.Add(int64(n))
	}
}

// hold blocks until the stall is released; false when the connection ended
// first.
func (c *conn) hold() bool {
	select {
	case <-c.release:
		return true
	default:
	}
	if !c.stalled {
		c.stalled = true // only the ToClient goroutine gets here
		c.p.stats.stalls.Add(1)
		c.p.emit(Event{Conn: c.id, Kind: Stalled, Fault: c.fault, Bytes: c.down.Load()})
	}
	select {
	case <-c.release:
		return true
	case <-c.done:
		return false
	}
}

// wait sleeps for d, the fault's delay; false when the connection ended
// first.
func (c *conn) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}
