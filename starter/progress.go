package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// liveRetries counts a sync's retries including those of the activity in
// flight, which the progress query only learns when it completes.
func liveRetries(st syncclient.Status) int64 {
	var n int64
	if p := st.Progress; p != nil {
		n = p.Retries
	}
	if r := st.Result; r != nil {
		n = r.Retries
	}
	for _, a := range st.Activities {
		if a.Attempt > 1 {
			n += int64(a.Attempt - 1)
		}
	}
	return n
}

// counts are a sync's numbers, from its progress or its result.
type counts struct {
	records, pages, retries, waits int64
}

func countsOf(st syncclient.Status) counts {
	c := counts{retries: liveRetries(st)}
	switch {
	case st.Result != nil:
		c.records, c.pages, c.waits = st.Result.Records, st.Result.Pages, st.Result.RateLimitWaits
	case st.Progress != nil:
		c.records, c.pages, c.waits = st.Progress.Records, st.Progress.Pages, st.Progress.RateLimitWaits
	}
	return c
}

// syncLine renders one sync's live state on one line: label, state,
// records (of total when known, with a bar), pages, retries, rate-limit
// waits and what it is waiting for.
func syncLine(label string, st syncclient.Status, total int64) progressLine {
	c := countsOf(st)
	l := progressLine{done: c.records, total: total}
	l.before = fmt.Sprintf("%-18s %-12s ", oneLine(label, 18), st.State)
	if total <= 0 {
		l.before += fmt.Sprintf("%7d records", c.records)
	}
	l.after = fmt.Sprintf("  %4d pages  retries %-3d rate-limit waits %-3d", c.pages, c.retries, c.waits) + waitingFor(st)
	l.after = strings.TrimRight(l.after, " ")
	return l
}

// waitingFor says why a sync is not moving, if it is waiting: a retry of
// its activity or a rate limit.
func waitingFor(st syncclient.Status) string {
	if !st.Open() {
		return ""
	}
	if p := st.Progress; p != nil && !p.RateLimitedUntil.IsZero() {
		return fmt.Sprintf("  rate limited for %s", time.Until(p.RateLimitedUntil).Round(time.Second))
	}
	for _, a := range st.Activities {
		if a.Attempt > 1 && a.LastFailure != "" {
			s := fmt.Sprintf("  attempt %d", a.Attempt)
			if d := time.Until(a.NextAttempt); !a.NextAttempt.IsZero() && d > 0 {
				s += fmt.Sprintf(" in %s", d.Round(100*time.Millisecond))
			}
			return s + " after: " + oneLine(shortFailure(a.LastFailure), 60)
		}
	}
	return ""
}

// resultRow is a table row of a finished sync.
func resultRow(task, dataset, state string, c counts, d time.Duration) []string {
	return []string{task, dataset, state, fmt.Sprint(c.records), fmt.Sprint(c.pages),
		fmt.Sprint(c.retries), fmt.Sprint(c.waits), fmtDuration(d)}
}

// resultHeader is the header of resultRow tables.
var resultHeader = []string{"TASK", "DATASET", "STATE", "RECORDS", "PAGES", "RETRIES", "RATE-LIMIT WAITS", "DURATION"}

// countsOfResult are a completed sync's numbers.
func countsOfResult(r workflows.SyncResult) counts {
	return counts{records: r.Records, pages: r.Pages, retries: r.Retries, waits: r.RateLimitWaits}
}

// shortFailure drops the request ("fetch GET http://...: ") from a failure
// message, keeping what the server or the network said.
func shortFailure(msg string) string {
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			return msg[i+j+2:]
		}
	}
	return msg
}
