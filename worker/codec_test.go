package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// temporalCLI finds the temporal CLI v1.5.1 (.ci/run installs it with go
// install); CI must have it, elsewhere the test is skipped.
func temporalCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "temporal")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "the temporal CLI is not installed: go install github.com/temporalio/cli/cmd/temporal@v1.5.1"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// `worker --dev --codec-addr` with keys and a token: the embedded Web UI is
// configured with the codec endpoint; the endpoint refuses a missing or
// wrong token and a foreign origin, answers the UI's origin; the temporal
// CLI shows a sync's input decoded through --codec-endpoint, and encrypted
// without it.
func TestDevWorkerServesTheCodec(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	key := make([]byte, codec.KeySize)
	_, _ = rand.Read(key)
	keys := "k1:" + base64.StdEncoding.EncodeToString(key)
	env := map[string]string{codec.EnvKeys: keys, codec.EnvToken: "tok-123"}
	devPort, uiPort, codecPort := freePort(t), freePort(t), freePort(t)
	codecURL := "http://127.0.0.1:" + strconv.Itoa(codecPort)
	uiURL := "http://127.0.0.1:" + strconv.Itoa(uiPort)
	var logs syncBuffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"--dev", "--dev-port", strconv.Itoa(devPort), "--ui-port", strconv.Itoa(uiPort),
			"--dev-db", filepath.Join(dir, "temporal.db"), "--sink", "sqlite://" + filepath.Join(dir, "data.db"),
			"--metrics", "", "--codec-addr", ":" + strconv.Itoa(codecPort)}, envOf(env), &logs, &logs)
	}()
	defer func() {
		stop()
		require.NoError(t, <-done)
		if t.Failed() {
			t.Logf("worker output:\n%s", logs.String())
		}
	}()
	frontend := "127.0.0.1:" + strconv.Itoa(devPort)
	c := dialWhenRunning(t, ctx, frontend, keys, &logs, done)

	// The embedded UI was started with our codec endpoint.
	var settings struct{ Codec struct{ Endpoint string } }
	getJSON(t, uiURL+"/api/v1/settings", &settings)
	require.Equal(t, codecURL, settings.Codec.Endpoint)

	requireCodecGuards(t, codecURL, uiURL)

	// A sync with a recognisable URL, read back through the temporal CLI.
	api := demoapi.New(demoapi.Options{Datasets: []demoapi.DatasetSpec{{ID: "tiny", Pagination: source.PaginationCursor, Total: 5}}})
	src := httptest.NewServer(api)
	defer src.Close()
	ds := config.Dataset{ID: "tiny", Source: api.SourceConfig(src.URL, "tiny")}
	sc := syncclient.New(c)
	run, err := sc.StartSync(ctx, "codec-cli", ds, workflows.SyncOptions{}, "")
	require.NoError(t, err)
	_, err = sc.Wait(ctx, run)
	require.NoError(t, err)

	cli := temporalCLI(t)
	show := func(extra ...string) string {
		args := append([]string{"workflow", "show", "--workflow-id", "codec-cli", "--address", frontend, "--output", "json"}, extra...)
		out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
		require.NoError(t, err, "temporal %s: %s", strings.Join(args, " "), out)
		return payloadData(t, out)
	}
	require.NotContains(t, show(), ds.Source.URL, "without the codec the CLI sees ciphertext")
	require.Contains(t, show("--codec-endpoint", codecURL, "--codec-auth", "Bearer tok-123"), ds.Source.URL,
		"through --codec-endpoint the CLI shows the decoded input")
}

// dialWhenRunning connects with the codec's converters once the worker
// logged that it runs (the dev server, its UI and the codec server are up),
// failing if the worker exits first.
func dialWhenRunning(t *testing.T, ctx context.Context, frontend, keys string, logs *syncBuffer, done <-chan error) client.Client {
	t.Helper()
	cdc, err := codec.FromEnv(func(k string) (string, bool) { return keys, k == codec.EnvKeys })
	require.NoError(t, err)
	opts := client.Options{HostPort: frontend}
	cdc.Apply(&opts)
	for {
		select {
		case err := <-done:
			t.Fatalf("worker exited: %v", err)
		case <-ctx.Done():
			t.Fatal("the dev server did not come up")
		case <-time.After(200 * time.Millisecond):
		}
		if !strings.Contains(logs.String(), `msg="worker running"`) {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := client.DialContext(dctx, opts)
		cancel()
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
	}
}

// requireCodecGuards checks the codec endpoint's token and origin rules.
func requireCodecGuards(t *testing.T, codecURL, uiURL string) {
	t.Helper()
	body := `{"payloads":[]}`
	post := func(method, auth, origin string) *http.Response {
		req, err := http.NewRequest(method, codecURL+"/decode", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusUnauthorized, post(http.MethodPost, "", "").StatusCode, "no token")
	require.Equal(t, http.StatusUnauthorized, post(http.MethodPost, "Bearer wrong", "").StatusCode, "wrong token")
	require.Equal(t, http.StatusForbidden, post(http.MethodPost, "Bearer tok-123", "http://evil.example:8233").StatusCode, "foreign origin")
	require.Equal(t, http.StatusForbidden, post(http.MethodOptions, "", "http://evil.example:8233").StatusCode, "foreign preflight")
	pre := post(http.MethodOptions, "", uiURL)
	require.Equal(t, http.StatusNoContent, pre.StatusCode, "the UI's preflight")
	require.Equal(t, uiURL, pre.Header.Get("Access-Control-Allow-Origin"))
	ok := post(http.MethodPost, "Bearer tok-123", uiURL)
	require.Equal(t, http.StatusOK, ok.StatusCode)
	require.Equal(t, uiURL, ok.Header.Get("Access-Control-Allow-Origin"))
}

// payloadData is the text of every payload's data in the JSON output of
// `temporal workflow show`, base64-decoded.
func payloadData(t *testing.T, out []byte) string {
	t.Helper()
	var b strings.Builder
	for _, m := range regexp.MustCompile(`"data":\s*"([^"]*)"`).FindAllSubmatch(out, -1) {
		raw, err := base64.StdEncoding.DecodeString(string(m[1]))
		require.NoError(t, err)
		b.Write(raw)
		b.WriteByte('\n')
	}
	require.NotEmpty(t, b.String(), "no payload in %s", out)
	return b.String()
}

// getJSON GETs url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, b.String())
	require.NoError(t, json.Unmarshal(b.Bytes(), v), b.String())
}
