package syncclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// Memo keys of syncflow's schedules and of the runs they start.
const (
	// MemoDataset, in a schedule's memo, marks it as syncflow's schedule
	// of that dataset (what --prune and ListSchedules look for).
	MemoDataset = "syncflow_dataset"
	// memoFingerprint, in the action's memo, is a hash of what
	// ApplySchedules wrote, so that applying the same file again changes
	// nothing.
	memoFingerprint = "syncflow_fingerprint"
)

// Bounds of a schedule's catch-up window (CatchupWindow).
const (
	MinCatchupWindow = time.Minute
	MaxCatchupWindow = time.Hour
)

// ErrScheduleNotFound is matched (errors.Is) by the errors of calls naming
// a schedule the namespace does not have.
var ErrScheduleNotFound = errors.New("schedule not found")

// ScheduleID is the ID of the Temporal Schedule of a dataset's syncs:
// "sync-<dataset>", like the dataset's default task ID. Its runs have the
// workflow IDs "sync-<dataset>-<scheduled time>" and the task ID
// DefaultTaskID(dataset), so they share the checkpoint of `starter sync`.
func ScheduleID(dataset string) string { return DefaultTaskID(dataset) }

// CatchupWindow is how late a scheduled time may still start its run
// after Temporal was unavailable: the schedule's interval, at least
// MinCatchupWindow and at most MaxCatchupWindow (MaxCatchupWindow for cron
// expressions). Together with the skip overlap policy, an outage of hours
// starts at most one late run, not one per missed time.
func CatchupWindow(s config.Schedule) time.Duration {
	if s.Every <= 0 {
		return MaxCatchupWindow
	}
	return min(max(s.Every, MinCatchupWindow), MaxCatchupWindow)
}

// ScheduleChange is what ApplySchedules did to one schedule.
type ScheduleChange string

// The changes ApplySchedules reports.
const (
	ScheduleCreated   ScheduleChange = "created"
	ScheduleUpdated   ScheduleChange = "updated"
	ScheduleUnchanged ScheduleChange = "unchanged"
	ScheduleDeleted   ScheduleChange = "deleted" // by Prune
)

// AppliedSchedule is one schedule ApplySchedules created, updated, left
// alone or deleted.
type AppliedSchedule struct {
	ID       string         `json:"id"`
	Dataset  string         `json:"dataset"`
	Schedule string         `json:"schedule,omitempty"`
	Change   ScheduleChange `json:"change"`
}

// ApplyOptions tune ApplySchedules.
type ApplyOptions struct {
	// Prune deletes syncflow's schedules (those whose memo has MemoDataset)
	// that the datasets given do not define: datasets no longer in the
	// file, or without a schedule. Without it nothing is deleted.
	Prune bool
}

// ApplySchedules makes the namespace's schedules match the datasets that
// have a `schedule:`: one Temporal Schedule per dataset, ID
// ScheduleID(dataset), created if missing, updated if it differs (its
// paused state is kept), left alone if it is the same, so applying a file
// twice changes nothing. Each run is an ordinary SyncWorkflow (the input
// and search attributes of StartSync, destination sinkName as there),
// overlap policy skip (a time due while a run of the dataset is open
// starts nothing) and catch-up window CatchupWindow. Deleting a schedule
// leaves the dataset's records and checkpoints alone.
func (c *Client) ApplySchedules(ctx context.Context, datasets []config.Dataset, sinkName string, o ApplyOptions) ([]AppliedSchedule, error) {
	var out []AppliedSchedule
	keep := map[string]bool{}
	for _, ds := range datasets {
		sched, ok, err := ds.ParsedSchedule()
		if err != nil {
			return out, fmt.Errorf("schedule of dataset %s: %w", ds.ID, err)
		}
		if !ok {
			continue
		}
		change, err := c.applySchedule(ctx, ds, sched, sinkName)
		if err != nil {
			return out, err
		}
		keep[ScheduleID(ds.ID)] = true
		out = append(out, AppliedSchedule{ID: ScheduleID(ds.ID), Dataset: ds.ID, Schedule: sched.String(), Change: change})
	}
	if !o.Prune {
		return out, nil
	}
	pruned, err := c.pruneSchedules(ctx, keep)
	return append(out, pruned...), err
}

// desiredSchedule is what ApplySchedules wants one dataset's schedule to be.
type desiredSchedule struct {
	id          string
	spec        client.ScheduleSpec
	action      *client.ScheduleWorkflowAction
	policy      client.SchedulePolicies
	fingerprint string
}

// desired builds the schedule of ds.
func desired(ds config.Dataset, sched config.Schedule, sinkName string) (desiredSchedule, error) {
	taskID := DefaultTaskID(ds.ID)
	in := workflows.SyncInput{TaskID: taskID, Dataset: ds, Sink: TaskSink(sinkName)}
	d := desiredSchedule{
		id:     ScheduleID(ds.ID),
		spec:   scheduleSpec(sched),
		policy: client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: CatchupWindow(sched)},
	}
	summary := fmt.Sprintf("sync %s → %s (schedule %s)", ds.ID, SinkKind(sinkName), d.id)
	raw, err := json.Marshal(struct {
		Schedule, TaskQueue, Summary string
		Input                        workflows.SyncInput
		Catchup                      time.Duration
	}{sched.String(), workflows.TaskQueue, summary, in, d.policy.CatchupWindow})
	if err != nil {
		return d, fmt.Errorf("schedule of dataset %s: %w", ds.ID, err)
	}
	sum := sha256.Sum256(raw)
	d.fingerprint = hex.EncodeToString(sum[:])
	d.action = &client.ScheduleWorkflowAction{
		// Temporal appends the scheduled time: sync-orders-2026-01-02T03:00:00Z.
		ID:            taskID,
		Workflow:      workflows.SyncWorkflowName,
		Args:          []any{in},
		TaskQueue:     workflows.TaskQueue,
		StaticSummary: summary,
		Memo:          map[string]any{memoFingerprint: d.fingerprint},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchAttrDataset.ValueSet(ds.ID),
			workflows.SearchAttrState.ValueSet(string(task.Running)),
		),
	}
	return d, nil
}

// scheduleSpec is the Temporal spec of a parsed schedule. A cron
// expression carries itself as its comment, so that it reads as written in
// the Web UI, `temporal schedule describe` and ScheduleText after the
// server has turned it into a calendar.
func scheduleSpec(s config.Schedule) client.ScheduleSpec {
	if s.Every > 0 {
		return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.Every}}}
	}
	return client.ScheduleSpec{CronExpressions: []string{s.Cron + " # " + s.Cron}}
}

// ScheduleText renders a schedule's spec as the configuration writes it:
// "@every 1h0m0s" for an interval, the cron expression for a calendar
// ApplySchedules made; "" for a spec it cannot render.
func ScheduleText(spec *client.ScheduleSpec) string {
	switch {
	case spec == nil:
		return ""
	case len(spec.Intervals) == 1 && len(spec.Calendars) == 0 && len(spec.CronExpressions) == 0:
		return config.Schedule{Every: spec.Intervals[0].Every}.String()
	case len(spec.Calendars) == 1 && len(spec.Intervals) == 0:
		return spec.Calendars[0].Comment
	case len(spec.CronExpressions) == 1:
		return spec.CronExpressions[0]
	}
	return ""
}

// applySchedule creates or updates the schedule of one dataset.
func (c *Client) applySchedule(ctx context.Context, ds config.Dataset, sched config.Schedule, sinkName string) (ScheduleChange, error) {
	d, err := desired(ds, sched, sinkName)
	if err != nil {
		return "", err
	}
	_, err = c.c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: d.id, Spec: d.spec, Action: d.action,
		Overlap: d.policy.Overlap, CatchupWindow: d.policy.CatchupWindow,
		Memo: map[string]any{MemoDataset: ds.ID},
		Note: fmt.Sprintf("syncflow: syncs of dataset %s (starter schedule apply)", ds.ID),
	})
	if err == nil {
		return ScheduleCreated, nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "", fmt.Errorf("create schedule %s: %w", d.id, err)
	}
	change := ScheduleUnchanged
	err = c.c.ScheduleClient().GetHandle(ctx, d.id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			if owner := memoString(in.Description.Memo, MemoDataset); owner != ds.ID {
				return nil, fmt.Errorf("schedule %s exists but is not syncflow's schedule of dataset %s (its %s is %q): delete it first", d.id, ds.ID, MemoDataset, owner)
			}
			if actionFingerprint(in.Description.Schedule.Action) == d.fingerprint {
				return nil, temporal.ErrSkipScheduleUpdate
			}
			change = ScheduleUpdated
			s := in.Description.Schedule // keeps its state: a paused schedule stays paused
			s.Action, s.Spec, s.Policy = d.action, &d.spec, &d.policy
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("update schedule %s: %w", d.id, scheduleNotFound(err))
	}
	return change, nil
}

// pruneSchedules deletes syncflow's schedules whose IDs keep does not hold.
func (c *Client) pruneSchedules(ctx context.Context, keep map[string]bool) ([]AppliedSchedule, error) {
	all, err := c.ListSchedules(ctx)
	if err != nil {
		return nil, err
	}
	var out []AppliedSchedule
	for _, s := range all {
		if keep[s.ID] {
			continue
		}
		if err := c.c.ScheduleClient().GetHandle(ctx, s.ID).Delete(ctx); err != nil {
			return out, fmt.Errorf("prune schedule %s: %w", s.ID, scheduleNotFound(err))
		}
		out = append(out, AppliedSchedule{ID: s.ID, Dataset: s.Dataset, Schedule: s.Schedule, Change: ScheduleDeleted})
	}
	return out, nil
}

// memoString decodes a string value of a memo ("" when absent).
func memoString(m *commonpb.Memo, key string) string {
	p, ok := m.GetFields()[key]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// actionFingerprint is the fingerprint ApplySchedules left in a schedule's
// action ("" when there is none).
func actionFingerprint(a client.ScheduleAction) string {
	wa, ok := a.(*client.ScheduleWorkflowAction)
	if !ok {
		return ""
	}
	p, ok := wa.Memo[memoFingerprint].(*commonpb.Payload)
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// scheduleNotFound makes a Temporal NotFound error match
// ErrScheduleNotFound, keeping the original in the chain.
func scheduleNotFound(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", ErrScheduleNotFound, err)
	}
	return err
}
