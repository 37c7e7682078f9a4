package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncflow/syncflow/codec"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/source"
)

// `starter demo` with SYNCFLOW_CODEC_KEYS encrypts its payloads, serves the
// codec for its Web UI and syncs exactly; Temporal's database holds no
// dataset URL. Bad key material is a usage error before anything starts.
func TestDemoEncrypted(t *testing.T) {
	key := make([]byte, codec.KeySize)
	_, _ = rand.Read(key)
	specs := []demoapi.DatasetSpec{{ID: "orders", Pagination: source.PaginationCursor, Total: 250}}
	dir := t.TempDir()
	inv := newInvocation([]string{codec.EnvKeys + "=demo1:" + base64.StdEncoding.EncodeToString(key)})
	inv.a.demoSpecs = specs
	r := inv.run("demo", "--db-dir", dir, "--port", "0", "--ui-port", "0", "--faults=false")
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "payloads encrypted with key demo1; codec server: http://127.0.0.1:")
	requireDemoData(t, dir, specs)

	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, "temporal.db") + suffix)
		if err == nil {
			files = append(files, b...)
		}
	}
	require.NotEmpty(t, files)
	require.False(t, bytes.Contains(files, []byte("/datasets/orders/records")), "a dataset URL is in Temporal's database")

	bad := runCLI([]string{codec.EnvKeys + "=demo1:c2hvcnQ="}, "demo", "--db-dir", t.TempDir(), "--port", "0", "--ui-port", "-1")
	require.Equal(t, exitUsage, bad.code, bad.stderr)
	require.Contains(t, bad.stderr, `SYNCFLOW_CODEC_KEYS: key 1 ("demo1"): 5 bytes, want 32`)
}
