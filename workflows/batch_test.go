package workflows_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// fakeRun scripts one fake child: how long it takes, how it ends.
type fakeRun struct {
	took  time.Duration // default one minute
	err   error         // returned after took
	block bool          // runs until cancelled
}

// fakeSyncs is a SyncWorkflow stand-in registered under SyncWorkflowName.
// It records the order children start in, how many run at once, and what
// each one saw.
type fakeSyncs struct {
	t      *testing.T
	script map[string]fakeRun // by batch task ID

	mu         sync.Mutex
	order      []string             // batch task IDs, in the order the children first ran
	startedAt  map[string]time.Time // workflow time each child started
	running    int
	maxRunning int
	cancelled  []string // children that saw their cancellation
	problems   []string // what a child saw that it should not have
}

func newFakeSyncs(t *testing.T) *fakeSyncs {
	return &fakeSyncs{t: t, script: map[string]fakeRun{}, startedAt: map[string]time.Time{}}
}

// taskOf is the batch task ID in a child's workflow ID.
func taskOf(batchID, workflowID string) string {
	return workflowID[len(batchID)+1:]
}

func (f *fakeSyncs) run(ctx workflow.Context, in workflows.SyncInput) (workflows.SyncResult, error) {
	info := workflow.GetInfo(ctx)
	batchID := info.ParentWorkflowExecution.ID
	id := taskOf(batchID, info.WorkflowExecution.ID)
	f.mu.Lock()
	f.order = append(f.order, id)
	f.startedAt[id] = workflow.Now(ctx)
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	if in.TaskID != info.WorkflowExecution.ID {
		f.problems = append(f.problems, fmt.Sprintf("%s: id id %q", id, in.TaskID))
	}
	if want := workflows.ChildWorkflowID(batchID, id); info.WorkflowExecution.ID != want {
		f.problems = append(f.problems, fmt.Sprintf("%s: workflow id %q, want %q", id, info.WorkflowExecution.ID, want))
	}
	if in.Dataset.ID == "" || in.Dataset.Source.URL == "" {
		f.problems = append(f.problems, fmt.Sprintf("%s: dataset %+v", id, in.Dataset))
	}
	if got, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(workflows.SearchAttrBatch); got != batchID {
		f.problems = append(f.problems, fmt.Sprintf("%s: SyncBatch %q", id, got))
	}
	if got, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(workflows.SearchAttrDataset); got != in.Dataset.ID {
		f.problems = append(f.problems, fmt.Sprintf("%s: SyncDataset %q", id, got))
	}
	r := f.script[id]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()

	took := r.took
	if took == 0 {
		took = time.Minute
	}
	if r.block {
		took = 1000 * time.Hour
	}
	if err := workflow.Sleep(ctx, took); err != nil {
		f.mu.Lock()
		f.cancelled = append(f.cancelled, id)
		f.mu.Unlock()
		return workflows.SyncResult{}, temporal.NewCanceledError("sync cancelled")
	}
	if r.err != nil {
		return workflows.SyncResult{}, r.err
	}
	return workflows.SyncResult{TaskID: in.TaskID, DatasetID: in.Dataset.ID, State: task.Completed, Position: task.Position{Records: 10, Pages: 2}}, nil
}

// syncFailure is what SyncWorkflow fails with for class and cause.
func syncFailure(batchID, task string, class sferrors.Class, cause string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("sync %s failed (%s): %s", workflows.ChildWorkflowID(batchID, task), class, cause),
		class.TemporalType(), nil, workflows.SyncFailure{Class: class, Message: cause})
}

// batchInput has n tasks t-0 … t-(n-1) over three datasets, round robin.
func batchInput(batchID string, n, concurrency int) workflows.BatchInput {
	in := workflows.BatchInput{BatchID: batchID, Concurrency: concurrency, Datasets: map[string]config.Dataset{}}
	names := []string{"orders", "customers", "invoices"}
	for _, name := range names {
		in.Datasets[name] = config.Dataset{ID: name, Source: source.Config{URL: "http://source.invalid/" + name}}
	}
	for i := range n {
		in.Tasks = append(in.Tasks, workflows.BatchTask{ID: fmt.Sprintf("t-%d", i), Dataset: names[i%len(names)]})
	}
	return in
}

type batchSuite struct {
	testsuite.WorkflowTestSuite
}

func newBatchEnv(t *testing.T, batchID string, f *fakeSyncs) *testsuite.TestWorkflowEnvironment {
	var s batchSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(startOptions(batchID))
	env.RegisterWorkflowWithOptions(workflows.BatchWorkflow, workflow.RegisterOptions{Name: workflows.BatchWorkflowName})
	env.RegisterWorkflowWithOptions(f.run, workflow.RegisterOptions{Name: workflows.SyncWorkflowName})
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Empty(t, f.problems, "what the children saw")
	})
	return env
}

func startOptions(batchID string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{ID: batchID}
}

func batchResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.BatchResult {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.BatchResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

func batchStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.BatchStatus {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryBatchStatus)
	require.NoError(t, err)
	var st workflows.BatchStatus
	require.NoError(t, v.Get(&st))
	return st
}

// requireStarted asserts that exactly ids were started, first in first out:
// children started by one workflow task may run in any order, but none
// started before a task ahead of it in the list.
func requireStarted(t *testing.T, f *fakeSyncs, ids []string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.ElementsMatch(t, ids, f.order, "tasks started")
	for i := 1; i < len(ids); i++ {
		require.Falsef(t, f.startedAt[ids[i]].Before(f.startedAt[ids[i-1]]),
			"%s started at %s, before %s at %s", ids[i], f.startedAt[ids[i]], ids[i-1], f.startedAt[ids[i-1]])
	}
}

func taskIDs(from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprintf("t-%d", i))
	}
	return ids
}

func counts(pending, running, completed, failed, cancelled, skipped int) map[task.State]int {
	return map[task.State]int{
		task.Pending: pending, task.Running: running, task.Completed: completed,
		task.Failed: failed, task.Cancelled: cancelled, task.Skipped: skipped,
	}
}

// Children start first in first out, never more than Concurrency at once,
// and the result has every task completed with its counters.
func TestBatchConcurrencyAndOrder(t *testing.T) {
	f := newFakeSyncs(t)
	for i := range 20 {
		f.script[fmt.Sprintf("t-%d", i)] = fakeRun{took: time.Duration(1+(i*7)%5) * time.Minute}
	}
	env := newBatchEnv(t, "nightly", f)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 20, 3))

	res := batchResult(t, env)
	requireStarted(t, f, taskIDs(0, 20))
	require.Equal(t, 3, f.maxRunning, "children at once")
	require.Equal(t, counts(0, 0, 20, 0, 0, 0), res.Counts)
	require.Len(t, res.Tasks, 20)
	for i, ts := range res.Tasks {
		require.Equal(t, fmt.Sprintf("t-%d", i), ts.ID)
		require.Equal(t, task.Completed, ts.State)
		require.Equal(t, workflows.ChildWorkflowID("nightly", ts.ID), ts.WorkflowID)
		require.EqualValues(t, 10, ts.Records)
		require.EqualValues(t, 2, ts.Pages)
	}
	st := batchStatus(t, env)
	require.Equal(t, task.Completed, st.State)
	require.Equal(t, 3, st.Concurrency)
}

// The default concurrency is DefaultBatchConcurrency.
func TestBatchDefaultConcurrency(t *testing.T) {
	f := newFakeSyncs(t)
	env := newBatchEnv(t, "defaults", f)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("defaults", 10, 0))
	res := batchResult(t, env)
	require.Equal(t, workflows.DefaultBatchConcurrency, f.maxRunning)
	require.Equal(t, 10, res.Counts[task.Completed])
}

// An invalid request fails its task only; the batch goes on and completes.
func TestBatchInvalidRequestFailsOnlyItsTask(t *testing.T) {
	f := newFakeSyncs(t)
	f.script["t-3"] = fakeRun{err: syncFailure("nightly", "t-3", sferrors.InvalidRequest, "fetch GET http://source.invalid/customers: status 400")}
	env := newBatchEnv(t, "nightly", f)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 8, 2))

	res := batchResult(t, env)
	requireStarted(t, f, taskIDs(0, 8))
	require.Equal(t, counts(0, 0, 7, 1, 0, 0), res.Counts)
	failed := res.Tasks[3]
	require.Equal(t, task.Failed, failed.State)
	require.Equal(t, string(sferrors.InvalidRequest), failed.Class)
	require.Equal(t, "fetch GET http://source.invalid/customers: status 400", failed.Message)
}

// A failure that is neither an invalid request nor a cancellation stops the
// batch: nothing starts after it, running tasks are cancelled, pending ones
// skipped, and the batch fails with the class's type, naming task and cause.
func TestBatchStopsOnFailure(t *testing.T) {
	for _, class := range []sferrors.Class{sferrors.Unrecoverable, sferrors.Transient} {
		t.Run(string(class), func(t *testing.T) {
			f := newFakeSyncs(t)
			f.script["t-0"] = fakeRun{block: true}
			f.script["t-1"] = fakeRun{block: true}
			f.script["t-2"] = fakeRun{took: 2 * time.Minute, err: syncFailure("nightly", "t-2", class, "fetch GET http://source.invalid/invoices: status 401")}
			env := newBatchEnv(t, "nightly", f)
			env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 10, 3))

			require.True(t, env.IsWorkflowCompleted())
			err := env.GetWorkflowError()
			var app *temporal.ApplicationError
			require.ErrorAs(t, err, &app)
			require.Equal(t, class.TemporalType(), app.Type())
			require.True(t, app.NonRetryable())
			require.Equal(t, fmt.Sprintf("batch nightly stopped: task t-2 failed (%s): fetch GET http://source.invalid/invoices: status 401", class), app.Message())

			requireStarted(t, f, taskIDs(0, 3)) // none after the failure
			require.ElementsMatch(t, []string{"t-0", "t-1"}, f.cancelled)
			st := batchStatus(t, env)
			require.Equal(t, task.Failed, st.State)
			require.Equal(t, "t-2", st.StoppedBy)
			require.Equal(t, counts(0, 0, 0, 1, 2, 7), st.Counts)
			require.Equal(t, task.Cancelled, st.Tasks[0].State)
			require.Equal(t, task.Cancelled, st.Tasks[1].State)
			require.Equal(t, task.Failed, st.Tasks[2].State)
			require.Equal(t, string(class), st.Tasks[2].Class)
			for _, ts := range st.Tasks[3:] {
				require.Equal(t, task.Skipped, ts.State, ts.ID)
			}
		})
	}
}

// cancelTask sends the cancel_task update after delay and returns what
// became of it.
type updateOutcome struct {
	accepted bool
	rejected error
	status   workflows.TaskStatus
	err      error
	done     bool
}

func cancelTaskAfter(env *testsuite.TestWorkflowEnvironment, delay time.Duration, taskID string) *updateOutcome {
	out := &updateOutcome{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateCancelTask, "cancel-"+taskID, &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) {
				out.done, out.err = true, err
				if st, ok := v.(workflows.TaskStatus); ok {
					out.status = st
				}
			},
		}, workflows.CancelTaskRequest{TaskID: taskID})
	}, delay)
	return out
}

// A pending task cancelled through the update never starts; the rest
// complete.
func TestBatchCancelPendingTask(t *testing.T) {
	f := newFakeSyncs(t)
	f.script["t-0"] = fakeRun{took: 10 * time.Minute}
	env := newBatchEnv(t, "nightly", f)
	upd := cancelTaskAfter(env, time.Minute, "t-2")
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 5, 1))

	res := batchResult(t, env)
	require.True(t, upd.accepted)
	require.NoError(t, upd.err)
	require.Equal(t, task.Cancelled, upd.status.State)
	requireStarted(t, f, []string{"t-0", "t-1", "t-3", "t-4"}) // t-2 never
	require.Equal(t, counts(0, 0, 4, 0, 1, 0), res.Counts)
	require.Equal(t, task.Cancelled, res.Tasks[2].State)
}

// A running task cancelled through the update has its child cancelled; the
// update answers once the child has ended; the batch goes on.
func TestBatchCancelRunningTask(t *testing.T) {
	f := newFakeSyncs(t)
	f.script["t-1"] = fakeRun{block: true}
	env := newBatchEnv(t, "nightly", f)
	upd := cancelTaskAfter(env, 30*time.Second, "t-1")
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 6, 2))

	res := batchResult(t, env)
	require.True(t, upd.accepted)
	require.True(t, upd.done)
	require.NoError(t, upd.err)
	require.Equal(t, task.Cancelled, upd.status.State, "the update answers with the final state")
	require.Equal(t, []string{"t-1"}, f.cancelled)
	requireStarted(t, f, taskIDs(0, 6))
	require.Equal(t, counts(0, 0, 5, 0, 1, 0), res.Counts)
	require.Equal(t, task.Cancelled, res.Tasks[1].State)
}

// The validator rejects an unknown task and a finished one, and says why.
func TestBatchCancelTaskRejected(t *testing.T) {
	f := newFakeSyncs(t)
	f.script["t-2"] = fakeRun{took: time.Hour}
	env := newBatchEnv(t, "nightly", f)
	unknown := cancelTaskAfter(env, time.Minute, "t-99")
	finished := cancelTaskAfter(env, 10*time.Minute, "t-0")
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 3, 3))

	res := batchResult(t, env)
	require.False(t, unknown.accepted)
	require.ErrorContains(t, unknown.rejected, `batch nightly has no task "t-99"`)
	require.False(t, finished.accepted)
	require.ErrorContains(t, finished.rejected, "task t-0 already ended (completed)")
	require.Equal(t, counts(0, 0, 3, 0, 0, 0), res.Counts, "rejected updates change nothing")
}

// A child cancelled from outside the batch is recorded cancelled and the
// batch goes on.
func TestBatchChildCancelledElsewhere(t *testing.T) {
	f := newFakeSyncs(t)
	f.script["t-1"] = fakeRun{err: temporal.NewCanceledError("sync cancelled")}
	env := newBatchEnv(t, "nightly", f)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 4, 2))
	res := batchResult(t, env)
	require.Equal(t, counts(0, 0, 3, 0, 1, 0), res.Counts)
	require.Equal(t, task.Cancelled, res.Tasks[1].State)
}

// Cancelling the batch cancels its running children, waits for them, marks
// pending tasks cancelled and ends Canceled.
func TestBatchCancelled(t *testing.T) {
	f := newFakeSyncs(t)
	f.script["t-0"] = fakeRun{block: true}
	f.script["t-1"] = fakeRun{block: true}
	env := newBatchEnv(t, "nightly", f)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, batchInput("nightly", 5, 2))

	require.True(t, env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	require.ErrorAs(t, env.GetWorkflowError(), &canceled)
	require.ElementsMatch(t, []string{"t-0", "t-1"}, f.cancelled)
	requireStarted(t, f, taskIDs(0, 2))
	st := batchStatus(t, env)
	require.Equal(t, task.Cancelled, st.State)
	require.Equal(t, counts(0, 0, 0, 0, 5, 0), st.Counts)
}

// An input naming a dataset it does not give fails at once as an invalid
// request.
func TestBatchInvalidInput(t *testing.T) {
	f := newFakeSyncs(t)
	env := newBatchEnv(t, "nightly", f)
	in := batchInput("nightly", 2, 1)
	in.Tasks = append(in.Tasks, workflows.BatchTask{ID: "t-x", Dataset: "nope"}, workflows.BatchTask{ID: "t-0", Dataset: "orders"})
	env.ExecuteWorkflow(workflows.BatchWorkflowName, in)
	var app *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &app)
	require.Equal(t, sferrors.TypeInvalidRequest, app.Type())
	require.Contains(t, app.Message(), `"nope" is not in datasets`)
	require.Contains(t, app.Message(), `"t-0" is not unique`)
	require.Empty(t, f.order)
}

// A batch larger than MaxChildrenPerRun drains and continues as new, run
// after run, and every task's status survives: failures, cancellations and
// completions of earlier runs are in the final result.
func TestBatchContinueAsNewKeepsStatuses(t *testing.T) {
	const n, perRun = 25, 10
	in := batchInput("big", n, 3)
	in.MaxChildrenPerRun = perRun
	wantStarts := [][]string{taskIDs(0, 10), taskIDs(10, 20), taskIDs(21, n)} // t-20 is cancelled while pending

	var res workflows.BatchResult
	started := 0
	for run := 1; ; run++ {
		require.LessOrEqual(t, run, len(wantStarts), "too many runs")
		f := newFakeSyncs(t)
		f.script["t-4"] = fakeRun{err: syncFailure("big", "t-4", sferrors.InvalidRequest, "status 422")}
		env := newBatchEnv(t, "big", f)
		if run == 1 {
			cancelTaskAfter(env, 30*time.Second, "t-20")
		}
		env.ExecuteWorkflow(workflows.BatchWorkflowName, in)
		require.True(t, env.IsWorkflowCompleted())
		requireStarted(t, f, wantStarts[run-1])
		started += len(f.order)

		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			require.NoError(t, err)
			require.NoError(t, env.GetWorkflowResult(&res))
			require.Len(t, wantStarts, run, "runs")
			break
		}
		require.Equal(t, workflows.BatchWorkflowName, can.WorkflowType.Name)
		var next workflows.BatchInput
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
		require.NotNil(t, next.Carry)
		require.Equal(t, run, next.Carry.Runs)
		require.Len(t, next.Carry.Outcomes, started+1, "every started task and the cancelled one")
		st := batchStatus(t, env)
		require.Zero(t, st.Counts[task.Running], "drained before continuing as new")
		in = next
	}
	require.Equal(t, counts(0, 0, n-2, 1, 1, 0), res.Counts)
	require.Equal(t, task.Failed, res.Tasks[4].State)
	require.Equal(t, "status 422", res.Tasks[4].Message)
	require.Equal(t, task.Cancelled, res.Tasks[20].State)
	for i, ts := range res.Tasks {
		if i != 4 && i != 20 {
			require.Equal(t, task.Completed, ts.State, ts.ID)
			require.EqualValues(t, 10, ts.Records, ts.ID)
		}
	}
}

// bigBatch is a batch of n tasks with 64-character IDs, all but the last
// `pending` of them already finished in earlier runs (failed, with
// messages of the longest kept length and the largest counters), so that
// every payload is as large as such a batch makes it.
func bigBatch(n, pending int) workflows.BatchInput {
	in := batchInput("big-batch-with-a-long-id", 0, 4)
	long := strings.Repeat("m", 600) // cut to the longest message kept
	in.Carry = &workflows.BatchCarry{Runs: 3}
	for i := range n {
		id := fmt.Sprintf("%064d", i)
		in.Tasks = append(in.Tasks, workflows.BatchTask{ID: id, Dataset: "customers"})
		if i < n-pending {
			in.Carry.Outcomes = append(in.Carry.Outcomes, workflows.TaskOutcome{
				Index: i, State: task.Failed, Class: string(sferrors.InvalidRequest), Message: long,
				Records: math.MaxInt64, Pages: math.MaxInt64,
			})
		}
	}
	return in
}

// payloadLimit is Temporal's limit on one payload (blob size).
const payloadLimit = 2 << 20

func encodedSize(t *testing.T, v any) int {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return len(p.GetData())
}

// A batch of 10,000 tasks with 64-character IDs: its continue-as-new
// input, its result and its status query (without and with a page
// request) each stay under the 2 MB payload limit.
func TestBatchOfTenThousandTasksFitsThePayloadLimit(t *testing.T) {
	const n = config.MaxBatchTasks
	require.NoError(t, workflows.CheckBatchSize(bigBatch(n, 0)))

	// Continue-as-new: one child per run, two pending.
	in := bigBatch(n, 2)
	in.MaxChildrenPerRun = 1
	f := newFakeSyncs(t)
	env := newBatchEnv(t, in.BatchID, f)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, in)
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	require.Less(t, len(can.Input.GetPayloads()[0].GetData()), payloadLimit, "continue-as-new input")

	// The last run: its result and its status.
	var next workflows.BatchInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	env = newBatchEnv(t, in.BatchID, newFakeSyncs(t))
	env.ExecuteWorkflow(workflows.BatchWorkflowName, next)
	res := batchResult(t, env)
	require.Equal(t, n, res.Counts[task.Failed]+res.Counts[task.Completed])
	require.Less(t, encodedSize(t, res), payloadLimit, "result")
	require.Len(t, res.Tasks, workflows.StatusPageSize, "the result lists a page of the tasks that did not complete")
	require.Equal(t, n-workflows.StatusPageSize, res.Omitted)

	st := batchStatus(t, env)
	require.Less(t, encodedSize(t, st), payloadLimit, "status")
	require.Equal(t, n, st.Counts[task.Failed]+st.Counts[task.Completed])
	require.Len(t, st.Tasks, workflows.StatusPageSize)

	// Paging through the completed tasks.
	v, err := env.QueryWorkflow(workflows.QueryBatchStatus, workflows.BatchStatusRequest{States: []task.State{task.Completed}})
	require.NoError(t, err)
	var page workflows.BatchStatus
	require.NoError(t, v.Get(&page))
	require.Equal(t, 2, page.Matching)
	require.Len(t, page.Tasks, 2)
	require.Zero(t, page.NextOffset)
	v, err = env.QueryWorkflow(workflows.QueryBatchStatus, workflows.BatchStatusRequest{Offset: 9000, Limit: 600})
	require.NoError(t, err)
	require.NoError(t, v.Get(&page))
	require.Len(t, page.Tasks, 600)
	require.Equal(t, fmt.Sprintf("%064d", 9000), page.Tasks[0].ID)
	require.Equal(t, 9600, page.NextOffset)
	require.Less(t, encodedSize(t, page), payloadLimit, "status page")
}

// A batch over the cap is refused by the workflow as an invalid request
// (syncclient.StartBatch and the starter refuse it before starting).
func TestBatchOverTheCapIsRefused(t *testing.T) {
	over := bigBatch(config.MaxBatchTasks+1, config.MaxBatchTasks+1)
	over.Carry = nil
	err := workflows.CheckBatchSize(over)
	require.ErrorContains(t, err, "10001 tasks, a batch holds at most 10000")

	wide := batchInput("wide", 0, 4)
	for i := range 9000 {
		wide.Tasks = append(wide.Tasks, workflows.BatchTask{ID: fmt.Sprintf("%064d", i), Dataset: strings.Repeat("d", 64)})
	}
	wide.Datasets[strings.Repeat("d", 64)] = config.Dataset{Source: source.Config{URL: "http://source.invalid/d"}}
	require.ErrorContains(t, workflows.CheckBatchSize(wide), "bytes as JSON, at most 1048576")

	env := newBatchEnv(t, over.BatchID, newFakeSyncs(t))
	env.ExecuteWorkflow(workflows.BatchWorkflowName, over)
	var app *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &app)
	require.Equal(t, sferrors.TypeInvalidRequest, app.Type())
	require.Contains(t, app.Error(), "at most 10000")
}
