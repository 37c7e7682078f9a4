package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/task"
)

// BatchWorkflowName is the registered name of BatchWorkflow.
const BatchWorkflowName = "BatchWorkflow"

// QueryBatchStatus is the name of the query that returns a batch's
// BatchStatus.
const QueryBatchStatus = "status"

// UpdateCancelTask is the name of the update that cancels one task of a
// batch (argument CancelTaskRequest, result the task's TaskStatus). Unknown
// and finished tasks are rejected by its validator.
const UpdateCancelTask = "cancel_task"

// A batch's tasks are task.Pending, then task.Running, and end
// task.Completed, task.Failed (Class and Message say why), task.Cancelled
// (by request, by the batch's cancellation or because the batch stopped
// while it ran) or task.Skipped (never started because the batch stopped).

// taskStates lists the task states in a fixed order (counts, summaries).
var taskStates = []task.State{task.Pending, task.Running, task.Completed, task.Failed, task.Cancelled, task.Skipped}

// A batch (BatchStatus.State and its SyncState search attribute) is
// task.Running while it starts and watches tasks; task.Stopping once a task
// failed in a way that stops it (running tasks are being cancelled), then
// task.Failed (BatchStatus.StoppedBy says why); task.Cancelling once it is
// cancelled, then task.Cancelled; task.Completed when every task ended and
// it was never stopped: a batch with failed tasks that never stopped is
// completed, its counts say how many failed.

// Defaults of BatchInput.
const (
	// DefaultBatchConcurrency is how many tasks run at once by default.
	DefaultBatchConcurrency = 4
	// DefaultMaxChildrenPerRun is how many children one run of a batch
	// starts before it drains and continues as new (history stays small).
	DefaultMaxChildrenPerRun = 500
)

// Bounds on what a batch keeps of a failure message: the status of a
// 10,000-task batch travels through continue-as-new in one payload (2 MB).
const (
	maxTaskMessage     = 512
	maxCarriedMessages = 128 << 10
)

// Bounds that keep every payload of a batch under Temporal's 2 MB limit
// (ARCHITECTURE.md §Data flow): at most config.MaxBatchTasks tasks and
// MaxBatchInputBytes of input (task IDs, dataset names and configurations)
// leave room in the continue-as-new input for the carry (about 75 bytes a
// task plus maxCarriedMessages). The result and the status query list at
// most StatusPageSize tasks (see BatchStatus).
const (
	// MaxBatchInputBytes bounds a batch's input encoded as JSON, without
	// its carry: 10,000 tasks with 64-character IDs fit.
	MaxBatchInputBytes = 1 << 20
	// StatusPageSize is the most tasks one status answer or result lists.
	StatusPageSize = 1000
)

// BatchTask is one task of a batch: a dataset to sync.
type BatchTask struct {
	// ID names the task, unique within the batch.
	ID string `json:"id"`
	// Dataset is a key of BatchInput.Datasets.
	Dataset string `json:"dataset"`
	// Sink, when set, is this task's destination instead of the batch's
	// (BatchInput.Sink).
	Sink string `json:"sink,omitempty"`
}

// BatchInput is the input of BatchWorkflow. Datasets are given once each,
// not once per task, to keep the payload small.
type BatchInput struct {
	BatchID  string                    `json:"batch_id"`
	Datasets map[string]config.Dataset `json:"datasets"`
	Tasks    []BatchTask               `json:"tasks"`
	// Concurrency bounds the tasks running at once; default
	// DefaultBatchConcurrency.
	Concurrency int `json:"concurrency"`
	// Options are passed to every task's SyncWorkflow.
	Options SyncOptions `json:"options,omitempty"`
	// MaxChildrenPerRun bounds the children one run starts before it
	// continues as new; default DefaultMaxChildrenPerRun.
	MaxChildrenPerRun int `json:"max_children_per_run,omitempty"`
	// Carry is empty when a batch starts; continue-as-new fills it.
	Carry *BatchCarry `json:"carry,omitempty"`
	// Sink is the destination DSN of every task that names none (see
	// SyncInput.Sink): a reference without secrets; empty means the
	// worker's default.
	Sink string `json:"sink,omitempty"`
}

// BatchCarry is the state a batch carries from one run to the next: the
// outcome of every task that is no longer pending (none is running when a
// run continues as new). Pending tasks need no entry.
type BatchCarry struct {
	Started  time.Time     `json:"started"`
	Runs     int           `json:"runs"`
	Outcomes []TaskOutcome `json:"outcomes,omitempty"`
}

// TaskOutcome is a finished task in a BatchCarry, by its index in
// BatchInput.Tasks, with short JSON names (there may be 10,000).
type TaskOutcome struct {
	Index   int        `json:"i"`
	State   task.State `json:"s"`
	Class   string     `json:"c,omitempty"`
	Message string     `json:"m,omitempty"`
	Records int64      `json:"r,omitempty"`
	Pages   int64      `json:"p,omitempty"`
}

// CancelTaskRequest is the argument of the UpdateCancelTask update.
type CancelTaskRequest struct {
	TaskID string `json:"task_id"`
}

// TaskStatus is what a batch knows of one task.
type TaskStatus struct {
	ID         string     `json:"id"`
	Dataset    string     `json:"dataset"`
	State      task.State `json:"state"`
	WorkflowID string     `json:"workflow_id"`
	Class      string     `json:"class,omitempty"`
	Message    string     `json:"message,omitempty"`
	Records    int64      `json:"records"`
	Pages      int64      `json:"pages"`
}

// BatchStatusRequest is the optional argument of the QueryBatchStatus
// query: a page of the tasks in batch order, optionally of some states
// only. Without it (or with its zero value) the answer lists every task
// of a batch of at most StatusPageSize tasks, and otherwise the first
// StatusPageSize tasks that are not completed.
type BatchStatusRequest struct {
	// Offset is the index in the batch's tasks (of the selected states)
	// of the first task listed.
	Offset int `json:"offset,omitempty"`
	// Limit bounds the tasks listed: 0 or more than StatusPageSize means
	// StatusPageSize.
	Limit int `json:"limit,omitempty"`
	// States selects the tasks listed; empty means all.
	States []task.State `json:"states,omitempty"`
}

// BatchStatus is the answer of the QueryBatchStatus query. Tasks is one
// page (see BatchStatusRequest): Counts always count every task.
type BatchStatus struct {
	BatchID     string             `json:"batch_id"`
	State       task.State         `json:"state"`
	Concurrency int                `json:"concurrency"`
	Counts      map[task.State]int `json:"counts"`
	Tasks       []TaskStatus       `json:"tasks"`
	// StoppedBy is the task whose failure stopped the batch.
	StoppedBy string `json:"stopped_by,omitempty"`
	// Matching is how many tasks the request selected; Tasks lists those
	// from the request's Offset on. NextOffset is the Offset of the next
	// page, 0 when Tasks reaches the last of them.
	Matching   int `json:"matching,omitempty"`
	NextOffset int `json:"next_offset,omitempty"`
	// Omitted counts the tasks a summary (a request without States of a
	// batch of more than StatusPageSize tasks) leaves out: completed ones,
	// then any past the page.
	Omitted int `json:"omitted,omitempty"`
}

// BatchResult is the result of a completed BatchWorkflow. Tasks lists
// every task of a batch of at most StatusPageSize tasks; of a larger one
// the first StatusPageSize that did not complete, Omitted counting the
// rest (query the status, with BatchStatusRequest pages, for all).
type BatchResult struct {
	BatchID  string             `json:"batch_id"`
	Counts   map[task.State]int `json:"counts"`
	Tasks    []TaskStatus       `json:"tasks"`
	Duration time.Duration      `json:"duration"`
	Omitted  int                `json:"omitted,omitempty"`
}

// ChildWorkflowID is the workflow ID of a batch task's SyncWorkflow, which
// is also its SyncInput.TaskID (the sink's checkpoint key): deterministic,
// and distinct across batches.
func ChildWorkflowID(batchID, taskID string) string {
	return batchID + "/" + taskID
}

// BatchWorkflow runs a list of sync tasks as child SyncWorkflows, first in
// first out, at most Concurrency at a time, and keeps every task's status.
// An invalid request fails its task and the batch goes on; any other
// failure (unrecoverable, transient after its attempts, timeout) stops the
// batch: no task starts after it, running ones are cancelled, pending ones
// are skipped and the batch fails with that class's error type. See
// ARCHITECTURE.md §Data flow and §Failure table.
func BatchWorkflow(ctx workflow.Context, in BatchInput) (BatchResult, error) {
	if err := in.validate(); err != nil {
		return BatchResult{}, temporal.NewNonRetryableApplicationError(err.Error(), sferrors.TypeInvalidRequest, nil)
	}
	b := newBatch(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryBatchStatus, func(req BatchStatusRequest) (BatchStatus, error) {
		return b.status(req), nil
	}); err != nil {
		return BatchResult{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancelTask, b.cancelTask,
		workflow.UpdateHandlerOptions{Validator: b.validateCancel}); err != nil {
		return BatchResult{}, err
	}
	b.setState(ctx, task.Running)
	return b.run(ctx)
}

// batch is one run's state of a BatchWorkflow.
type batch struct {
	in          BatchInput
	concurrency int
	maxPerRun   int
	started     time.Time
	runs        int

	tasks   []TaskStatus
	index   map[string]int
	cancels []workflow.CancelFunc // of running children, by task index
	// cancelRequested marks running tasks cancelled through the update.
	cancelRequested []bool
	counts          map[task.State]int

	state      task.State
	next       int // FIFO cursor: no pending task before it
	running    int
	startedRun int
	draining   bool  // no more starts in this run: continue as new next
	events     int64 // bumped whenever something the main loop waits on changes
	stoppedBy  string
	stopErr    error
}

func newBatch(ctx workflow.Context, in BatchInput) *batch {
	b := &batch{
		in:              in,
		concurrency:     in.Concurrency,
		maxPerRun:       in.MaxChildrenPerRun,
		started:         workflow.Now(ctx),
		runs:            1,
		tasks:           make([]TaskStatus, len(in.Tasks)),
		index:           make(map[string]int, len(in.Tasks)),
		cancels:         make([]workflow.CancelFunc, len(in.Tasks)),
		cancelRequested: make([]bool, len(in.Tasks)),
		counts:          make(map[task.State]int, len(taskStates)),
	}
	if b.concurrency <= 0 {
		b.concurrency = DefaultBatchConcurrency
	}
	if b.maxPerRun <= 0 {
		b.maxPerRun = DefaultMaxChildrenPerRun
	}
	for _, s := range taskStates {
		b.counts[s] = 0
	}
	for i, t := range in.Tasks {
		b.index[t.ID] = i
		b.tasks[i] = TaskStatus{ID: t.ID, Dataset: t.Dataset, State: task.Pending, WorkflowID: ChildWorkflowID(in.BatchID, t.ID)}
		b.counts[task.Pending]++
	}
	if c := in.Carry; c != nil {
		b.restore(c)
	}
	b.in.Carry = nil
	return b
}

// restore takes the outcomes of the tasks the previous runs finished.
func (b *batch) restore(c *BatchCarry) {
	b.started, b.runs = c.Started, c.Runs+1
	for _, o := range c.Outcomes {
		t := &b.tasks[o.Index]
		b.counts[t.State]--
		b.counts[o.State]++
		t.State, t.Class, t.Message, t.Records, t.Pages = o.State, o.Class, o.Message, o.Records, o.Pages
	}
}

// run is the main loop: start what may start, wait for a change, repeat;
// then drain and complete, fail or continue as new.
func (b *batch) run(ctx workflow.Context) (BatchResult, error) {
	log := workflow.GetLogger(ctx)
	for {
		for b.mayStart(ctx) {
			b.startNext(ctx)
		}
		if b.running == 0 {
			break // nothing runs and nothing may start
		}
		seen := b.events
		if err := workflow.Await(ctx, func() bool { return b.events != seen }); err != nil {
			return b.cancelled(ctx)
		}
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return b.cancelled(ctx)
	}
	if b.stopErr != nil {
		b.setState(ctx, task.Failed)
		return BatchResult{}, b.stopErr
	}
	if b.nextPending() >= 0 {
		next := b.in
		next.Carry = b.carry()
		log.Info("continuing as new", "runs", b.runs, "completed", b.counts[task.Completed], "pending", b.counts[task.Pending])
		return BatchResult{}, workflow.NewContinueAsNewError(ctx, BatchWorkflowName, next)
	}
	b.setState(ctx, task.Completed)
	return b.result(ctx), nil
}

// mayStart says whether the next pending task may start now. It turns the
// run to draining once it has started its share of children or Temporal
// suggests continuing as new.
func (b *batch) mayStart(ctx workflow.Context) bool {
	if b.state != task.Running || b.draining || b.running >= b.concurrency || b.nextPending() < 0 {
		return false
	}
	if b.startedRun >= b.maxPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
		b.draining = true
		return false
	}
	return true
}

// nextPending returns the index of the first pending task, or -1.
func (b *batch) nextPending() int {
	for b.next < len(b.tasks) && b.tasks[b.next].State != task.Pending {
		b.next++
	}
	if b.next == len(b.tasks) {
		return -1
	}
	return b.next
}

// startNext starts the next pending task's SyncWorkflow and a coroutine that
// records its outcome.
func (b *batch) startNext(ctx workflow.Context) {
	i := b.nextPending()
	t := b.tasks[i]
	cctx, cancel := workflow.WithCancel(ctx)
	cctx = workflow.WithChildOptions(cctx, workflow.ChildWorkflowOptions{
		WorkflowID:          t.WorkflowID,
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       fmt.Sprintf("sync %s → batch %s", t.Dataset, b.in.BatchID),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchAttrBatch.ValueSet(b.in.BatchID), SearchAttrDataset.ValueSet(t.Dataset)),
	})
	ds := b.in.Datasets[t.Dataset]
	if ds.ID == "" {
		ds.ID = t.Dataset // the key names it
	}
	fut := workflow.ExecuteChildWorkflow(cctx, SyncWorkflowName, SyncInput{TaskID: t.WorkflowID, Dataset: ds, Options: b.in.Options, Sink: b.taskSink(i)})
	b.cancels[i] = cancel
	b.setTaskState(i, task.Running)
	b.running++
	b.startedRun++
	b.publish(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		var r SyncResult
		err := fut.Get(gctx, &r)
		b.finish(ctx, i, r, err)
	})
}

// finish records a child's outcome and stops the batch when the outcome
// says so.
func (b *batch) finish(ctx workflow.Context, i int, r SyncResult, err error) {
	t := &b.tasks[i]
	b.cancels[i] = nil
	b.running--
	b.events++
	if err == nil {
		b.setTaskState(i, task.Completed)
		t.Records, t.Pages = r.Records, r.Pages
		b.publish(ctx)
		return
	}
	class, _, _ := sferrors.ClassOf(err)
	msg := childFailureMessage(err)
	switch {
	case b.cancelRequested[i]:
		b.setTaskState(i, task.Cancelled)
		t.Message = "cancelled by request"
	case class == sferrors.Cancelled || temporal.IsCanceledError(err):
		b.setTaskState(i, task.Cancelled)
		t.Message = b.cancelledMessage()
	default:
		b.failed(ctx, i, class, msg)
	}
	b.publish(ctx)
}

// cancelledMessage says why a task was cancelled when nobody asked for it.
func (b *batch) cancelledMessage() string {
	switch b.state {
	case task.Stopping:
		return "cancelled: the batch stopped after task " + b.stoppedBy + " failed"
	case task.Cancelling:
		return "cancelled: the batch was cancelled"
	default:
		return "cancelled outside the batch"
	}
}

// failed records task i's failure and stops the batch when its class says
// so.
func (b *batch) failed(ctx workflow.Context, i int, class sferrors.Class, msg string) {
	t := &b.tasks[i]
	b.setTaskState(i, task.Failed)
	t.Class, t.Message = string(class), truncate(msg, maxTaskMessage)
	workflow.GetLogger(ctx).Error("batch task failed", "task", t.ID, "class", t.Class, "error", msg)
	if class.StopsBatch() && b.state == task.Running {
		b.stop(ctx, i, class, msg)
	}
}

// stop stops the batch because task i failed with class: pending tasks are
// skipped, running ones cancelled; the batch will fail with stopErr.
func (b *batch) stop(ctx workflow.Context, i int, class sferrors.Class, msg string) {
	t := b.tasks[i]
	b.stoppedBy = t.ID
	b.stopErr = temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("batch %s stopped: task %s failed (%s): %s", b.in.BatchID, t.ID, class, msg),
		class.TemporalType(), nil)
	b.setState(ctx, task.Stopping)
	for j := range b.tasks {
		switch b.tasks[j].State {
		case task.Pending:
			b.setTaskState(j, task.Skipped)
			b.tasks[j].Message = "skipped: the batch stopped after task " + t.ID + " failed"
		case task.Running:
			if b.cancels[j] != nil {
				b.cancels[j]()
			}
		}
	}
}

// cancelled handles the batch's own cancellation: its children are
// cancelled with it (their contexts derive from the batch's); wait for them
// to end, record their statuses and pending tasks as cancelled, and end
// Canceled.
func (b *batch) cancelled(ctx workflow.Context) (BatchResult, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	b.setState(dctx, task.Cancelling)
	for j := range b.tasks {
		if b.tasks[j].State == task.Pending {
			b.setTaskState(j, task.Cancelled)
			b.tasks[j].Message = "cancelled: the batch was cancelled"
		}
	}
	b.publish(dctx)
	if err := workflow.Await(dctx, func() bool {
		return b.running == 0 && workflow.AllHandlersFinished(dctx)
	}); err != nil {
		workflow.GetLogger(ctx).Error("waiting for cancelled tasks", "error", err)
	}
	b.setState(dctx, task.Cancelled)
	return BatchResult{}, temporal.NewCanceledError(fmt.Sprintf("batch %s cancelled", b.in.BatchID))
}

// validateCancel rejects a cancel_task update for an unknown task, a task
// that already ended, or one already being cancelled. It changes nothing.
func (b *batch) validateCancel(req CancelTaskRequest) error {
	i, ok := b.index[req.TaskID]
	if !ok {
		return fmt.Errorf("batch %s has no task %q", b.in.BatchID, req.TaskID)
	}
	t := b.tasks[i]
	switch t.State {
	case task.Pending:
		return nil
	case task.Running:
		if b.cancelRequested[i] || b.state != task.Running {
			return fmt.Errorf("task %s is already being cancelled", t.ID)
		}
		return nil
	default:
		return fmt.Errorf("task %s already ended (%s): nothing to cancel", t.ID, t.State)
	}
}

// cancelTask cancels one task: a pending one never starts; a running one's
// child is cancelled and the update returns once it has ended.
func (b *batch) cancelTask(ctx workflow.Context, req CancelTaskRequest) (TaskStatus, error) {
	i := b.index[req.TaskID]
	switch b.tasks[i].State {
	case task.Pending:
		b.setTaskState(i, task.Cancelled)
		b.tasks[i].Message = "cancelled by request"
		b.events++
		b.publish(ctx)
	case task.Running:
		b.cancelRequested[i] = true
		if b.cancels[i] != nil {
			b.cancels[i]()
		}
		// The batch's own cancellation must not cut this wait short.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if err := workflow.Await(dctx, func() bool { return b.tasks[i].State != task.Running }); err != nil {
			return b.tasks[i], err
		}
	}
	return b.tasks[i], nil
}

// setTaskState moves task i to state, keeping the counts.
func (b *batch) setTaskState(i int, state task.State) {
	b.counts[b.tasks[i].State]--
	b.counts[state]++
	b.tasks[i].State = state
}

// setState records the batch's state, in the SyncState search attribute
// too (with SyncBatch), and publishes the summary.
func (b *batch) setState(ctx workflow.Context, state task.State) {
	b.state = state
	b.events++
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchAttrBatch.ValueSet(b.in.BatchID), SearchAttrState.ValueSet(string(state))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "error", err)
	}
	b.publish(ctx)
}

// publish sets the workflow's current details (Web UI, describe) to a short
// markdown summary of the batch.
func (b *batch) publish(ctx workflow.Context) {
	s := fmt.Sprintf("**batch %s** %s: %d tasks", b.in.BatchID, b.state, len(b.tasks))
	for _, st := range taskStates {
		if n := b.counts[st]; n > 0 {
			s += fmt.Sprintf(", %d %s", n, st)
		}
	}
	if b.runs > 1 {
		s += fmt.Sprintf(" (run %d)", b.runs)
	}
	if b.stopErr != nil {
		s += "\n\n" + b.stopErr.Error()
	}
	workflow.SetCurrentDetails(ctx, s)
}

// status is the query's answer: a copy, so the caller cannot race the
// workflow, of one page of the tasks (BatchStatusRequest).
func (b *batch) status(req BatchStatusRequest) BatchStatus {
	st := BatchStatus{
		BatchID:     b.in.BatchID,
		State:       b.state,
		Concurrency: b.concurrency,
		Counts:      b.countsCopy(),
		StoppedBy:   b.stoppedBy,
	}
	if len(req.States) == 0 && req.Offset == 0 && req.Limit == 0 {
		st.Tasks, st.Omitted = b.summary()
		st.Matching = len(b.tasks)
		return st
	}
	limit := req.Limit
	if limit <= 0 || limit > StatusPageSize {
		limit = StatusPageSize
	}
	for _, t := range b.tasks {
		if len(req.States) > 0 && !slices.Contains(req.States, t.State) {
			continue
		}
		if st.Matching >= req.Offset && len(st.Tasks) < limit {
			st.Tasks = append(st.Tasks, t)
		}
		st.Matching++
	}
	if end := req.Offset + len(st.Tasks); end < st.Matching && len(st.Tasks) > 0 {
		st.NextOffset = end
	}
	return st
}

// summary is the tasks a result or an argument-less status lists: all of
// a batch of at most StatusPageSize tasks, else the first StatusPageSize
// that did not complete; omitted counts the others.
func (b *batch) summary() (tasks []TaskStatus, omitted int) {
	if len(b.tasks) <= StatusPageSize {
		return append([]TaskStatus(nil), b.tasks...), 0
	}
	for _, t := range b.tasks {
		if t.State != task.Completed && len(tasks) < StatusPageSize {
			tasks = append(tasks, t)
		}
	}
	return tasks, len(b.tasks) - len(tasks)
}

func (b *batch) result(ctx workflow.Context) BatchResult {
	tasks, omitted := b.summary()
	return BatchResult{
		BatchID:  b.in.BatchID,
		Counts:   b.countsCopy(),
		Tasks:    tasks,
		Duration: workflow.Now(ctx).Sub(b.started),
		Omitted:  omitted,
	}
}

func (b *batch) countsCopy() map[task.State]int {
	m := make(map[task.State]int, len(taskStates))
	for _, s := range taskStates {
		m[s] = b.counts[s]
	}
	return m
}

// carry is every non-pending task's outcome (no task runs when it is
// called). Messages share a budget so that the next run's input stays well
// under the payload limit; states are always kept.
func (b *batch) carry() *BatchCarry {
	c := &BatchCarry{Started: b.started, Runs: b.runs}
	budget := maxCarriedMessages
	for i, t := range b.tasks {
		if t.State == task.Pending {
			continue
		}
		msg := t.Message
		if len(msg) > budget {
			msg = ""
		}
		budget -= len(msg)
		c.Outcomes = append(c.Outcomes, TaskOutcome{
			Index: i, State: t.State, Class: t.Class, Message: msg, Records: t.Records, Pages: t.Pages,
		})
	}
	return c
}

// validate checks a batch's input: a batch ID, unique task IDs, every
// task's dataset given, and a carry that fits the tasks.
func (in *BatchInput) validate() error {
	var errs []error
	if in.BatchID == "" {
		errs = append(errs, errors.New("batch_id: required"))
	}
	if in.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency: %d is negative", in.Concurrency))
	}
	errs = append(errs, in.validateTasks()...)
	if err := CheckBatchSize(*in); err != nil {
		errs = append(errs, err)
	}
	if c := in.Carry; c != nil {
		for _, o := range c.Outcomes {
			if o.Index < 0 || o.Index >= len(in.Tasks) || !isTaskState(o.State) || o.State == task.Pending || o.State == task.Running {
				errs = append(errs, fmt.Errorf("carry: bad outcome %+v", o))
				break
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid batch input: %w", err)
	}
	return nil
}

// validateTasks checks that task IDs are given and unique, and that every
// task's dataset is given, under its own key.
func (in *BatchInput) validateTasks() []error {
	var errs []error
	seen := make(map[string]bool, len(in.Tasks))
	checked := make(map[string]bool, len(in.Datasets))
	for i, t := range in.Tasks {
		switch {
		case t.ID == "":
			errs = append(errs, fmt.Errorf("tasks[%d].id: required", i))
		case seen[t.ID]:
			errs = append(errs, fmt.Errorf("tasks[%d].id: %q is not unique", i, t.ID))
		}
		seen[t.ID] = true
		ds, ok := in.Datasets[t.Dataset]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("tasks[%d].dataset: %q is not in datasets", i, t.Dataset))
		case checked[t.Dataset]:
		case ds.ID != "" && ds.ID != t.Dataset:
			errs = append(errs, fmt.Errorf("datasets[%q].id: %q differs from its key", t.Dataset, ds.ID))
		}
		checked[t.Dataset] = true
	}
	return errs
}

// CheckBatchSize refuses a batch too large for Temporal's payload limits:
// more than config.MaxBatchTasks tasks, or an input (without its carry)
// of more than MaxBatchInputBytes as JSON. syncclient.StartBatch calls it
// before starting, the workflow again on its input.
func CheckBatchSize(in BatchInput) error {
	if n := len(in.Tasks); n > config.MaxBatchTasks {
		return fmt.Errorf("tasks: %d tasks, a batch holds at most %d: split it into several batches", n, config.MaxBatchTasks)
	}
	in.Carry = nil
	// Deterministic: encoding/json sorts map keys (workflowcheck cannot tell).
	data, err := json.Marshal(in) //workflowcheck:ignore
	if err != nil {
		return fmt.Errorf("encode batch input: %w", err)
	}
	if len(data) > MaxBatchInputBytes {
		return fmt.Errorf("the batch input is %d bytes as JSON, at most %d: use fewer tasks, shorter task IDs or fewer datasets per batch", len(data), MaxBatchInputBytes)
	}
	return nil
}

func isTaskState(s task.State) bool { return slices.Contains(taskStates, s) }

// childFailureMessage is the cause of a child's failure, read from the
// SyncFailure detail its SyncWorkflow attaches (so that the batch's message
// names the task once); other failures (timeouts, termination) as they are.
func childFailureMessage(err error) string {
	var app *temporal.ApplicationError
	var f SyncFailure
	if errors.As(err, &app) && app.HasDetails() && app.Details(&f) == nil && f.Message != "" {
		return f.Message
	}
	return sferrors.Message(err)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// taskSink is the destination of task i: its own, else the batch's.
func (b *batch) taskSink(i int) string {
	if s := b.in.Tasks[i].Sink; s != "" {
		return s
	}
	return b.in.Sink
}
