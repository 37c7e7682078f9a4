package ratelimit

import (
	"math"
	"time"
)

// cubicC is CUBIC's scaling constant in requests per second per second³: it
// sets how fast the rate climbs back towards, and then beyond, the rate at
// which the server last said no.
const cubicC = 0.4

// minCycleRequests makes a slow key probe slowly: after a cut the curve
// takes at least the time of this many requests to get back to wmax, so
// that at any rate a probe that fails costs a small share of requests.
const minCycleRequests = 200

// freezeCycle makes a key whose refusals are expensive probe more slowly
// still: a cycle holds at least the requests of this many freezes at the
// rate in use. A refusal answered Retry-After: 1 at 200 req/s costs 200
// requests; a cycle of 200 requests spent half of its time frozen. A
// refusal without a hint freezes a few intervals, and minCycleRequests
// decides. maxFreezeCycle bounds what freezes add: a freeze of minutes is
// a quota used up or an outage, not the price of one probe, and a key
// frozen an hour must not take days to climb back to its plateau.
const (
	freezeCycle    = 40
	maxFreezeCycle = time.Minute
)

// plateauShare places the curve's plateau a little below the rate at which
// the server said no: that rate overestimates the server's limit by the
// burst the server let through before it ran dry, and sitting just under
// the limit costs far less than the freeze of one more rate-limit answer.
const plateauShare = 0.95

// measureSpan is how far back the sending rate is measured: long enough to
// average a few requests, short enough to be today's rate.
const measureSpan = time.Second

// sameEventSpan bounds how long after a cut answers to requests that were
// in flight at the cut are taken as the same congestion event; it limits
// the damage of requests that never got an answer recorded.
const sameEventSpan = 5 * time.Second

// controller decides one key's sending rate. It is CUBIC, as in congestion
// control and the AWS SDK's adaptive retry mode: a rate-limit answer takes
// the rate in use w (the lower of the current rate and the measured sending
// rate), sets the plateau wmax a little below w and cuts the rate to beta·w;
// successes then move the rate along rate(t) = C·(t−K)³ + wmax, where t is
// the time since the key resumed and K the time at which the curve reaches
// wmax. The curve is steep right after a cut, flat near wmax (just under
// where the server said no) and steep again beyond it, probing for more.
// C follows from K, and K is at least the time of minCycleRequests
// requests, so that probing costs the same small share of requests at
// every rate.
//
// A declared key (ceiling > 0) never exceeds its ceiling; an adaptive key
// (ceiling == 0) never grows beyond twice its measured sending rate, so a
// key that is not using its budget does not build up a rate it never tested.
//
// controller is pure: every method takes the time, so tests drive it in
// virtual time. It is not safe for concurrent use; the key's mutex guards it.
type controller struct {
	ceiling float64 // declared requests per second; 0 when adaptive
	floor   float64 // lowest rate a decrease may reach
	beta    float64 // multiplicative decrease factor, in (0, 1)

	rate  float64   // current rate, requests per second
	wmax  float64   // the curve's plateau, just under the last limit
	k     float64   // seconds from epoch to the plateau
	scale float64   // the curve's C, requests per second per second³
	base  float64   // the rate the last cut set: the curve only lifts it
	epoch time.Time // when the key resumed after the last cut (or started)
	// resumed is when the key last came out of a freeze (or started): the
	// sending rate is measured from there, never across a freeze, however
	// often slow start moves the curve's epoch.
	resumed time.Time

	// slowStart: an adaptive key that the server has not yet said no to
	// doubles its rate once per round of answers (as TCP's slow start
	// doubles its window once per round trip), capped by twice what the
	// round sent, instead of climbing the cubic curve from its modest
	// initial rate: an unthrottled API gets going in a second.
	slowStart bool
	round     round // slow start's current round

	// hinted is the rate a short quota policy of the server announces
	// (requests per window, hints.Quota Limit and Window): an adaptive key
	// takes it as its limit, found without a single refusal. 0: none.
	hinted float64

	lastDecrease time.Time
	sentN        int64 // requests sent
	answeredN    int64 // requests answered (at most sentN)
	inflight     int   // requests sent and not yet answered
	pending      int   // of those, sent before the last cut
	meter        meter
}

// newController returns a controller for a key with the given ceiling
// (0: adaptive, starting at initial).
func newController(ceiling, initial, minRate, beta float64, now time.Time) controller {
	c := controller{ceiling: ceiling, beta: beta, floor: minRate}
	if ceiling > 0 && ceiling < minRate {
		c.floor = ceiling
	}
	start := initial
	if ceiling > 0 {
		start = ceiling
	}
	if start < c.floor {
		start = c.floor
	}
	// K = 0: the curve starts at the plateau and probes upwards at once.
	c.rate, c.base, c.wmax, c.k, c.epoch, c.scale = start, start, start, 0, now, cubicC
	c.slowStart, c.resumed, c.round = ceiling <= 0, now, round{start: now}
	c.meter.origin = now
	return c
}

// adaptive reports whether the key discovers its rate.
func (c *controller) adaptive() bool { return c.ceiling <= 0 }

// setCeiling changes a declared key's ceiling. A key running at its old
// ceiling moves to the new one; a key recovering from a cut keeps
// recovering, under the new ceiling.
func (c *controller) setCeiling(ceiling, minRate float64, now time.Time) {
	old := c.ceiling
	c.ceiling = ceiling
	c.slowStart = false
	c.floor = minRate
	if ceiling < minRate {
		c.floor = ceiling
	}
	if c.rate >= old || c.rate > ceiling {
		c.rate, c.base, c.wmax, c.k, c.epoch, c.scale = ceiling, ceiling, ceiling, 0, now, cubicC
		return
	}
	c.wmax = math.Min(c.wmax, ceiling)
}

// setAdaptive turns a declared key adaptive, starting from its current rate.
func (c *controller) setAdaptive(minRate float64, now time.Time) {
	c.ceiling, c.floor = 0, minRate
	c.rate = math.Max(c.rate, c.floor)
	c.slowStart, c.round = c.lastDecrease.IsZero(), round{start: now, seq: c.sentN}
	c.base, c.wmax, c.k, c.epoch, c.scale = c.rate, c.rate, 0, now, cubicC
}

// pause holds the curve still until resume: time spent frozen is no
// recovery, else the rate would come out of a long freeze at full speed.
func (c *controller) pause(resume time.Time) {
	if resume.After(c.epoch) {
		c.epoch = resume
	}
	if resume.After(c.round.start) {
		c.round = round{start: resume, seq: c.sentN}
	}
	if resume.After(c.resumed) {
		c.resumed = resume
	}
}

// since returns where the sending rate is measured from: the last resume
// from a freeze, at most measureSpan back, so that the measure reflects the
// current rate.
func (c *controller) since(now time.Time) time.Time {
	if from := now.Add(-measureSpan); from.After(c.resumed) {
		return from
	}
	return c.resumed
}

// sent records a request that was let through.
func (c *controller) sent(now time.Time) {
	c.inflight++
	c.sentN++
	c.meter.add(now)
}

// answer records the answer to a request and reports whether that request
// was sent before the last cut (answers are taken in sending order).
func (c *controller) answer() (beforeCut bool) {
	c.answeredN = min(c.answeredN+1, c.sentN)
	if c.inflight > 0 {
		c.inflight--
	}
	if c.pending > 0 {
		c.pending--
		return true
	}
	return false
}

// throttled records a rate-limit answer that freezes the key for freeze.
// Unless the request was sent before the last cut (then the server said no
// to the old rate, and the cut answered it already), it cuts the rate to
// beta times the rate in use (the lower of the current rate and the rate
// measured since the key last resumed), not below the floor. It reports
// whether the rate was cut.
func (c *controller) throttled(now time.Time, freeze time.Duration) bool {
	return c.congested(now, false, freeze)
}

// warned records a success that says the server's burst budget has just
// run dry. In slow start that is the limit found without a refusal: slow
// start ends with a cut half as deep as a refusal's, the plateau at the
// rate in use. Later it is only a success: a bucket runs dry under network
// jitter at rates below the limit, and cutting on every such warning
// ratchets the rate down; refusals drive the curve. It reports whether the
// rate was cut.
func (c *controller) warned(now time.Time) bool {
	if !c.slowStart {
		c.succeeded(now)
		return false
	}
	return c.congested(now, true, 0)
}

// hint records the rate a server's short quota policy announces (rps > 0)
// for an adaptive key: the key's rate is never above it, and a key still
// in slow start leaves it at that rate at once, as if it had been declared.
// A declared key keeps its ceiling.
func (c *controller) hint(rps float64, now time.Time) {
	if !c.adaptive() || !(rps > 0) || rps == c.hinted {
		return
	}
	c.hinted = math.Max(rps, c.floor)
	if c.slowStart {
		c.slowStart = false
		c.rate, c.base, c.wmax, c.k, c.epoch, c.scale = c.hinted, c.hinted, c.hinted, 0, now, cubicC
		return
	}
	c.rate = math.Min(c.rate, c.hinted)
	c.base = math.Min(c.base, c.rate)
	c.wmax = math.Min(c.wmax, c.hinted)
}

// congested cuts the rate for a rate-limit answer (early == false) or a
// warning (early == true) that freezes the key for freeze; see throttled
// and warned. The curve's time to its plateau K is at least that of a
// cycle of requests at the rate in use: minCycleRequests, or the requests
// of freezeCycle freezes (at most maxFreezeCycle of them).
func (c *controller) congested(now time.Time, early bool, freeze time.Duration) bool {
	if c.answer() && now.Sub(c.lastDecrease) < sameEventSpan {
		return false
	}
	w, beta, plateau := c.cut(now, early)
	c.slowStart = false
	c.wmax = math.Max(w*plateau, c.floor)
	c.rate = math.Max(w*beta, c.floor)
	if c.hinted > 0 && c.adaptive() {
		c.wmax = math.Max(math.Min(c.wmax, c.hinted), c.floor)
		c.rate = math.Max(math.Min(c.rate, c.hinted), c.floor)
	}
	span := c.wmax - c.rate
	if span < w*(1-c.beta)/2 { // at the floor, or Decrease near 1
		span = w * (1 - c.beta) / 2
	}
	c.base = c.rate
	cycle := math.Max(minCycleRequests, math.Min(freezeCycle*freeze.Seconds(), maxFreezeCycle.Seconds())*w)
	c.k = math.Max(math.Cbrt(span/cubicC), cycle/w)
	c.scale = span / (c.k * c.k * c.k)
	c.epoch = now
	c.lastDecrease = now
	c.pending = c.inflight
	return true
}

// cut returns how congested cuts: the rate in use w (the lower of the
// current rate and the one measured since the key last resumed, over the
// last second, or over at least a round of slow start when the key has
// not been sending that long), the factors of w the rate is cut to and the
// plateau is set at.
//
// Leaving slow start, the meter lags the doubling rate (it averages the
// ramp since the key started, or over the last second): w is then well
// below the rate just refused, which may itself be close to the limit (a
// server without a burst refuses as soon as the rate passes it). The
// plateau is therefore no lower than a cut of the refused rate: the curve
// climbs back towards it instead of settling where the ramp was. That the
// meter answers after a round already matters: a ramp of rounds finds the
// limit of a fast server within its first second, and the doubled rate
// itself, taken for w, would be far above a server whose burst hid the
// ramp's overshoot (a burst of a second of the limit let the ramp reach
// five times the limit before the first refusal).
func (c *controller) cut(now time.Time, early bool) (w, beta, plateau float64) {
	w = c.rate
	if m, ok := c.meter.rateSpan(now, c.since(now), slowStartRound); ok && m < w {
		w = m
	}
	w = math.Max(w, c.floor)
	beta, plateau = c.beta, plateauShare
	if early {
		beta, plateau = (1+c.beta)/2, 1
	}
	if c.slowStart {
		plateau = math.Max(plateau, c.rate*c.beta/w)
	}
	if !c.lastDecrease.IsZero() && now.Sub(c.epoch).Seconds() < c.k {
		// Said no again before the curve got back to its plateau: the
		// limit is well below the last estimate (it dropped, or the
		// estimate was wrong), so cut twice as hard, and put the
		// plateau no higher than a single cut of the refused rate.
		beta *= beta
		plateau = c.beta
	}
	return w, beta, plateau
}

// succeeded records a successful response: the rate follows the cubic curve,
// capped by the ceiling (declared) or by twice the measured sending rate
// (adaptive; the cap never lowers the rate). The rate never falls below the
// floor.
func (c *controller) succeeded(now time.Time) {
	c.answer()
	if c.slowStart {
		c.grow(now)
		return
	}
	t := max(0, now.Sub(c.epoch).Seconds())
	target := c.scale*math.Pow(t-c.k, 3) + c.wmax
	if c.adaptive() {
		if m, ok := c.meter.rate(now, c.since(now)); ok {
			target = math.Min(target, math.Max(c.rate, 2*m))
		}
		if c.hinted > 0 {
			target = math.Min(target, c.hinted)
		}
	} else {
		target = math.Min(target, c.ceiling)
	}
	c.rate = math.Max(math.Max(target, c.base), c.floor)
}

// Slow start's rounds: a round ends at the first answer to a request sent
// in it (the round trip of the answers) once it has lasted slowStartRound,
// and after maxSlowStartRound at the latest (an answer lost on the way
// must not stall the key). slowStartRound keeps a round long enough for a
// few requests and for the meter to measure it: on a server answering at
// once, the rate still doubles only ten times a second.
const (
	slowStartRound    = 100 * time.Millisecond
	maxSlowStartRound = time.Second
)

// round is one round of slow start: it began at start, when seq requests
// had been sent, so its first request is number seq+1.
type round struct {
	start time.Time
	seq   int64
}

// grow doubles the rate of a key in slow start at the end of each round,
// capped (without lowering the rate) at twice the rate the round sent: a
// key that does not use its rate (fewer pages in flight than the rate
// allows) does not build up one it never tested.
func (c *controller) grow(now time.Time) {
	dt := now.Sub(c.round.start)
	if dt < slowStartRound || (c.answeredN <= c.round.seq && dt < maxSlowStartRound) {
		return
	}
	used := float64(c.sentN-c.round.seq) / dt.Seconds()
	c.rate = math.Max(c.rate, math.Min(2*c.rate, 2*used))
	c.base, c.wmax, c.epoch = c.rate, c.rate, now
	c.round = round{start: now, seq: c.sentN}
}

// The meter counts requests in meterBuckets buckets of meterBucket: it
// looks back at most meterBuckets × meterBucket and needs meterMinSpan of
// history to answer.
const (
	meterBuckets = 20
	meterBucket  = 100 * time.Millisecond
	meterMinSpan = time.Second
)

// meter measures the sending rate over the last seconds, in constant memory
// whatever the rate.
type meter struct {
	origin  time.Time
	buckets [meterBuckets]struct {
		slot int64
		n    int64
	}
	first time.Time // first request, zero before any
}

// slot returns t's bucket number.
func (m *meter) slot(t time.Time) int64 { return int64(t.Sub(m.origin) / meterBucket) }

// add counts one request at now.
func (m *meter) add(now time.Time) {
	if m.first.IsZero() {
		m.first = now
	}
	s := m.slot(now)
	b := &m.buckets[((s%meterBuckets)+meterBuckets)%meterBuckets]
	if b.slot != s {
		b.slot, b.n = s, 0
	}
	b.n++
}

// rate returns the requests per second from since (or as far back as the
// meter reaches, or the first request) to now. ok is false when that span
// is shorter than meterMinSpan.
func (m *meter) rate(now, since time.Time) (r float64, ok bool) {
	return m.rateSpan(now, since, meterMinSpan)
}

// rateSpan is rate answering for spans of at least minSpan.
func (m *meter) rateSpan(now, since time.Time, minSpan time.Duration) (r float64, ok bool) {
	if m.first.IsZero() {
		return 0, false
	}
	cur := m.slot(now)
	from := max(m.slot(since), m.slot(m.first), cur-meterBuckets+1)
	// Whole buckets: the span starts where bucket from starts.
	start := m.origin.Add(time.Duration(from) * meterBucket)
	span := now.Sub(start)
	if span < minSpan {
		return 0, false
	}
	var n int64
	for _, b := range m.buckets {
		if b.slot >= from && b.slot <= cur {
			n += b.n
		}
	}
	return float64(n) / span.Seconds(), true
}
