package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/workflows"
)

// A schedule is what one random chaos run does (random_test.go): which
// syncs run (single syncs over the paginations, a batch, an incremental
// dataset synced twice), which of them are cancelled, reset or poisoned, and
// the faults injected, in order. It derives from its seed only, so that
// `-chaos.seed=N` replays the same schedule (the moments at which faults
// land still depend on the machine).

// faultKind is one kind of scheduled fault.
type faultKind string

// Scheduled faults.
const (
	killWorker      faultKind = "sigkill-worker"   // SIGKILL the plain worker, start another
	interruptWorker faultKind = "sigint-worker"    // SIGINT the plain worker (page in flight commits), start another
	killDev         faultKind = "sigkill-dev"      // SIGKILL `worker --dev` (server + worker), restart it from its file
	netReset        faultKind = "net-reset"        // the proxy resets the next N connections
	netStall        faultKind = "net-stall"        // the proxy holds the next response back for Hold
	netTruncate     faultKind = "net-truncate"     // the proxy cuts the next N responses after Bytes
	burst429        faultKind = "burst-429"        // the source answers the next N requests 429 (Retry-After: 1)
	burst5xx        faultKind = "burst-5xx"        // the source answers the next N requests 500/503
	pgRestart       faultKind = "postgres-restart" // pg_ctl restart -m fast of the destination
	userCancel      faultKind = "cancel"           // the user cancels Target
	workflowReset   faultKind = "workflow-reset"   // a workflow reset of Target to its first workflow task
)

// plannedSync is one sync task of a schedule; each has a dataset of its own.
type plannedSync struct {
	ID         string // workflow ID = checkpoint task ID
	BatchTask  string // the task's ID in the batch; "" for a single sync
	Dataset    string
	Pagination string
	Total      int  // records; the incremental dataset's before the first run
	Poison     int  // page answered 400 (the task fails invalid request), 0 none
	Cancel     bool // a user cancel is scheduled
	Reset      bool // a workflow reset is scheduled
	// The incremental dataset is synced twice: between the runs Updates
	// records change and Inserts are added.
	Incremental       bool
	Updates, Inserts  int
	PagesBeforePoison int // the pages committed before the poisoned one
}

// step is one scheduled fault. It waits for Target's checkpoint to reach
// AtPages committed pages (when AtPages > 0; bounded, a task may be done
// first), then Delay, then does Fault.
type step struct {
	Fault   faultKind
	Target  string // a plannedSync ID
	AtPages int64
	Delay   time.Duration
	N       int           // connections or answers concerned
	Bytes   int           // truncate after so many response bytes
	Hold    time.Duration // stall length
}

// schedule is one random chaos run.
type schedule struct {
	Seed     uint64
	Postgres bool // the destination is PostgreSQL (else SQLite)
	Options  workflows.SyncOptions
	Batch    string // the batch's workflow ID, "" when the schedule has none
	Syncs    []plannedSync
	Steps    []step
}

// chaosPaginations are the demo API's pagination types.
var chaosPaginations = []string{
	source.PaginationCursor, source.PaginationNextURL, source.PaginationLinkHeader,
	source.PaginationPage, source.PaginationOffset,
}

// newSchedule derives the schedule of seed. postgres says whether the
// destination is PostgreSQL (the caller decides, from the seed, whether one
// is available).
func newSchedule(seed uint64, postgres bool) schedule {
	r := rand.New(rand.NewPCG(seed, 0x636861_6f73))
	s := schedule{Seed: seed, Postgres: postgres}
	// Why not the defaults everywhere: a lost worker is noticed after the
	// heartbeat timeout, 10 s by default; 3 s keeps a schedule with several
	// kills within the CI budget. Half the schedules cut the activities
	// short, a quarter of those continue as new every 2 activities, so that
	// faults land on activity and run boundaries too.
	s.Options.HeartbeatTimeout = source.Duration(3 * time.Second)
	if r.IntN(2) == 0 {
		s.Options.PagesPerActivity = 2 + r.IntN(4)
		if r.IntN(4) == 0 {
			s.Options.ActivitiesPerRun = 2
		}
	}
	for i := range 1 + r.IntN(2) {
		s.Syncs = append(s.Syncs, demoSync(r, fmt.Sprintf("s%d", i+1), ""))
	}
	if r.IntN(5) < 3 {
		s.Batch = "batch"
		for i := range 2 + r.IntN(2) {
			s.Syncs = append(s.Syncs, demoSync(r, fmt.Sprintf("b%d", i+1), s.Batch))
		}
	}
	if r.IntN(2) == 0 {
		s.Syncs = append(s.Syncs, plannedSync{
			ID: "inc", Dataset: "inc", Pagination: source.PaginationPage, Incremental: true,
			Total: 40 + r.IntN(51), Updates: 5 + r.IntN(11), Inserts: 5 + r.IntN(11),
		})
	}
	s.plan(r)
	return s
}

// demoSync is a sync of a demo dataset of its own.
func demoSync(r *rand.Rand, name, batch string) plannedSync {
	p := chaosPaginations[r.IntN(len(chaosPaginations))]
	ps := plannedSync{ID: name, Dataset: name + "-" + strings.ReplaceAll(p, "_", "-"), Pagination: p, Total: 80 + r.IntN(121)}
	if batch != "" {
		ps.BatchTask = name
		ps.ID = workflows.ChildWorkflowID(batch, name)
	}
	return ps
}

// plan draws the poisoned page, the cancel, the reset and the faults.
func (s *schedule) plan(r *rand.Rand) {
	free := func(ok func(plannedSync) bool) []int {
		var idx []int
		for i, ps := range s.Syncs {
			if !ps.Incremental && !ps.Cancel && !ps.Reset && ps.Poison == 0 && ok(ps) {
				idx = append(idx, i)
			}
		}
		return idx
	}
	all := func(plannedSync) bool { return true }
	if c := free(all); r.IntN(10) < 3 && len(c) > 0 {
		ps := &s.Syncs[c[r.IntN(len(c))]]
		pages := (ps.Total + chaosPageSize - 1) / chaosPageSize
		ps.Poison = 2 + r.IntN(pages-2)
		ps.PagesBeforePoison = ps.Poison - 1
	}
	var steps []step
	if c := free(all); r.IntN(10) < 4 && len(c) > 0 {
		ps := &s.Syncs[c[r.IntN(len(c))]]
		ps.Cancel = true
		steps = append(steps, step{Fault: userCancel, Target: ps.ID, AtPages: 1 + int64(r.IntN(2))})
	}
	if c := free(func(ps plannedSync) bool { return ps.BatchTask == "" }); r.IntN(10) < 3 && len(c) > 0 {
		ps := &s.Syncs[c[r.IntN(len(c))]]
		ps.Reset = true
		steps = append(steps, step{Fault: workflowReset, Target: ps.ID, AtPages: 1 + int64(r.IntN(3))})
	}
	steps = append(steps, s.faults(r)...)
	r.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	s.Steps = steps
}

// faults draws 2 to 5 faults. The transient ones (network faults, 5xx,
// kills) are bounded so that no page can use up its 10 tries on them.
func (s *schedule) faults(r *rand.Rand) []step {
	kinds := []faultKind{killWorker, interruptWorker, killDev, netReset, netStall, netTruncate, burst429, burst5xx}
	if s.Postgres {
		kinds = append(kinds, pgRestart, pgRestart)
	}
	var steps []step
	for range 2 + r.IntN(4) {
		st := step{Fault: kinds[r.IntN(len(kinds))]}
		switch st.Fault {
		case netReset, netTruncate, burst5xx:
			st.N = 1 + r.IntN(2)
			st.Bytes = 40 + r.IntN(400)
		case burst429:
			st.N = 1 + r.IntN(4)
		case netStall:
			st.Hold = time.Duration(200+r.IntN(1800)) * time.Millisecond
		}
		ps := s.Syncs[r.IntN(len(s.Syncs))]
		if r.IntN(2) == 0 {
			st.Target, st.AtPages = ps.ID, 1+int64(r.IntN(3))
		}
		st.Delay = time.Duration(r.IntN(800)) * time.Millisecond
		steps = append(steps, st)
	}
	return steps
}

// String describes the schedule on a few lines, for the test log.
func (s schedule) String() string {
	var b strings.Builder
	sink := "sqlite"
	if s.Postgres {
		sink = "postgres"
	}
	fmt.Fprintf(&b, "seed %d: sink %s, pages/activity %d, activities/run %d\n", s.Seed, sink, s.Options.PagesPerActivity, s.Options.ActivitiesPerRun)
	for _, ps := range s.Syncs {
		fmt.Fprintf(&b, "  sync %s: %s, %s, %d records", ps.ID, ps.Dataset, ps.Pagination, ps.Total)
		switch {
		case ps.Incremental:
			fmt.Fprintf(&b, ", incremental (then %d updates, %d inserts)", ps.Updates, ps.Inserts)
		case ps.Poison > 0:
			fmt.Fprintf(&b, ", page %d poisoned", ps.Poison)
		}
		if ps.Cancel {
			b.WriteString(", cancelled")
		}
		if ps.Reset {
			b.WriteString(", workflow reset")
		}
		b.WriteByte('\n')
	}
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "  step %d: %s\n", i+1, st)
	}
	return b.String()
}

// String describes one step.
func (st step) String() string {
	s := string(st.Fault)
	switch st.Fault {
	case netReset, burst5xx, burst429:
		s += fmt.Sprintf(" x%d", st.N)
	case netTruncate:
		s += fmt.Sprintf(" x%d after %d bytes", st.N, st.Bytes)
	case netStall:
		s += fmt.Sprintf(" for %s", st.Hold)
	}
	if st.Target != "" && st.AtPages > 0 {
		s += fmt.Sprintf(" once %s has %d pages", st.Target, st.AtPages)
	}
	return s + fmt.Sprintf(", %s later", st.Delay)
}
