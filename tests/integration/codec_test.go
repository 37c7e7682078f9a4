package integration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/engine"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/internal/devserver"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// codecKey returns a fresh key entry ID:BASE64 for SYNCFLOW_CODEC_KEYS.
func codecKey(id string) string {
	b := make([]byte, codec.KeySize)
	_, _ = rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// newCodec parses a key list as SYNCFLOW_CODEC_KEYS would hold it ("" for
// none).
func newCodec(t *testing.T, spec string) *codec.Codec {
	t.Helper()
	c, err := codec.FromEnv(func(k string) (string, bool) {
		if k != codec.EnvKeys || spec == "" {
			return "", false
		}
		return spec, true
	})
	require.NoError(t, err)
	return c
}

// codecServer is an embedded Temporal server whose state is a SQLite file
// the test can read.
type codecServer struct {
	srv    *devserver.Server
	dbPath string
}

func startCodecServer(t *testing.T, ctx context.Context) *codecServer {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "temporal.db")
	srv, err := devserver.Start(ctx, devserver.Options{
		DBPath: dbPath, FreePorts: true, UIPort: devserver.UIDisabled,
		SearchAttributes: workflows.SearchAttributes(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	return &codecServer{srv: srv, dbPath: dbPath}
}

// dial connects to the server with c's data and failure converters, as
// connect does with SYNCFLOW_CODEC_KEYS set.
func (s *codecServer) dial(t *testing.T, c *codec.Codec) client.Client {
	t.Helper()
	opts := client.Options{HostPort: s.srv.FrontendAddress(), Namespace: s.srv.Namespace()}
	c.Apply(&opts)
	cl, err := client.Dial(opts)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// worker runs a syncflow worker on cl (its converters are cl's).
func (s *codecServer) worker(t *testing.T, ctx context.Context, cl client.Client) {
	t.Helper()
	dest, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(t.TempDir(), "dest.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = dest.Close() })
	w, _, err := engine.New(cl, engine.Options{Sink: dest, HeartbeatEvery: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
}

// stateFiles is everything Temporal wrote to disk: the database and its
// write-ahead log, read after the server stopped.
func (s *codecServer) stateFiles(t *testing.T) []byte {
	t.Helper()
	require.NoError(t, s.srv.Stop())
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(s.dbPath + suffix)
		if err == nil {
			all = append(all, b...)
		}
	}
	require.NotEmpty(t, all)
	return all
}

// secretsOfADemoSync runs one sync of a cursor-paginated demo dataset and
// returns Temporal's files with what must not be in them: the dataset's
// URL, a cursor the API issued and a record key.
func secretsOfADemoSync(t *testing.T, keys string) (files []byte, url, cursor, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api := demoapi.New(demoapi.Options{Seed: 7, Datasets: []demoapi.DatasetSpec{{ID: "orders", Pagination: source.PaginationCursor, Total: 120}}})
	src := httptest.NewServer(api)
	t.Cleanup(src.Close)
	cfg := api.SourceConfig(src.URL, "orders")
	cursor, key = firstCursorAndKey(t, cfg)

	s := startCodecServer(t, ctx)
	c := newCodec(t, keys)
	cl := s.dial(t, c)
	s.worker(t, ctx, cl)
	sc := syncclient.New(cl, syncclient.WithDataConverter(c.DataConverter()))
	run, err := sc.StartSync(ctx, "enc-orders", config.Dataset{ID: "orders", Source: cfg}, workflows.SyncOptions{PagesPerActivity: 2}, "")
	require.NoError(t, err)
	res, err := sc.Wait(ctx, run)
	require.NoError(t, err)
	require.EqualValues(t, 120, res.Records)
	st, err := sc.Describe(ctx, "enc-orders")
	require.NoError(t, err)
	require.Equal(t, "sync orders → sink", st.Summary, "the summary reads back through the codec")
	return s.stateFiles(t), cfg.URL, cursor, key
}

// firstCursorAndKey fetches the first page as the worker will.
func firstCursorAndKey(t *testing.T, cfg source.Config) (cursor, key string) {
	resp, err := http.Get(cfg.URL + "?" + cfg.Pagination.SizeParam + "=" + strconv.Itoa(cfg.Pagination.PageSize))
	require.NoError(t, err)
	defer resp.Body.Close()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
		NextCursor string `json:"next_cursor"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	require.NotEmpty(t, page.NextCursor)
	require.NotEmpty(t, page.Data)
	return page.NextCursor, page.Data[len(page.Data)-1].ID
}

// With a codec key, Temporal's database holds neither the dataset's URL,
// nor a cursor, nor a record key; without one (the control) it holds the
// URL and the cursor in plain text, so the search does find them.
func TestEncryptedHistoryHoldsNoURLCursorOrKey(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		files, url, cursor, _ := secretsOfADemoSync(t, "")
		require.True(t, bytes.Contains(files, []byte(url)), "control: the URL is in the database in plain text")
		require.True(t, bytes.Contains(files, []byte(cursor)), "control: the cursor is in the database in plain text")
	})
	t.Run("encrypted", func(t *testing.T) {
		files, url, cursor, key := secretsOfADemoSync(t, codecKey("k1"))
		require.False(t, bytes.Contains(files, []byte(url)), "the dataset URL %s is in Temporal's database", url)
		require.False(t, bytes.Contains(files, []byte(cursor)), "the cursor %s is in Temporal's database", cursor)
		require.False(t, bytes.Contains(files, []byte(`"`+key+`"`)), "the record key %s is in Temporal's database", key)
		require.True(t, bytes.Contains(files, []byte(codec.Encoding)), "the payloads are there, encrypted")
	})
}

// A worker that lacks the key a sync's input was encrypted with fails the
// sync, once, as unrecoverable, naming the key ID: no workflow task retried
// for ever, no activity retried for ever.
func TestUnknownCodecKeyFailsTheSyncNamingTheKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startCodecServer(t, ctx)
	old, current := codecKey("old"), codecKey("current")
	// The starter encrypts with "old" and can read both keys (so it can
	// read the worker's failure); the worker has "current" only.
	starter := s.dial(t, newCodec(t, current+","+old))
	s.worker(t, ctx, s.dial(t, newCodec(t, current)))

	sc := syncclient.New(starter)
	ds := config.Dataset{ID: "orders", Source: source.Config{URL: "http://127.0.0.1:1/orders", Key: "id"}}
	run, err := sc.StartSync(ctx, "enc-unknown", ds, workflows.SyncOptions{}, "")
	require.NoError(t, err)
	_, err = sc.Wait(ctx, run)
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, sferrors.TypeUnrecoverable, app.Type())
	require.Contains(t, err.Error(), `key ID "old"`)
	require.Contains(t, err.Error(), "current", "the message lists the worker's keys")
	st, err := sc.Describe(ctx, "enc-unknown")
	require.NoError(t, err)
	require.Equal(t, syncclient.StatusFailed, st.Status, "the workflow closed: no crash loop")
}

// An activity worker that lacks the key its input was encrypted with fails
// the activity once, not retryable, naming the key ID: the SyncPages retry
// policy has no attempt limit, so a retryable failure would loop for ever.
// The workflow worker (keys old and new, encrypting with new) and the
// activity worker (old only) are separate so that the activity input is
// the only payload the activity worker cannot read.
func TestUnknownCodecKeyFailsTheActivityNamingTheKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startCodecServer(t, ctx)
	old, current := codecKey("old"), codecKey("new")
	starter := s.dial(t, newCodec(t, current+","+old)) // encrypts with old, reads both

	wfWorker := worker.New(s.dial(t, newCodec(t, old+","+current)), workflows.TaskQueue, worker.Options{})
	engine.RegisterWorkflows(wfWorker)
	require.NoError(t, wfWorker.Start())
	t.Cleanup(wfWorker.Stop)

	dest, err := engine.OpenSink(ctx, "sqlite://"+filepath.Join(t.TempDir(), "dest.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = dest.Close() })
	oldOnly := s.dial(t, newCodec(t, old))
	_, acts, err := engine.New(oldOnly, engine.Options{Sink: dest}) // for its activities only
	require.NoError(t, err)
	actWorker := worker.New(oldOnly, workflows.TaskQueue, worker.Options{})
	actWorker.RegisterActivity(acts)
	require.NoError(t, actWorker.Start())
	t.Cleanup(actWorker.Stop)

	sc := syncclient.New(starter)
	ds := config.Dataset{ID: "orders", Source: source.Config{URL: "http://127.0.0.1:1/orders", Key: "id"}}
	run, err := sc.StartSync(ctx, "enc-activity", ds, workflows.SyncOptions{}, "")
	require.NoError(t, err)
	_, err = sc.Wait(ctx, run)
	require.Error(t, err, "the sync fails instead of retrying the activity for ever")
	f, ok := syncclient.FinalFailure(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, sferrors.Unrecoverable, f.Class, "%v", err)
	require.Contains(t, err.Error(), `key ID "new"`)
}
