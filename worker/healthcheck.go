package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/syncflow/syncflow/internal/metrics"
)

// runHealthcheck is `worker healthcheck`: it GETs a running worker's
// /healthz and fails unless the answer is 200. The container image has no
// curl, so docker-compose calls this.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker healthcheck", flag.ContinueOnError)
	var errBuf strings.Builder
	fs.SetOutput(&errBuf)
	addr := fs.String("addr", defaultMetrics, "the worker's --metrics `ADDR` (host:port or URL)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: worker healthcheck [--addr ADDR] [--timeout D]\n\nExits 0 when the worker's /healthz answers 200, 1 otherwise.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return flag.ErrHelp
		}
		return usageError{fmt.Errorf("healthcheck: %w", err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))}
	}

	url := *addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	url = strings.TrimSuffix(url, "/") + metrics.HealthPath

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: status %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "healthy: %s\n", strings.TrimSpace(string(body)))
	return nil
}
