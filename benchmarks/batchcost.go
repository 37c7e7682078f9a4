package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/workflows"
)

// historyCost is what one workflow run wrote to the server: its history
// events, by type, and its workflow tasks (the server's unit of work for
// a workflow, each a persistence write and a round trip to the worker).
type historyCost struct {
	events        int
	workflowTasks int
	byType        map[enumspb.EventType]int
	next          string // the run it continued as, if any
}

// runCost reads one run's history.
func runCost(ctx context.Context, c client.Client, workflowID, runID string) (historyCost, error) {
	hc := historyCost{byType: map[enumspb.EventType]int{}}
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return hc, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		hc.events++
		hc.byType[ev.GetEventType()]++
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			hc.workflowTasks++
		}
		if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
			hc.next = a.GetNewExecutionRunId()
		}
	}
	return hc, nil
}

// batchCost describes what the batch cost the server per task: the
// parent's runs (followed through continue-as-new from firstRun) and a
// sample of children, as a line for the benchmark's output.
func batchCost(ctx context.Context, c client.Client, batchID, firstRun string, tasks []workflows.BatchTask) (string, error) {
	var parent historyCost
	runs := 0
	for run := firstRun; run != ""; runs++ {
		hc, err := runCost(ctx, c, batchID, run)
		if err != nil {
			return "", err
		}
		parent.events += hc.events
		parent.workflowTasks += hc.workflowTasks
		run = hc.next
	}
	sample := min(len(tasks), 10)
	child := historyCost{byType: map[enumspb.EventType]int{}}
	for _, t := range tasks[:sample] {
		hc, err := runCost(ctx, c, workflows.ChildWorkflowID(batchID, t.ID), "")
		if err != nil {
			return "", err
		}
		child.events += hc.events
		child.workflowTasks += hc.workflowTasks
		for k, v := range hc.byType {
			child.byType[k] += v
		}
	}
	n := float64(len(tasks))
	return fmt.Sprintf("server work per task: parent %.1f events, %.2f workflow tasks (%d runs); child %.1f events, %.1f workflow tasks (%s)",
		float64(parent.events)/n, float64(parent.workflowTasks)/n, runs,
		float64(child.events)/float64(sample), float64(child.workflowTasks)/float64(sample), child.perType(sample)), nil
}

// perType lists the event types of h averaged over n runs, most first.
func (h historyCost) perType(n int) string {
	type kv struct {
		t enumspb.EventType
		v int
	}
	var all []kv
	for t, v := range h.byType {
		all = append(all, kv{t, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].t < all[j].t })
	var parts []string
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s %.1f", strings.TrimPrefix(e.t.String(), "EVENT_TYPE_"), float64(e.v)/float64(n)))
	}
	return strings.Join(parts, ", ")
}
