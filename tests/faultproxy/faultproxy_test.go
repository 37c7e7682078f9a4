package faultproxy_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/syncflow/syncflow/tests/faultproxy"
)

// Every test closes what it opens: the proxy, its upstream, the clients.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// upstream is a TCP server on loopback running handle for every connection.
type upstream struct {
	ln       net.Listener
	handle   func(net.Conn)
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func newUpstream(t *testing.T, handle func(net.Conn)) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := &upstream{ln: ln, handle: handle}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.accepted.Add(1)
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				u.handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		u.wg.Wait()
	})
	return u
}

// echo writes back whatever it reads until the client hangs up.
func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// respond reads one request chunk, then writes payload and closes.
func respond(payload []byte) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 1024)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = c.Write(payload)
	}
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func newProxy(t *testing.T, upstreamAddr string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(upstreamAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, p *faultproxy.Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// events forwards the proxy's events of one kind to a buffered channel.
func events(p *faultproxy.Proxy, kind faultproxy.EventKind) <-chan faultproxy.Event {
	ch := make(chan faultproxy.Event, 100)
	p.Observe(func(e faultproxy.Event) {
		if e.Kind == kind {
			ch <- e
		}
	})
	return ch
}

// readAll connects to p and reads until the connection ends. The error is
// the dial's or the read's: a connection reset at accept may already fail
// the dial (the RST can beat connect's completion).
func readAll(p *faultproxy.Proxy) ([]byte, error) {
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return io.ReadAll(c)
}

// roundTrip sends req on c and reads until the connection ends.
func roundTrip(c net.Conn, req []byte) ([]byte, error) {
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

func TestNewRejectsBadUpstream(t *testing.T) {
	_, err := faultproxy.New("no-port")
	require.Error(t, err)
}

func TestPassForwardsBothWays(t *testing.T) {
	up := newUpstream(t, echo)
	p := newProxy(t, up.ln.Addr().String())
	require.Contains(t, p.Addr(), "127.0.0.1:")
	c := dial(t, p)
	msg := payloadOf(100 << 10) // several chunks each way
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
	require.NoError(t, c.Close())
	require.NoError(t, p.Close())

	s := p.Stats()
	require.EqualValues(t, 1, s.Connections)
	require.Zero(t, s.Faulted)
	require.EqualValues(t, len(msg), s.BytesUp)
	require.EqualValues(t, len(msg), s.BytesDown)
}

func TestResetAtAccept(t *testing.T) {
	up := newUpstream(t, echo)
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{Reset: true})
	got, err := readAll(p)
	require.Empty(t, got)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.NoError(t, p.Close())
	require.EqualValues(t, 1, p.Stats().Resets)
	require.Zero(t, up.accepted.Load(), "the upstream is never dialled")
}

func TestResetAfterBytes(t *testing.T) {
	payload := payloadOf(5000)
	up := newUpstream(t, respond(payload))
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{ResetAfter: 1234})
	got, err := roundTrip(dial(t, p), []byte("hello"))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.LessOrEqual(t, len(got), 1234)
	require.Equal(t, payload[:len(got)], got, "what arrives is the payload's start")
	require.NoError(t, p.Close())
	s := p.Stats()
	require.EqualValues(t, 1, s.Resets)
	require.EqualValues(t, 1234, s.BytesDown, "forwarded exactly ResetAfter bytes")
}

func TestTruncateAfterBytes(t *testing.T) {
	payload := payloadOf(5000)
	up := newUpstream(t, respond(payload))
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{TruncateAfter: 1234})
	got, err := roundTrip(dial(t, p), []byte("hello"))
	require.NoError(t, err, "an orderly close: EOF, not a reset")
	require.Equal(t, payload[:1234], got)
	require.NoError(t, p.Close())
	require.EqualValues(t, 1, p.Stats().Truncations)
}

func TestTruncateBeforeAnyResponseByte(t *testing.T) {
	var requests atomic.Int64
	up := newUpstream(t, func(c net.Conn) {
		buf := make([]byte, 64)
		if n, _ := c.Read(buf); n > 0 {
			requests.Add(1)
		}
		_, _ = c.Write([]byte("answer"))
	})
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{Truncate: true})
	got, err := roundTrip(dial(t, p), []byte("hello"))
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, p.Close())
	require.EqualValues(t, 1, requests.Load(), "the request reached the upstream")
}

// A stalled response does not arrive until Release; then all of it does.
func TestStallHoldsResponseUntilRelease(t *testing.T) {
	payload := payloadOf(3000)
	up := newUpstream(t, respond(payload))
	p := newProxy(t, up.ln.Addr().String())
	stalled := events(p, faultproxy.Stalled)
	p.Set(faultproxy.Fault{Stall: true})
	c := dial(t, p)

	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := roundTrip(c, []byte("hello"))
		done <- result{got, err}
	}()
	e := <-stalled // the proxy holds response bytes now
	require.Zero(t, e.Bytes)
	select {
	case r := <-done:
		t.Fatalf("read completed during the stall: %d bytes, %v", len(r.got), r.err)
	default:
	}
	require.EqualValues(t, 1, p.Stats().Stalls)
	require.Zero(t, p.Stats().BytesDown)

	p.Release()
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, payload, r.got)
}

// A stall ends when the client gives up; nothing is forwarded.
func TestStallEndsWithTheConnection(t *testing.T) {
	up := newUpstream(t, respond(payloadOf(100)))
	p := newProxy(t, up.ln.Addr().String())
	ch := make(chan faultproxy.Event, 10)
	p.Observe(func(e faultproxy.Event) { ch <- e })
	p.Set(faultproxy.Fault{Stall: true})
	c := dial(t, p)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	for e := range ch {
		if e.Kind == faultproxy.Stalled {
			break
		}
	}
	require.NoError(t, c.Close())
	for e := range ch {
		if e.Kind == faultproxy.Closed {
			require.Zero(t, e.Bytes, "nothing forwarded")
			break
		}
	}
	require.Zero(t, p.Stats().BytesDown)
}

// Latency holds every chunk in its direction: with an hour of it towards
// the upstream, a request never gets there while a connection without the
// fault is served; Close ends the wait.
func TestLatencyPerDirection(t *testing.T) {
	for _, tc := range []struct {
		dir          faultproxy.Direction
		reachesUp    bool // the delayed connection's request reaches the upstream
		wantUpstream int64
	}{
		{faultproxy.ToUpstream, false, 0},
		{faultproxy.ToClient, true, 1},
		{faultproxy.Both, false, 0},
	} {
		t.Run(map[faultproxy.Direction]string{faultproxy.ToUpstream: "to-upstream", faultproxy.ToClient: "to-client", faultproxy.Both: "both"}[tc.dir], func(t *testing.T) {
			received := make(chan string, 10)
			up := newUpstream(t, func(c net.Conn) {
				buf := make([]byte, 64)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				received <- string(buf[:n])
				_, _ = c.Write(buf[:n])
			})
			p := newProxy(t, up.ln.Addr().String())
			p.Set(faultproxy.Fault{Latency: time.Hour, Direction: tc.dir, Times: 1})

			slow := dial(t, p)
			slowDone := make(chan struct{})
			go func() {
				defer close(slowDone)
				_, _ = roundTrip(slow, []byte("slow"))
			}()
			fast := dial(t, p)
			_, err := fast.Write([]byte("fast"))
			require.NoError(t, err)
			buf := make([]byte, 4)
			_, err = io.ReadFull(fast, buf)
			require.NoError(t, err)
			require.Equal(t, "fast", string(buf), "the second connection passes")

			if tc.reachesUp {
				// Both requests reached the upstream, in either order.
				got := map[string]bool{<-received: true, <-received: true}
				require.Equal(t, map[string]bool{"slow": true, "fast": true}, got)
			} else {
				require.Equal(t, "fast", <-received)
			}
			select {
			case <-slowDone:
				t.Fatal("the delayed round trip completed")
			default:
			}
			require.NoError(t, p.Close()) // aborts the hour
			<-slowDone
			if !tc.reachesUp {
				require.Empty(t, received, "the delayed request never reached the upstream")
			}
		})
	}
}

// A small latency changes nothing but the timing.
func TestLatencyKeepsBytesIntact(t *testing.T) {
	up := newUpstream(t, echo)
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{Latency: 5 * time.Millisecond})
	c := dial(t, p)
	for i := range 5 {
		msg := bytes.Repeat([]byte{byte('0' + i)}, 1000)
		_, err := c.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
	}
}

// With a bandwidth limit the response trickles: the first read returns a
// small part of it; closing the proxy stops the trickle.
func TestBandwidthLimitTrickles(t *testing.T) {
	payload := payloadOf(1000)
	up := newUpstream(t, respond(payload))
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{BytesPerSecond: 20, Direction: faultproxy.ToClient}) // 1 byte every 50 ms
	c := dial(t, p)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, len(payload))
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Less(t, n, len(payload), "the whole response arrived in one read")
	require.Equal(t, payload[:n], buf[:n])
	require.NoError(t, p.Close())
	rest, _ := io.ReadAll(c)
	require.Less(t, n+len(rest), len(payload), "Close stopped the trickle")
}

// A bandwidth limit high enough delivers everything intact.
func TestBandwidthLimitDeliversEverything(t *testing.T) {
	payload := payloadOf(20 << 10)
	up := newUpstream(t, respond(payload))
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{BytesPerSecond: 400 << 10})
	got, err := roundTrip(dial(t, p), []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, payload, got)
}

// Times applies a fault to the next connections only; then the proxy passes.
func TestTimesThenPass(t *testing.T) {
	up := newUpstream(t, echo)
	p := newProxy(t, up.ln.Addr().String())
	p.Set(faultproxy.Fault{Reset: true, Times: 2})
	for range 2 {
		_, err := readAll(p)
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
	require.Equal(t, faultproxy.Pass, p.Fault())
	c := dial(t, p)
	_, err := c.Write([]byte("ok"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	s := p.Stats()
	require.EqualValues(t, 3, s.Connections)
	require.EqualValues(t, 2, s.Faulted)
	require.EqualValues(t, 2, s.Resets)
}

// Set changes the fault of later connections at run time.
func TestSetAtRunTime(t *testing.T) {
	up := newUpstream(t, echo)
	p := newProxy(t, up.ln.Addr().String())
	accepted := events(p, faultproxy.Accepted)
	p.Set(faultproxy.Fault{Reset: true})
	for range 3 {
		_, err := readAll(p)
		require.ErrorIs(t, err, syscall.ECONNRESET)
		require.True(t, (<-accepted).Fault.Reset)
	}
	p.Set(faultproxy.Pass)
	c := dial(t, p)
	_, err := c.Write([]byte("ok"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 2))
	require.NoError(t, err)
	require.Equal(t, "pass", (<-accepted).Fault.String())
}

// Close ends open connections (even stalled ones) and is idempotent.
func TestCloseEndsOpenConnections(t *testing.T) {
	up := newUpstream(t, respond(payloadOf(10)))
	p := newProxy(t, up.ln.Addr().String())
	stalled := events(p, faultproxy.Stalled)
	p.Set(faultproxy.Fault{Stall: true})
	c := dial(t, p)
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	<-stalled
	require.NoError(t, p.Close())
	got, _ := io.ReadAll(c)
	require.Empty(t, got)
	require.NoError(t, p.Close())
	_, err = net.Dial("tcp", p.Addr())
	require.Error(t, err, "no longer listening")
}

// The faults seen by an HTTP client: what net/http reports for each.
func TestHTTPClientSeesFaults(t *testing.T) {
	body := payloadOf(4000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(srv.Close)
	p := newProxy(t, srv.Listener.Addr().String())
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	get := func() ([]byte, error) {
		resp, err := hc.Get("http://" + p.Addr() + "/")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}

	for _, tc := range []struct {
		name  string
		fault faultproxy.Fault
		check func(t *testing.T, got []byte, err error)
	}{
		{"pass", faultproxy.Pass, func(t *testing.T, got []byte, err error) {
			require.NoError(t, err)
			require.Equal(t, body, got)
		}},
		{"reset at accept", faultproxy.Fault{Reset: true}, func(t *testing.T, _ []byte, err error) {
			// Which error net/http reports depends on whether its write
			// or its read notices first; it is a network error either way.
			var opErr *net.OpError
			require.ErrorAs(t, err, &opErr)
		}},
		{"reset in body", faultproxy.Fault{ResetAfter: 1000}, func(t *testing.T, _ []byte, err error) {
			require.ErrorIs(t, err, syscall.ECONNRESET)
		}},
		{"truncated body", faultproxy.Fault{TruncateAfter: 1000}, func(t *testing.T, got []byte, err error) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			require.Less(t, len(got), len(body))
		}},
		{"no answer", faultproxy.Fault{Truncate: true}, func(t *testing.T, _ []byte, err error) {
			require.ErrorIs(t, err, io.EOF)
		}},
		{"slow", faultproxy.Fault{Latency: time.Millisecond, BytesPerSecond: 1 << 20}, func(t *testing.T, got []byte, err error) {
			require.NoError(t, err)
			require.Equal(t, body, got)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.Set(tc.fault)
			got, err := get()
			tc.check(t, got, err)
		})
	}
}

// BenchmarkLatency measures round trips through a 1 ms latency each way; a
// round trip cannot be faster than the latency added.
func BenchmarkLatency(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		echo(c)
	}()
	p, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const latency = time.Millisecond
	p.Set(faultproxy.Fault{Latency: latency})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	start := time.Now()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	if per := time.Since(start) / time.Duration(b.N); per < 2*latency {
		b.Fatalf("round trip of %s with %s latency each way", per, latency)
	}
}

// BenchmarkBandwidth measures throughput under a 1 MB/s limit; it cannot be
// (much) above the limit.
func BenchmarkBandwidth(b *testing.B) {
	const limit = 1 << 20
	payload := payloadOf(256 << 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		_ = ln.Close()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			respond(payload)(c)
			c.Close()
		}
	}()
	p, err := faultproxy.New(ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.Set(faultproxy.Fault{BytesPerSecond: limit, Direction: faultproxy.ToClient})
	b.SetBytes(int64(len(payload)))
	start := time.Now()
	for b.Loop() {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			b.Fatal(err)
		}
		got, err := roundTrip(c, []byte("go"))
		c.Close()
		if err != nil || len(got) != len(payload) {
			b.Fatalf("got %d bytes, %v", len(got), err)
		}
	}
	min := time.Duration(b.N) * time.Duration(len(payload)) * time.Second / limit
	if elapsed := time.Since(start); elapsed < min*9/10 {
		b.Fatalf("%d bytes in %s: above the %d B/s limit", b.N*len(payload), elapsed, limit)
	}
}
