// Command healthcheck is the container health probe of syncflow's image, which has
// no shell, curl or wget. It GETs one URL and exits 0 when the answer is healthy,
// 1 otherwise, printing why:
//
//	healthcheck http://127.0.0.1:9090/healthz             # 2xx required
//	healthcheck -any-status http://127.0.0.1:8080/        # any HTTP answer will do
//
// docker-compose.yml uses it for the worker and the demo API.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	anyStatus := flag.Bool("any-status", false, "treat any HTTP response as healthy (the server is up and answering)")
	timeout := flag.Duration("timeout", 2*time.Second, "give up after this long")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: healthcheck [-any-status] [-timeout d] URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := probe(ctx, http.DefaultClient, flag.Arg(0), *anyStatus); err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		cancel()
		os.Exit(1)
	}
}

// probe GETs url and reports whether the answer counts as healthy: a 2xx status,
// or with anyStatus any status at all.
func probe(ctx context.Context, client *http.Client, url string, anyStatus bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health probe: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if !anyStatus && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return fmt.Errorf("health probe: GET %s: status %s", url, resp.Status)
	}
	return nil
}
