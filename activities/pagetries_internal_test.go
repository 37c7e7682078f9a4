package activities

import (
	"testing"

	"github.com/syncflow/syncflow/task"
)

func TestPageTries(t *testing.T) {
	p := task.Position{Generation: "g", Cursor: "c5", Pages: 5}
	q := task.Position{Generation: "g", Cursor: "c6", Pages: 6}
	in := SyncPagesInput{Position: p, MaxAttempts: 3}
	cases := []struct {
		name    string
		attempt int32
		in      SyncPagesInput
		hb      *Heartbeat
		pos     task.Position
		failed  int32
	}{
		{"first attempt", 1, in, nil, p, 0},
		{"retry at the same page", 3, in, &Heartbeat{p, 1}, p, 2},
		{"a page committed since the heartbeat", 3, in, &Heartbeat{p, 1}, q, 0},
		{"earlier executions' tries carried", 2, SyncPagesInput{Position: p, MaxAttempts: 3, PageTries: 1}, &Heartbeat{p, 1}, p, 2},
		{"carried tries are of another page", 1, SyncPagesInput{Position: p, PageTries: 2}, nil, q, 0},
		{"activity reset: attempt 1 again", 1, in, &Heartbeat{p, 4}, p, 0},
	}
	for _, c := range cases {
		tr := newPageTries(c.attempt, c.in, c.hb, c.pos)
		if got := tr.failed(); got != c.failed {
			t.Errorf("%s: failed = %d, want %d", c.name, got, c.failed)
		}
	}
	tr := newPageTries(3, in, &Heartbeat{p, 1}, p)
	if tr.exhausted() != nil {
		t.Error("two failed tries of three: not exhausted")
	}
	tr.committed()
	if tr.failed() != 0 {
		t.Errorf("after a commit: failed = %d", tr.failed())
	}
	if newPageTries(4, in, &Heartbeat{p, 1}, p).exhausted() == nil {
		t.Error("three failed tries of three: exhausted")
	}
}
