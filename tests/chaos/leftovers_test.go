package chaos_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
)

// What a schedule may leave behind once its workflows have closed: no open
// workflow anywhere in the namespace, and no goroutine that grew with the
// work (checked on the plain worker, whose process holds no server).

// goroutineSlack is how many goroutines an idle worker may run beyond what
// it ran once healthy: pools the syncs opened (a sink per destination, idle
// HTTP connections) live on by design. A leak per page, request or task
// grows with the schedule's hundreds of requests and exceeds it.
const goroutineSlack = 20

// leftoverWait bounds how long visibility and an idle worker may take to
// settle after the last workflow closed.
const leftoverWait = 30 * time.Second

// checkLeftovers checks that nothing is left open or running.
func (r *chaosRun) checkLeftovers() {
	r.checkNoneOpen()
	r.checkGoroutines()
}

// checkNoneOpen lists the namespace's open workflows (visibility catches up
// with the closes: polled until it shows none, or leftoverWait).
func (r *chaosRun) checkNoneOpen() {
	ctx, cancel := context.WithTimeout(r.ctx, leftoverWait)
	defer cancel()
	var open []string
	for {
		resp, err := r.client().ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `ExecutionStatus = "Running"`})
		if err == nil {
			open = open[:0]
			for _, e := range resp.GetExecutions() {
				open = append(open, e.GetExecution().GetWorkflowId())
			}
			if len(open) == 0 {
				return
			}
		}
		if !pause(ctx, 200*time.Millisecond) {
			r.failf("open", "workflows still open %s after every task ended: %v (last error %v)", leftoverWait, open, err)
			return
		}
	}
}

// checkGoroutines compares the plain worker's goroutines, once idle, with
// its count when it became healthy (polled: finished activities and
// connections wind down).
func (r *chaosRun) checkGoroutines() {
	if r.plain == nil || r.plain.exited() {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, leftoverWait)
	defer cancel()
	limit := r.plainBase + goroutineSlack
	for {
		n, err := goroutines(ctx, r.plain.metrics)
		if err == nil && n <= limit {
			r.t.Logf("seed %d: %s idle with %d goroutines, %d when it became healthy", r.s.Seed, r.plain.name, n, r.plainBase)
			return
		}
		if !pause(ctx, 200*time.Millisecond) {
			r.failf("goroutines", "%s runs %d goroutines once idle, %d when it became healthy (slack %d; last error %v)",
				r.plain.name, n, r.plainBase, goroutineSlack, err)
			return
		}
	}
}

// goroutines reads the go_goroutines gauge of the worker's metrics.
func goroutines(ctx context.Context, metricsAddr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no go_goroutines in %s/metrics (%v)", metricsAddr, sc.Err())
}
