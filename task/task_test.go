package task

import (
	"encoding/json"
	"testing"
	"time"
)

func TestFurthest(t *testing.T) {
	in := Position{Generation: "g", Cursor: "c1", Pages: 1, Records: 10}
	hb := Position{Generation: "g", Cursor: "c3", Pages: 3, Records: 30}
	cp := Position{Generation: "g", Cursor: "c2", Pages: 2, Records: 20, Done: true}
	other := Position{Generation: "h", Cursor: "x", Pages: 9}
	tie := Position{Generation: "g", Cursor: "tie", Pages: 3}
	for _, tc := range []struct {
		name string
		ps   []Position
		want Position
	}{
		{"none", nil, Position{}},
		{"input only", []Position{in}, in},
		{"heartbeat ahead", []Position{in, hb}, hb},
		{"checkpoint ahead", []Position{in, cp}, cp},
		{"most pages wins", []Position{in, hb, cp}, hb},
		{"other generation ignored", []Position{in, other}, in},
		{"tie keeps the earlier", []Position{in, hb, tie}, hb},
		{"behind the input ignored", []Position{hb, in}, hb},
	} {
		if got := Furthest(tc.ps...); got != tc.want {
			t.Errorf("%s: Furthest = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestAdvance(t *testing.T) {
	p := Position{Generation: "g", Cursor: "c1", Pages: 1, Records: 10}
	want := Position{Generation: "g", Cursor: "c2", Pages: 2, Records: 13, Done: true}
	if got := p.Advance("c2", true, 3); got != want {
		t.Errorf("Advance = %+v, want %+v", got, want)
	}
}

func TestCounters(t *testing.T) {
	var c Counters
	c.Record(3, 1)
	c.Record(1, 0)
	if c != (Counters{Executions: 2, Attempts: 4, RateLimitWaits: 1}) || c.Retries() != 2 {
		t.Errorf("counters = %+v, retries %d", c, c.Retries())
	}
}

// TestWireNames pins the JSON names: they are in histories and checkpoints.
func TestWireNames(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{Position{Generation: "g", Cursor: "c", Pages: 1, Records: 2}, `{"generation":"g","cursor":"c","pages":1,"records":2}`},
		{Position{Done: true}, `{"generation":"","cursor":"","pages":0,"records":0,"done":true}`},
		{Counters{1, 2, 3}, `{"executions":1,"attempts":2,"rate_limit_waits":3}`},
		{[]State{Pending, Running, RateLimited, Completed, Cancelled, Failed, Skipped, Stopping, Cancelling},
			`["pending","running","rate_limited","completed","cancelled","failed","skipped","stopping","cancelling"]`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("json = %s (%v), want %s", b, err, tc.want)
		}
	}
}

// TestGenerationStarted: the start of a generation travels with its
// positions (Advance, Furthest), and in JSON only when known.
func TestGenerationStarted(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	p := Position{Generation: "g", GenerationStarted: start, Pages: 1}
	if got := p.Advance("c2", false, 1).GenerationStarted; !got.Equal(start) {
		t.Errorf("Advance dropped the generation start: %v", got)
	}
	old := Position{Generation: "g", Pages: 4} // a checkpoint written before the field
	if got := Furthest(p, old); got.Pages != 4 || !got.GenerationStarted.Equal(start) {
		t.Errorf("Furthest = %+v, want page 4 started %v", got, start)
	}
	// A run made by a workflow reset re-reads the clock: the checkpoint's
	// earlier start of the same generation wins, on a tie of pages too;
	// another generation's start is never taken.
	later := Position{Generation: "g", GenerationStarted: start.Add(time.Minute), Pages: 2}
	if got := Furthest(later, Position{Generation: "g", GenerationStarted: start, Pages: 2}); got.Pages != 2 || !got.GenerationStarted.Equal(start) {
		t.Errorf("Furthest = %+v, want started %v", got, start)
	}
	if got := Furthest(later, Position{Generation: "h", GenerationStarted: start, Pages: 9}); got.Generation != "g" || !got.GenerationStarted.Equal(later.GenerationStarted) {
		t.Errorf("Furthest took another generation's start: %+v", got)
	}
	b, err := json.Marshal(p)
	want := `{"generation":"g","generation_started":"2026-12-01T10:00:00.123456789Z","cursor":"","pages":1,"records":0}`
	if err != nil || string(b) != want {
		t.Errorf("json = %s (%v), want %s", b, err, want)
	}
	var back Position
	if err := json.Unmarshal(b, &back); err != nil || back != p {
		t.Errorf("round trip = %+v (%v), want %+v", back, err, p)
	}
}
