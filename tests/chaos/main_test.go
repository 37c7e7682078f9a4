// Package chaos_test kills, interrupts and restarts real processes in the
// middle of syncs and checks that every sync still completes with exactly the
// source's records (ARCHITECTURE.md §Sink protocol: a page is committed atomically with its
// cursor, so re-running a page after any crash is harmless).
//
// TestMain builds the worker binary once; each test runs it as subprocesses
// (`worker --dev` hosting the embedded Temporal server on a SQLite file, or
// plain workers against a server), serves the demo API from the test process
// and drives syncs through syncclient. Everything listens on loopback.
//
//	go test -count=1 ./chaos/
//
// TestDestinationRestartMidSync also needs PostgreSQL (see postgres_test.go):
//
//	eval "$(bash .ci/postgres.sh | grep '^export ')"
package chaos_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// workerBin is the worker binary TestMain built (also with -short: the
// chaos tests check correctness, which -short does not skip).
var workerBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "syncflow-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: find the module root:", err)
		return 1
	}
	bin := filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", bin, "./worker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: FAIL: `go build -o %s ./worker` in %s: %v\n%s", bin, root, err, out)
		return 1
	}
	workerBin = bin
	return m.Run()
}

// moduleRoot is the directory holding go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// needWorker fails t when TestMain built no worker binary.
func needWorker(t *testing.T) {
	t.Helper()
	if workerBin == "" {
		t.Fatal("no worker binary: TestMain did not build it")
	}
}
