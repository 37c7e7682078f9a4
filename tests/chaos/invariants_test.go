package chaos_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/tests/faultproxy"
	"github.com/syncflow/syncflow/workflows"
)

// The invariants every schedule must keep (checked once all its workflows
// are closed):
//
//   - outcome: every task ends completed, except a cancelled one (cancelled,
//     or completed when it finished first) and a poisoned one (failed,
//     invalid request); the batch completes and reports its tasks so;
//   - destination: a completed task's dataset holds exactly the source's
//     records, each once, with the source's content; a cancelled or failed
//     one holds exactly the records its checkpoint counts (a prefix of the
//     source, in order), so no checkpoint is ahead of committed data and no
//     record is committed beyond its checkpoint;
//   - secrets: neither the API token nor the database password is in the
//     server's database files or any process's output;
//   - replay: every run of every workflow of the schedule, fetched from the
//     server, replays with the current workflow code;
//   - leftovers: no workflow of the namespace is open, and the plain worker,
//     idle again, runs no more goroutines than when it started plus a slack
//     (leftovers_test.go).

// check checks every invariant of the schedule.
func (r *chaosRun) check() {
	// A fresh pool: a PostgreSQL restart among the steps has ended the
	// connections of the one the steps used.
	r.sink = openSink(r.ctx, r.t, r.testDSN)
	outcomes := map[string]string{}
	for _, ps := range r.s.Syncs {
		outcomes[ps.ID] = r.checkOutcome(ps)
		r.checkDestination(ps, outcomes[ps.ID])
	}
	if r.s.Batch != "" {
		r.checkBatch(outcomes)
	}
	r.checkSecrets()
	r.checkReplay()
	r.checkLeftovers()
	r.outcomes = outcomes
}

// checkOutcome checks how the task's workflow ended and returns its state.
func (r *chaosRun) checkOutcome(ps plannedSync) string {
	desc, err := r.client().DescribeWorkflowExecution(r.ctx, ps.ID, "")
	if err != nil {
		r.failf("outcome", "describe %s: %v", ps.ID, err)
		return "unknown"
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	var res workflows.SyncResult
	err = r.client().GetWorkflow(r.ctx, ps.ID, "").Get(r.ctx, &res)
	state, class := outcomeOf(status, res, err)
	switch {
	case ps.Poison > 0:
		if state != string(task.Failed) || class != sferrors.TypeInvalidRequest {
			r.failf("outcome", "%s reads a poisoned page: want failed %s, got %s %s (%v)", ps.ID, sferrors.TypeInvalidRequest, state, class, err)
		}
	case ps.Cancel:
		if state != string(task.Cancelled) && state != string(task.Completed) {
			r.failf("outcome", "%s was cancelled: want cancelled (or completed, had it finished first), got %s %s (%v)", ps.ID, state, class, err)
		}
	default:
		if state != string(task.Completed) {
			r.failf("outcome", "%s must complete, got %s %s (%v)", ps.ID, state, class, err)
		}
	}
	return state
}

// outcomeOf is a task's final state and, when failed, its class.
func outcomeOf(status enumspb.WorkflowExecutionStatus, res workflows.SyncResult, err error) (state, class string) {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return string(res.State), ""
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return string(task.Cancelled), ""
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			class = appErr.Type()
		}
		return string(task.Failed), class
	}
	return strings.ToLower(strings.TrimPrefix(status.String(), "WORKFLOW_EXECUTION_STATUS_")), ""
}

// checkBatch checks that the batch completed and reports each task as its
// workflow ended.
func (r *chaosRun) checkBatch(outcomes map[string]string) {
	var res workflows.BatchResult
	if err := r.client().GetWorkflow(r.ctx, r.s.Batch, "").Get(r.ctx, &res); err != nil {
		r.failf("outcome", "the batch must complete: %v", err)
		return
	}
	reported := map[string]string{}
	for _, ts := range res.Tasks {
		reported[workflows.ChildWorkflowID(r.s.Batch, ts.ID)] = string(ts.State)
	}
	for _, ps := range r.s.Syncs {
		if ps.BatchTask != "" && reported[ps.ID] != outcomes[ps.ID] {
			r.failf("outcome", "the batch reports task %s %q, its workflow ended %q", ps.BatchTask, reported[ps.ID], outcomes[ps.ID])
		}
	}
}

// checkDestination compares the task's dataset in the destination with the
// source and the task's checkpoint.
func (r *chaosRun) checkDestination(ps plannedSync, state string) {
	stored, err := r.storedRecords(ps.Dataset)
	if err != nil {
		r.failf("destination", "read %s: %v", ps.Dataset, err)
		return
	}
	cp, ok, err := r.sink.Load(r.ctx, ps.ID)
	if err != nil || !ok {
		if len(stored.data) > 0 || state == string(task.Completed) {
			r.failf("checkpoint", "%s: no checkpoint (%v) but %d records stored and state %s", ps.ID, err, len(stored.data), state)
		}
		return
	}
	if string(cp.State) != state {
		r.failf("checkpoint", "%s: checkpoint state %s, the workflow ended %s", ps.ID, cp.State, state)
	}
	var want map[string]map[string]any
	switch {
	case ps.Incremental:
		want = r.src.inc.records()
		r.checkIncremental(ps, cp.Records)
	case state == string(task.Completed):
		want = r.src.records(r.t, ps.Dataset)
		// A short last page of page or offset pagination costs one more
		// (empty) page (source: nextPageNumber).
		pages := int64((ps.Total + chaosPageSize - 1) / chaosPageSize)
		if cp.Records != int64(len(want)) || cp.Pages < pages || cp.Pages > pages+1 {
			r.failf("checkpoint", "%s: completed checkpoint at %d pages, %d records; the source has %d records (%d pages); generation %s started %s; records by generation start: %v",
				ps.ID, cp.Pages, cp.Records, len(want), pages, cp.Generation, cp.GenerationStarted, r.generations(ps.Dataset))
		}
	default:
		want = prefix(r.src.records(r.t, ps.Dataset), ps.Dataset, int(cp.Records))
		if ps.Poison > 0 && cp.Pages != int64(ps.PagesBeforePoison) {
			r.failf("checkpoint", "%s: page %d is poisoned, so %d pages commit; the checkpoint says %d", ps.ID, ps.Poison, ps.PagesBeforePoison, cp.Pages)
		}
		if cp.Records != min(cp.Pages*chaosPageSize, int64(ps.Total)) {
			r.failf("checkpoint", "%s: %d pages of %d records cannot hold %d records", ps.ID, cp.Pages, chaosPageSize, cp.Records)
		}
	}
	if cp.Done != (state == string(task.Completed)) {
		r.failf("checkpoint", "%s: checkpoint done=%v, the task ended %s", ps.ID, cp.Done, state)
	}
	if d := diffRecords(want, stored); d != "" {
		r.failf("destination", "%s (%s, checkpoint %d pages, %d records): the destination differs from what the source served: %s", ps.Dataset, state, cp.Pages, cp.Records, d)
	}
}

// checkIncremental checks the incremental task's second run: it read from
// the first run's mark, so it counts the records changed between the runs
// plus, at most, the one at the mark (updated_since is inclusive); and the
// dataset's mark is now the source's latest change.
func (r *chaosRun) checkIncremental(ps plannedSync, records int64) {
	changed := int64(ps.Updates + ps.Inserts)
	if records < changed || records > changed+1 {
		r.failf("checkpoint", "%s: the second run counts %d records; %d changed since the first run's mark, so want %d or %d", ps.ID, records, changed, changed, changed+1)
	}
	st, ok, err := r.sink.Incremental(r.ctx, ps.Dataset)
	if err != nil || !ok {
		r.failf("checkpoint", "%s: no incremental mark (%v)", ps.Dataset, err)
		return
	}
	if got, err := time.Parse(time.RFC3339Nano, st.Mark); err != nil || !got.Equal(r.src.inc.highest()) {
		r.failf("checkpoint", "%s: mark %q, the source's latest change is %s", ps.Dataset, st.Mark, r.src.inc.highest().Format(time.RFC3339))
	}
}

// prefix is the first n records of a demo dataset, which serves record k
// as "DATASET-00000k" in that order.
func prefix(all map[string]map[string]any, dataset string, n int) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k := 1; k <= n; k++ {
		key := fmt.Sprintf("%s-%06d", dataset, k)
		if rec, ok := all[key]; ok {
			out[key] = rec
		}
	}
	return out
}

// diffRecords describes how got differs from want ("" when equal): keys
// missing, extra, stored more than once, or with other content.
func diffRecords(want map[string]map[string]any, got storedSet) string {
	var missing, extra, changed []string
	for k, rec := range want {
		g, ok := got.data[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case !reflect.DeepEqual(rec, g):
			changed = append(changed, k)
		}
	}
	for k := range got.data {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []string
	}{{"missing", missing}, {"not in the source", extra}, {"other content", changed}, {"stored more than once", got.dup}} {
		if len(p.keys) > 0 {
			sort.Strings(p.keys)
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(p.keys), p.what, strings.Join(p.keys[:min(5, len(p.keys))], ", ")))
		}
	}
	return strings.Join(parts, "; ")
}

// generations counts a dataset's records by generation start, to diagnose
// a final count that disagrees with the records.
func (r *chaosRun) generations(dataset string) map[string]int {
	out := map[string]int{}
	_ = r.query(`SELECT CAST(generation_started AS TEXT), COUNT(*) FROM syncflow_records WHERE dataset = ? GROUP BY 1`, dataset, func(rows scanRows) error {
		var g string
		var n int
		if err := rows.Scan(&g, &n); err != nil {
			return err
		}
		out[g] = n
		return nil
	})
	return out
}

// storedSet is a dataset's records as the destination holds them.
type storedSet struct {
	data map[string]map[string]any
	dup  []string // keys on more than one row
}

// storedRecords reads a dataset's records straight from the destination.
func (r *chaosRun) storedRecords(dataset string) (storedSet, error) {
	set := storedSet{data: map[string]map[string]any{}}
	err := r.query(`SELECT key, CAST(data AS TEXT) FROM syncflow_records WHERE dataset = ?`, dataset, func(rows scanRows) error {
		var key, data string
		if err := rows.Scan(&key, &data); err != nil {
			return err
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		if _, ok := set.data[key]; ok {
			set.dup = append(set.dup, key)
		}
		set.data[key] = v
		return nil
	})
	return set, err
}

// scanRows is what database/sql's and pgx's rows have in common.
type scanRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// query runs q (one ? parameter, arg) on the destination, straight from the
// test, and calls row for each row.
func (r *chaosRun) query(q, arg string, row func(scanRows) error) error {
	each := func(rows scanRows) error {
		for rows.Next() {
			if err := row(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	if r.s.Postgres {
		conn, err := pgx.Connect(r.ctx, r.testDSN)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		rows, err := conn.Query(r.ctx, strings.Replace(q, "?", "$1", 1), arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		return each(rows)
	}
	db, err := sql.Open("sqlite", strings.TrimPrefix(r.testDSN, "sqlite://")+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(r.ctx, q, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	return each(rows)
}

// checkSecrets looks for the schedule's secrets in the server's database
// files (temporal.db and its journal) and in every process's output.
func (r *chaosRun) checkSecrets() {
	files, _ := filepath.Glob(filepath.Join(r.dir, "temporal.db*"))
	if len(files) == 0 {
		r.failf("secrets", "no server database file in %s", r.dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			r.failf("secrets", "read %s: %v", f, err)
			continue
		}
		for i, s := range r.secrets {
			if bytes.Contains(b, []byte(s)) {
				r.failf("secrets", "secret %d of the schedule is in the server's database file %s", i+1, filepath.Base(f))
			}
		}
	}
	for _, p := range r.procs {
		out := p.out.String()
		for i, s := range r.secrets {
			if strings.Contains(out, s) {
				r.failf("secrets", "secret %d of the schedule is in the output of %s", i+1, p.name)
			}
		}
	}
}

// checkReplay replays every run of every workflow of the schedule: the
// runs started, those a reset made or ended, and the chains of
// continue-as-new from and to each.
func (r *chaosRun) checkReplay() {
	replayer := worker.NewWorkflowReplayer()
	engine.RegisterWorkflows(replayer)
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, id := range r.s.workflowIDs() {
		r.mu.Lock()
		todo := slices.Clone(r.runs[id])
		r.mu.Unlock()
		if desc, err := r.client().DescribeWorkflowExecution(r.ctx, id, ""); err == nil {
			todo = append(todo, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
		}
		seen := map[string]bool{}
		for len(todo) > 0 {
			runID := todo[0]
			todo = todo[1:]
			if runID == "" || seen[runID] {
				continue
			}
			seen[runID] = true
			h, err := r.history(id, runID)
			if err != nil {
				r.failf("replay", "history of %s run %s: %v", id, runID, err)
				continue
			}
			if err := replayer.ReplayWorkflowHistory(logger, h); err != nil {
				r.failf("replay", "%s run %s does not replay: %v", id, runID, err)
			}
			todo = append(todo, h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId())
			if a := h.Events[len(h.Events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				todo = append(todo, a.GetNewExecutionRunId())
			}
		}
		r.mu.Lock()
		r.replayed += len(seen)
		r.mu.Unlock()
	}
}

// history is one run's full history ("" the latest run).
func (r *chaosRun) history(workflowID, runID string) (*historypb.History, error) {
	it := r.client().GetWorkflowHistory(r.ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, ev)
	}
	if len(h.Events) == 0 {
		return nil, errors.New("empty history")
	}
	return h, nil
}

// scheduleResult is what one schedule did, for the summary.
type scheduleResult struct {
	Seed     uint64
	Sink     string
	Syncs    int
	Injected map[faultKind]int
	Proxy    faultproxy.Stats
	Answers  map[int]int
	Outcomes map[string]int
	Replayed int
	Steps    int // faults injected
	MidSync  int // of which while a sync was running
	Duration time.Duration
	Failures int
}

func (r *chaosRun) result(d time.Duration) scheduleResult {
	res := scheduleResult{
		Seed: r.s.Seed, Sink: "sqlite", Syncs: len(r.s.Syncs), Injected: r.injected,
		Proxy: r.src.proxy.Stats(), Answers: r.src.scheduledAnswers(), Outcomes: map[string]int{},
		Replayed: r.replayed, Duration: d, Failures: r.failures, Steps: len(r.s.Steps), MidSync: r.midSync,
	}
	if r.s.Postgres {
		res.Sink = "postgres"
	}
	for _, st := range r.outcomes {
		res.Outcomes[st]++
	}
	r.t.Logf("seed %d: %s", r.s.Seed, res)
	return res
}

// String is one line of the summary.
func (res scheduleResult) String() string {
	var faults []string
	for k, n := range res.Injected {
		faults = append(faults, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(faults)
	var outs []string
	for k, n := range res.Outcomes {
		outs = append(outs, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(outs)
	verdict := "all invariants held"
	if res.Failures > 0 {
		verdict = fmt.Sprintf("%d invariant failures", res.Failures)
	}
	return fmt.Sprintf("%s, %d syncs (%s), %d faults (%d mid-sync): %s; proxy: %d resets, %d truncations, %d stalls; source: %d×429, %d×5xx; %d runs replayed; %s; %s",
		res.Sink, res.Syncs, strings.Join(outs, ", "), res.Steps, res.MidSync, strings.Join(faults, ", "),
		res.Proxy.Resets, res.Proxy.Truncations, res.Proxy.Stalls,
		res.Answers[429], res.Answers[500]+res.Answers[503], res.Replayed, res.Duration.Round(time.Second), verdict)
}

// summarize is the table of all schedules, for BENCHMARKS.md §Chaos.
func summarize(results []scheduleResult) string {
	var b strings.Builder
	held := 0
	for _, res := range results {
		if res.Failures == 0 {
			held++
		}
	}
	fmt.Fprintf(&b, "chaos summary: %d schedules, invariants held in %d\n", len(results), held)
	for _, res := range results {
		fmt.Fprintf(&b, "  seed %d: %s\n", res.Seed, res)
	}
	return b.String()
}
