package ratelimit

import (
	"sync"
	"time"
)

// epoch is where virtual time starts in tests.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is a manual clock for tests of the blocking Wait: timers fire
// only when the test calls Advance, and every new timer is announced on
// started so that a test can await "the waiter is blocked" without sleeping.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	started chan time.Duration
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: epoch, started: make(chan time.Duration, 100)}
}

// Now returns the virtual time.
func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Timer starts a virtual timer and announces its duration on started.
func (f *fakeClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	t := &fakeTimer{at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- f.now
	} else {
		f.timers = append(f.timers, t)
	}
	f.mu.Unlock()
	f.started <- d
	return t.c, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves virtual time on by d and fires the timers that are due and
// not stopped; it returns how many fired.
func (f *fakeClock) Advance(d time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	fired := 0
	kept := f.timers[:0]
	for _, t := range f.timers {
		switch {
		case t.stopped:
		case !t.at.After(f.now):
			t.c <- f.now
			t.stopped = true
			fired++
		default:
			kept = append(kept, t)
		}
	}
	f.timers = kept
	return fired
}

// simClock is virtual time for single-goroutine simulations: a timer jumps
// the clock to its end and fires at once, so Wait "sleeps" instantly.
type simClock struct{ now time.Time }

// Now returns the virtual time.
func (s *simClock) Now() time.Time { return s.now }

// Timer jumps to the end of d and returns a fired channel.
func (s *simClock) Timer(d time.Duration) (<-chan time.Time, func() bool) {
	if d > 0 {
		s.now = s.now.Add(d)
	}
	c := make(chan time.Time, 1)
	c <- s.now
	return c, func() bool { return false }
}
