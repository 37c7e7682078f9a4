package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/task"
)

// SignalProgress is the signal by which a running SyncPages tells its
// workflow what it has committed, so that the progress query, the
// workflow's current details and every reader of them are live
// (ARCHITECTURE.md §Task position). Its payload is a ProgressReport.
const SignalProgress = "syncflow-progress"

// DefaultReportEvery is the least time between two progress reports of one
// SyncPages execution.
const DefaultReportEvery = time.Second

// ProgressReport is what SignalProgress carries: the committed position
// and the attempt that committed it. No record data.
type ProgressReport struct {
	task.Position
	Attempt int32 `json:"attempt"`
}

// ProgressReporter delivers a running activity's progress to its workflow
// run. A nil ProgressReporter in Activities reports nothing: the workflow
// then learns the position when the activity returns.
type ProgressReporter interface {
	ReportProgress(ctx context.Context, workflowID, runID string, r ProgressReport) error
}

// SignalReporter reports progress as SignalProgress, through a Temporal
// client (the worker's own).
type SignalReporter struct {
	Client client.Client
}

// ReportProgress signals the workflow run.
func (s SignalReporter) ReportProgress(ctx context.Context, workflowID, runID string, r ProgressReport) error {
	return s.Client.SignalWorkflow(ctx, workflowID, runID, SignalProgress, r)
}

// reportTimeout bounds one progress report.
const reportTimeout = 5 * time.Second

// progressReports sends one execution's committed positions to its
// workflow: at once after the first commit, then at most every interval
// (a commit in between is sent when the interval ends), and on stop(true)
// whatever was committed since the last report. The number of signals of
// one execution is bounded by its pages and its duration / interval.
type progressReports struct {
	r        ProgressReporter
	ctx      context.Context // not cancelled with the activity
	wid, rid string
	attempt  int32
	every    time.Duration

	mu      sync.Mutex
	latest  task.Position
	sent    int64 // pages of the last report sent (or of the input)
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

func newProgressReports(ctx context.Context, r ProgressReporter, every time.Duration, from task.Position) *progressReports {
	info := activity.GetInfo(ctx)
	p := &progressReports{
		r: r, ctx: context.WithoutCancel(ctx), every: every,
		wid: info.WorkflowExecution.ID, rid: info.WorkflowExecution.RunID, attempt: info.Attempt,
		latest: from, sent: from.Pages, changed: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if r == nil || p.wid == "" {
		return p
	}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *progressReports) loop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.done:
			return
		case <-p.changed:
		}
		p.send()
		t := time.NewTimer(p.every)
		select {
		case <-p.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// set records a newly committed position.
func (p *progressReports) set(pos task.Position) {
	p.mu.Lock()
	p.latest = pos
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// send reports the latest position if it is further than the last report.
func (p *progressReports) send() {
	p.mu.Lock()
	pos, sent := p.latest, p.sent
	p.mu.Unlock()
	if p.r == nil || p.wid == "" || pos.Pages <= sent {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, reportTimeout)
	defer cancel()
	if err := p.r.ReportProgress(ctx, p.wid, p.rid, ProgressReport{Position: pos, Attempt: p.attempt}); err != nil {
		activity.GetLogger(p.ctx).Debug("progress report not delivered", "error", err)
		return
	}
	p.mu.Lock()
	p.sent = max(p.sent, pos.Pages)
	p.mu.Unlock()
}

// stop ends the reports; flush sends what is not reported yet (an execution
// that fails or is cancelled returns no position of its own).
func (p *progressReports) stop(flush bool) {
	close(p.done)
	p.wg.Wait()
	if flush {
		p.send()
	}
}
