package syncclient

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
)

// ScheduleSummary is one of syncflow's schedules in a list.
type ScheduleSummary struct {
	ID      string `json:"id"`
	Dataset string `json:"dataset"`
	// Schedule is the spec as the configuration writes it (ScheduleText).
	Schedule string    `json:"schedule"`
	Paused   bool      `json:"paused"`
	Note     string    `json:"note,omitempty"`
	NextRun  time.Time `json:"next_run,omitzero"`
	// LastRun is when the latest run started, LastWorkflowID its workflow.
	LastRun        time.Time `json:"last_run,omitzero"`
	LastWorkflowID string    `json:"last_workflow_id,omitempty"`
}

// ScheduleRun is one run a schedule started.
type ScheduleRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	WorkflowID  string    `json:"workflow_id"`
	RunID       string    `json:"run_id,omitempty"`
}

// ScheduleStatus is one schedule described in full.
type ScheduleStatus struct {
	ScheduleSummary
	// Overlap is the overlap policy ("skip" for syncflow's schedules);
	// CatchupWindow how late a missed time may still start.
	Overlap       string        `json:"overlap"`
	CatchupWindow time.Duration `json:"catchup_window"`
	// Running are the workflow IDs of the open runs it started (at most
	// one with the skip policy).
	Running []string `json:"running,omitempty"`
	// Recent are the latest runs it started, oldest first.
	Recent []ScheduleRun `json:"recent,omitempty"`
	// Next are the next times it will fire.
	Next []time.Time `json:"next,omitempty"`
	// Actions counts the runs it started; SkippedOverlap the times that
	// started nothing because a run was open; MissedCatchup the times
	// missed for longer than the catch-up window.
	Actions        int       `json:"actions"`
	SkippedOverlap int       `json:"skipped_overlap"`
	MissedCatchup  int       `json:"missed_catchup"`
	Created        time.Time `json:"created"`
	Updated        time.Time `json:"updated,omitzero"`
}

// ListSchedules returns syncflow's schedules (those ApplySchedules made,
// marked with MemoDataset), by ID. Schedules are listed through
// visibility, which is eventually consistent: one created a moment ago may
// be missing.
func (c *Client) ListSchedules(ctx context.Context) ([]ScheduleSummary, error) {
	it, err := c.c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var out []ScheduleSummary
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		ds := memoString(e.Memo, MemoDataset)
		if ds == "" {
			continue // not syncflow's
		}
		s := ScheduleSummary{ID: e.ID, Dataset: ds, Schedule: ScheduleText(e.Spec), Paused: e.Paused, Note: e.Note}
		if len(e.NextActionTimes) > 0 {
			s.NextRun = e.NextActionTimes[0]
		}
		if n := len(e.RecentActions); n > 0 {
			s.LastRun = e.RecentActions[n-1].ActualTime
			if r := e.RecentActions[n-1].StartWorkflowResult; r != nil {
				s.LastWorkflowID = r.WorkflowID
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ScheduleSummary) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DescribeSchedule describes one schedule (read from the schedule itself,
// not from visibility: always current).
func (c *Client) DescribeSchedule(ctx context.Context, id string) (ScheduleStatus, error) {
	d, err := c.c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return ScheduleStatus{}, fmt.Errorf("describe schedule %s: %w", id, scheduleNotFound(err))
	}
	st := ScheduleStatus{ScheduleSummary: ScheduleSummary{ID: id, Dataset: memoString(d.Memo, MemoDataset)}}
	st.Schedule = ScheduleText(d.Schedule.Spec)
	if s := d.Schedule.State; s != nil {
		st.Paused, st.Note = s.Paused, s.Note
	}
	if p := d.Schedule.Policy; p != nil {
		st.Overlap = overlapName(p.Overlap.String())
		st.CatchupWindow = p.CatchupWindow
	}
	info := d.Info
	st.Actions, st.SkippedOverlap, st.MissedCatchup = info.NumActions, info.NumActionsSkippedOverlap, info.NumActionsMissedCatchupWindow
	st.Created, st.Updated, st.Next = info.CreatedAt, info.LastUpdateAt, info.NextActionTimes
	for _, r := range info.RunningWorkflows {
		st.Running = append(st.Running, r.WorkflowID)
	}
	for _, a := range info.RecentActions {
		r := ScheduleRun{ScheduledAt: a.ScheduleTime, StartedAt: a.ActualTime}
		if w := a.StartWorkflowResult; w != nil {
			r.WorkflowID, r.RunID = w.WorkflowID, w.FirstExecutionRunID
		}
		st.Recent = append(st.Recent, r)
	}
	if len(st.Next) > 0 {
		st.NextRun = st.Next[0]
	}
	if n := len(st.Recent); n > 0 {
		st.LastRun, st.LastWorkflowID = st.Recent[n-1].StartedAt, st.Recent[n-1].WorkflowID
	}
	return st, nil
}

// overlapName is an overlap policy's name without its enum prefix, in
// lower case: "skip", "buffer_one", ...
func overlapName(s string) string {
	return strings.ToLower(strings.TrimPrefix(s, "ScheduleOverlapPolicy"))
}

// PauseSchedule pauses a schedule: it starts no run until unpaused; note
// says why (shown by the Web UI and DescribeSchedule).
func (c *Client) PauseSchedule(ctx context.Context, id, note string) error {
	if note == "" {
		note = "paused with syncflow"
	}
	if err := c.c.ScheduleClient().GetHandle(ctx, id).Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
		return fmt.Errorf("pause schedule %s: %w", id, scheduleNotFound(err))
	}
	return nil
}

// UnpauseSchedule resumes a paused schedule; times missed while it was
// paused are not made up.
func (c *Client) UnpauseSchedule(ctx context.Context, id, note string) error {
	if note == "" {
		note = "unpaused with syncflow"
	}
	if err := c.c.ScheduleClient().GetHandle(ctx, id).Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}); err != nil {
		return fmt.Errorf("unpause schedule %s: %w", id, scheduleNotFound(err))
	}
	return nil
}

// TriggerSchedule asks a schedule to start a run now, under its overlap
// policy: while a run of the dataset is open, the trigger starts nothing.
func (c *Client) TriggerSchedule(ctx context.Context, id string) error {
	if err := c.c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		return fmt.Errorf("trigger schedule %s: %w", id, scheduleNotFound(err))
	}
	return nil
}

// DeleteSchedule deletes one of syncflow's schedules. Its open run goes
// on; the dataset's records and checkpoints stay in the destination. A
// schedule that is not syncflow's (no MemoDataset) is refused.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	st, err := c.DescribeSchedule(ctx, id)
	if err != nil {
		return err
	}
	if st.Dataset == "" {
		return fmt.Errorf("delete schedule %s: not a syncflow schedule (no %s in its memo); delete it with `temporal schedule delete --schedule-id %s`", id, MemoDataset, id)
	}
	if err := c.c.ScheduleClient().GetHandle(ctx, id).Delete(ctx); err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, scheduleNotFound(err))
	}
	return nil
}
