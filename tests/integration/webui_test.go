package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// chromiumPath finds Chromium (Debian's chromium package, installed by
// .ci/run). CI must have it: there the test fails, elsewhere it is skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed: apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and no
// background traffic; the returned context drives one tab.
func newBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	require.NoError(t, chromedp.Do(bctx), "start Chromium")
	return bctx
}

// heldSource serves a demo dataset's first pages and holds every later
// request until released, so that a sync stays running with known progress.
type heldSource struct {
	srv      *httptest.Server
	served   atomic.Int64
	release  chan struct{}
	once     sync.Once
	freePass int64
}

func newHeldSource(t *testing.T, api http.Handler, freePass int64) *heldSource {
	h := &heldSource{release: make(chan struct{}), freePass: freePass}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.served.Add(1) > h.freePass {
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { h.open(); h.srv.Close() })
	return h
}

// open lets every held and later request through.
func (h *heldSource) open() { h.once.Do(func() { close(h.release) }) }

// webUIWorld is one embedded Temporal server with its Web UI wired to a
// codec server, and a worker with the same key.
type webUIWorld struct {
	srv    *devserver.Server
	dbPath string
	c      client.Client
	sc     *syncclient.Client
}

func startWebUIWorld(t *testing.T, ctx context.Context) *webUIWorld {
	t.Helper()
	cdc := newCodec(t, codecKey("ui-key"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dbPath := filepath.Join(t.TempDir(), "temporal.db")
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath: dbPath, FreePorts: true, SearchAttributes: workflows.SearchAttributes(),
		CodecEndpoint: "http://" + l.Addr().String(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	hs := &http.Server{Handler: cdc.Handler(codec.HandlerOptions{Origins: codec.UIOrigins(srv.UIAddress())}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })

	s := &codecServer{srv: srv, dbPath: dbPath}
	c := s.dial(t, cdc)
	s.worker(t, ctx, c)
	return &webUIWorld{srv: srv, dbPath: dbPath, c: c, sc: syncclient.New(c, syncclient.WithDataConverter(cdc.DataConverter()))}
}

// pageText is a JavaScript expression for the text of the page and of its
// iframes (the UI renders summaries and current details as markdown in
// same-origin iframes).
const pageText = `(document.body ? document.body.innerText : "") + "\n" +
	[...document.querySelectorAll("iframe")].map(f => (f.contentDocument && f.contentDocument.body) ? f.contentDocument.body.innerText : "").join("\n")`

// bodyContains waits (in the page, without sleeping here) until the page's
// text contains every one of want.
func bodyContains(want ...string) chromedp.Action[chromedp.Void] {
	var checks []string
	for _, w := range want {
		checks = append(checks, fmt.Sprintf("t.includes(%q)", w))
	}
	return chromedp.Poll[chromedp.Void](fmt.Sprintf("((t) => %s)(%s)", strings.Join(checks, " && "), pageText),
		chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0)) // the caller's context bounds it
}

// waitUntil checks cond every 100 ms until it holds, failing at ctx's end.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// clickText waits for an element whose whole text is text and clicks it.
func clickText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const el = [...document.querySelectorAll("button, a, summary, [role=tab], [role=button]")]
			.find(e => e.textContent.trim() === %q);
		if (!el) return false;
		el.click();
		return true;
	})()`, text), chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0))
}

// The Web UI, in headless Chromium, against the embedded server with the
// codec on: the workflow list shows our SyncWorkflow row with its summary;
// the running sync's page shows its current details (progress) and its
// decoded input, the dataset URL; Temporal's database holds no dataset URL
// in plain text.
func TestWebUIInABrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	browser := newBrowser(t, ctx)
	w := startWebUIWorld(t, ctx)

	api := demoapi.New(demoapi.Options{Seed: 3, Datasets: []demoapi.DatasetSpec{{ID: "orders", Pagination: source.PaginationCursor, Total: 300}}})
	src := newHeldSource(t, api, 2) // pages 1 and 2 pass, page 3 waits
	ds := config.Dataset{ID: "orders", Source: api.SourceConfig(src.srv.URL, "orders")}
	run, err := w.sc.StartSync(ctx, "ui-orders", ds, workflows.SyncOptions{PagesPerActivity: 10}, "sqlite://"+filepath.Join(t.TempDir(), "ui.db"))
	require.NoError(t, err)

	page := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(browser, 90*time.Second)
		defer cancel()
		err := chromedp.Do(tctx, actions...)
		if err != nil {
			text, _ := chromedp.Run(browser, chromedp.Evaluate[string](pageText))
			t.Fatalf("%s: %v\npage text:\n%s", name, err, text)
		}
	}
	// What the pages will show must exist before they load: the sync in
	// the visibility store, its progress at the held page.
	waitUntil(t, ctx, "the sync in the workflow list", func() bool {
		list, err := w.sc.List(ctx, `WorkflowId = "ui-orders"`, 1)
		return err == nil && len(list) == 1
	})
	waitUntil(t, ctx, "200 records committed", func() bool {
		p, err := w.sc.Progress(ctx, "ui-orders")
		return err == nil && p.Records == 200
	})
	ui := w.srv.UIAddress() + "/namespaces/" + w.srv.Namespace()
	// The list (UI 2.55 has no summary column: the summary is on the
	// workflow's page, decoded through the codec like everything there).
	page("workflow list", chromedp.Navigate(ui+"/workflows"),
		bodyContains("ui-orders", workflows.SyncWorkflowName, "RUNNING"))
	page("running sync", chromedp.Navigate(ui+"/workflows/ui-orders/"+run.GetRunID()+"/history"),
		bodyContains(ds.Source.URL), // the decoded input
		clickText("User Metadata"),
		bodyContains("sync orders → sqlite", "running: 2 pages, 200 records")) // summary, current details

	src.open()
	_, err = w.sc.Wait(ctx, run)
	require.NoError(t, err)
	require.NoError(t, w.srv.Stop())
	files := (&codecServer{dbPath: w.dbPath, srv: w.srv}).stateFiles(t)
	require.False(t, bytes.Contains(files, []byte(ds.Source.URL)), "the dataset URL is in Temporal's database in plain text")
}
