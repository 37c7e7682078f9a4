package chaos_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read keys straight from the file

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
	"github.com/syncflow/syncflow/workflows"
)

// The synced dataset: small pages served slowly, so that a sync is still
// running for several seconds after its second page is committed.
const (
	datasetID   = "orders"
	totalRecs   = 300
	pageSize    = 10
	totalPages  = totalRecs / pageSize
	pageLatency = 200 * time.Millisecond
)

// testTimeout bounds one test; generous, the machine is shared.
const testTimeout = 3 * time.Minute

// syncOptions are the options of every sync: a lost worker is noticed after
// 3 s (the worker heartbeats every second).
func syncOptions() workflows.SyncOptions {
	return workflows.SyncOptions{HeartbeatTimeout: source.Duration(3 * time.Second)}
}

// testContext is bounded by testTimeout and cancelled when t ends.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// poll calls cond every interval until it returns true; it fails t when ctx
// ends first. what says what was awaited.
func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// --- the source ---

// demoSource is the demo API served from the test process, behind a handler
// that counts the requests for every page.
type demoSource struct {
	api   *demoapi.Server
	clean *demoapi.Server
	url   string

	mu       sync.Mutex
	requests map[int]int // page -> requests received
	inFlight map[int]int // page -> requests being answered
}

func newDemoSource(t *testing.T) *demoSource {
	return newDemoSourceWith(t, demoapi.DatasetSpec{}, demoapi.Faults{})
}

// newDemoSourceWith is newDemoSource whose dataset has spec's server-side
// rate limit and whose API injects faults (besides the page latency).
func newDemoSourceWith(t *testing.T, spec demoapi.DatasetSpec, faults demoapi.Faults) *demoSource {
	t.Helper()
	spec.ID, spec.Pagination, spec.Total = datasetID, source.PaginationPage, totalRecs
	faults.Latency = pageLatency
	s := &demoSource{
		api: demoapi.New(demoapi.Options{
			Seed:     7,
			Datasets: []demoapi.DatasetSpec{spec},
			Faults:   faults,
		}),
		// The same records without faults or limit, for keys.
		clean: demoapi.New(demoapi.Options{
			Seed:     7,
			Datasets: []demoapi.DatasetSpec{{ID: datasetID, Pagination: source.PaginationPage, Total: totalRecs}},
		}),
		requests: map[int]int{},
		inFlight: map[int]int{},
	}
	records := "/datasets/" + datasetID + "/records"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != records {
			s.api.ServeHTTP(w, r)
			return
		}
		page := 1
		if v := r.URL.Query().Get("page"); v != "" {
			page, _ = strconv.Atoi(v)
		}
		s.mu.Lock()
		s.requests[page]++
		s.inFlight[page]++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight[page]--
			s.mu.Unlock()
		}()
		s.api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// dataset is the configuration a sync of the dataset uses.
func (s *demoSource) dataset() config.Dataset {
	cfg := s.api.SourceConfig(s.url, datasetID)
	cfg.Pagination.PageSize = pageSize
	return config.Dataset{ID: datasetID, Source: cfg}
}

// keys asks the API itself (bypassing the counting handler) for every
// record key of the dataset.
func (s *demoSource) keys(t *testing.T) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/datasets/"+datasetID+"/records?page=1&page_size="+strconv.Itoa(demoapi.MaxPageSize), nil)
	s.clean.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var body struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, totalRecs, body.Total)
	require.Len(t, body.Items, totalRecs, "all records fit one page of the API")
	keys := make([]string, 0, len(body.Items))
	for _, it := range body.Items {
		keys = append(keys, it.ID)
	}
	slices.Sort(keys)
	return keys
}

// requestCounts returns a copy of the requests per page.
func (s *demoSource) requestCounts() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// isInFlight reports whether a request for page is being answered.
func (s *demoSource) isInFlight(page int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[page] > 0
}

// --- worker processes ---

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// workerProc is one run of the worker binary.
type workerProc struct {
	t       *testing.T
	name    string
	metrics string // --metrics address, for readiness
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{}
	waitErr error // set before done is closed
}

// startWorker runs the worker binary with args (which must include
// --metrics metricsAddr) and the test's environment minus anything
// TEMPORAL_* or SYNCFLOW_*, plus env. The process is killed when the test
// ends if it still runs; its output is logged if the test failed.
func startWorker(t *testing.T, name, metricsAddr string, args []string, env ...string) *workerProc {
	t.Helper()
	cmd := exec.Command(workerBin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") && !strings.HasPrefix(kv, "SYNCFLOW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &workerProc{t: t, name: name, metrics: metricsAddr, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d) ---\n%s", name, cmd.Process.Pid, out.String())
		}
	})
	return p
}

func (p *workerProc) pid() int { return p.cmd.Process.Pid }

func (p *workerProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHealthy polls the worker's /healthz until it answers 200; it fails the
// test at once if the worker exits first.
func (p *workerProc) waitHealthy(ctx context.Context) {
	p.t.Helper()
	url := "http://" + p.metrics + "/healthz"
	poll(ctx, p.t, p.name+" to become healthy", func() bool {
		if p.exited() {
			p.t.Fatalf("%s exited before it was healthy: %v", p.name, p.waitErr)
		}
		return httpStatus(ctx, url) == http.StatusOK
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *workerProc) kill() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(p.t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s should have died of SIGKILL: %v", p.name, p.waitErr)
}

// wait waits for the process to exit (bounded by ctx) and returns its
// exit error (nil for status 0).
func (p *workerProc) wait(ctx context.Context) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		p.t.Fatalf("%s did not exit: %v", p.name, ctx.Err())
		return nil
	}
}

// httpStatus GETs url and returns the status code, 0 on any error.
func httpStatus(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// devWorker is the command line of a `worker --dev` in dir: frontend,
// UI and metrics on fixed loopback ports, so that a restart with the same
// arguments serves the same addresses from the same SQLite file.
type devWorker struct {
	args     []string
	frontend string
	ui       string
	metrics  string
}

func newDevWorker(t *testing.T, dir, sinkDSN string) devWorker {
	t.Helper()
	d := devWorker{
		frontend: loopback(freePort(t)),
		ui:       loopback(freePort(t)),
		metrics:  loopback(freePort(t)),
	}
	_, devPort, _ := net.SplitHostPort(d.frontend)
	_, uiPort, _ := net.SplitHostPort(d.ui)
	d.args = []string{
		"--dev", "--dev-port", devPort, "--ui-port", uiPort,
		"--dev-db", dir + "/temporal.db",
		"--sink", sinkDSN,
		"--metrics", d.metrics,
	}
	return d
}

// start runs the dev worker and waits until it is healthy.
func (d devWorker) start(ctx context.Context, t *testing.T, name string) *workerProc {
	t.Helper()
	p := startWorker(t, name, d.metrics, d.args)
	p.waitHealthy(ctx)
	return p
}

// requireUI asserts the Web UI answers 200 at its root.
func (d devWorker) requireUI(ctx context.Context, t *testing.T) {
	t.Helper()
	url := "http://" + d.ui + "/"
	poll(ctx, t, "the Web UI at "+url+" to answer 200", func() bool {
		return httpStatus(ctx, url) == http.StatusOK
	})
}

// --- Temporal ---

// dial connects a Temporal client to hostPort; it is closed when t ends.
func dial(ctx context.Context, t *testing.T, hostPort string) client.Client {
	t.Helper()
	c, err := client.DialContext(ctx, client.Options{
		HostPort: hostPort,
		Logger:   log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	require.NoError(t, err, "dial Temporal at %s", hostPort)
	t.Cleanup(c.Close)
	return c
}

// --- the destination ---

// waitForPages polls the task's checkpoint until at least n pages are
// committed and cond (if any) holds, and returns that checkpoint. Load
// errors (a destination restarting) are retried.
func waitForPages(ctx context.Context, t *testing.T, s sink.Sink, taskID string, n int64, cond func(sink.Checkpoint) bool) sink.Checkpoint {
	t.Helper()
	var cp sink.Checkpoint
	poll(ctx, t, "checkpoint of "+taskID+" at "+strconv.FormatInt(n, 10)+" pages", func() bool {
		got, ok, err := s.Load(ctx, taskID)
		if err != nil || !ok || got.Pages < n {
			return false
		}
		cp = got
		return cond == nil || cond(got)
	})
	return cp
}

// sqliteKeys reads the dataset's record keys straight from a SQLite file.
func sqliteKeys(ctx context.Context, t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT key FROM syncflow_records WHERE dataset = ?`, datasetID)
	require.NoError(t, err)
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, rows.Err())
	return keys
}

// requireExact asserts the completed sync and the destination hold exactly
// the source's records: the sink's count, the keys stored (each once) and
// the task's checkpoint.
func requireExact(ctx context.Context, t *testing.T, src *demoSource, res workflows.SyncResult, s sink.Sink, taskID string, stored []string) {
	t.Helper()
	require.Equal(t, task.Completed, res.State)
	require.EqualValues(t, totalPages, res.Pages, "pages of the completed sync")
	require.EqualValues(t, totalRecs, res.Records, "records of the completed sync")

	n, err := s.Count(ctx, datasetID)
	require.NoError(t, err)
	require.EqualValues(t, totalRecs, n, "sink count")

	slices.Sort(stored)
	if dup := duplicates(stored); len(dup) > 0 {
		t.Fatalf("keys stored more than once: %v", dup)
	}
	require.Equal(t, src.keys(t), stored, "stored keys must be exactly the API's")

	cp, ok, err := s.Load(ctx, taskID)
	require.NoError(t, err)
	require.True(t, ok, "no checkpoint for %s", taskID)
	require.Equal(t, task.Completed, cp.State)
	require.True(t, cp.Done)
	require.EqualValues(t, totalPages, cp.Pages)
	require.EqualValues(t, totalRecs, cp.Records)
}

// duplicates lists the keys that occur more than once in sorted keys.
func duplicates(sorted []string) []string {
	var dup []string
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] && (len(dup) == 0 || dup[len(dup)-1] != sorted[i]) {
			dup = append(dup, sorted[i])
		}
	}
	return dup
}

// openSink opens the destination from the test process, closed when t ends.
func openSink(ctx context.Context, t *testing.T, dsn string) sink.Sink {
	t.Helper()
	s, err := engine.OpenSink(ctx, dsn)
	require.NoError(t, err, "open sink %s", sink.RedactDSN(dsn))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// errNoPID is returned by identityPID for an identity without a pid.
var errNoPID = errors.New("worker identity does not start with a pid")

// identityPID is the process ID in a Temporal SDK worker identity
// ("pid@host@...").
func identityPID(identity string) (int, error) {
	pid, _, ok := strings.Cut(identity, "@")
	if !ok {
		return 0, errNoPID
	}
	return strconv.Atoi(pid)
}
