// Command topology runs the docker-compose.yml stack as real processes
// without Docker (package topology) until interrupted:
//
//	bash deploy/scripts/topology.sh      # or: go run ./tests/topology/cmd/topology
//
// It builds the binaries, starts every service in depends_on order, prints
// where each one listens and how to start a sync, and stops everything on
// Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/syncflow/syncflow/tests/topology"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "topology:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "directory for the run: binaries, databases, logs (default: a new one under the temporary directory)")
	flag.Parse()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "syncflow-topology-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	bin := filepath.Join(*dir, "bin")
	took, err := topology.Build(ctx, root, bin)
	if err != nil {
		return err
	}
	logf("topology: built in %v", took)
	up, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t, err := topology.Up(up, topology.Options{Root: root, Bin: bin, Dir: filepath.Join(*dir, "run"), Logf: logf})
	if err != nil {
		return err
	}
	defer t.Close()
	fmt.Printf(`
The compose stack runs (logs in %s):
  Temporal frontend   %s     (temporal --address %s workflow list)
  demo API            http://%s
  destination         postgres://syncflow:syncflow@%s/syncflow
  workers             %d
Start a sync:
  TEMPORAL_ADDRESS=%s SYNCFLOW_SINK='postgres://syncflow:${DESTINATION_PASSWORD}@%s/syncflow?sslmode=disable' \
  DESTINATION_PASSWORD=syncflow go run ./starter sync --config %s --dataset orders
Ctrl-C stops everything.
`, filepath.Join(*dir, "run", "logs"), t.Addr("temporal", "7233"), t.Addr("temporal", "7233"), t.Addr("demo-api", "8080"),
		t.Addr("destination", "5432"), len(t.Procs("worker")), t.Addr("temporal", "7233"), t.Addr("destination", "5432"),
		filepath.Join(*dir, "run", "files", "worker-config.yaml"))
	<-ctx.Done()
	logf("topology: stopping")
	return nil
}

// moduleRoot is the directory holding go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run it inside the syncflow module")
	}
	return filepath.Dir(gomod), nil
}
