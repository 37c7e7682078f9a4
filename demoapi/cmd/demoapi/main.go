// Command demoapi serves syncflow's deterministic demo source API: synthetic
// datasets over every pagination type, a server-side rate limit and optional
// fault injection, for the demo, tests and docker-compose.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/syncflow/syncflow/demoapi"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "demoapi:", err)
		os.Exit(2)
	}
}

// poisonFlag collects --poison DATASET:PAGE:STATUS values.
type poisonFlag map[string]demoapi.PoisonSpec

func (p poisonFlag) String() string { return "" }

func (p poisonFlag) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return fmt.Errorf("want DATASET:PAGE:STATUS, e.g. orders:3:422")
	}
	page, err1 := strconv.Atoi(parts[1])
	status, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("want DATASET:PAGE:STATUS with whole numbers, e.g. orders:3:422")
	}
	p[parts[0]] = demoapi.PoisonSpec{Page: page, Status: status}
	return nil
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("demoapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen   = fs.String("listen", "127.0.0.1:8080", "address to listen on (use :8080 in a container)")
		seed     = fs.Uint64("seed", 1, "seed of the synthetic records and of the fault draws: same seed, same run")
		p500     = fs.Float64("p500", 0, "probability of answering a record request with 500")
		p503     = fs.Float64("p503", 0, "probability of answering a record request with 503")
		pReset   = fs.Float64("preset", 0, "probability of resetting the connection without an answer")
		pTrunc   = fs.Float64("ptruncate", 0, "probability of sending half a body and closing the connection")
		maxFails = fs.Int("max-consecutive", demoapi.DefaultMaxConsecutive, "most injected faults in a row for one page request")
		latency  = fs.Duration("latency", 0, "delay before answering each record request, e.g. 50ms")
		tokenEnv = fs.String("token-env", "", "require the bearer token held by this environment variable (e.g. DEMOAPI_TOKEN); empty: no token")
		poison   = poisonFlag{}
		sizes    = recordsFlag{}
		limits   = limitFlag{}
	)
	fs.Var(poison, "poison", "make a page always fail: DATASET:PAGE:STATUS with STATUS 400 or 422 (repeatable)")
	fs.Var(sizes, "records", "serve N records in dataset ID instead of its default: ID=N (repeatable)")
	fs.Var(limits, "limit", "limit dataset ID to RPS requests per second, answering 429 beyond: ID=RPS[:BURST], 0 = unlimited (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: demoapi [flags]

Serves syncflow's demo source API:
  GET /datasets/{id}/records   a page of records (limit or page_size: default %d, max %d)
  GET /datasets                the datasets, their sizes and pagination types
  GET /datasets/{id}/stats     what the record endpoint of dataset id answered so far
  GET /healthz                 "ok"

Datasets:
`, demoapi.DefaultPageSize, demoapi.MaxPageSize)
		for _, d := range demoapi.DefaultDatasets() {
			limit := "unlimited"
			if d.RPS > 0 {
				limit = fmt.Sprintf("%g requests/s, burst %d", d.RPS, d.Burst)
			}
			fmt.Fprintf(fs.Output(), "  %-10s %5d records  %-12s %s\n", d.ID, d.Total, d.Pagination, limit)
		}
		fmt.Fprintf(fs.Output(), "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}

	datasets, err := applyOverrides(demoapi.DefaultDatasets(), sizes, limits)
	if err != nil {
		return err
	}
	opts := demoapi.Options{
		Seed:     *seed,
		Datasets: datasets,
		TokenEnv: *tokenEnv,
		Faults: demoapi.Faults{
			P500: *p500, P503: *p503, PReset: *pReset, PTruncate: *pTrunc,
			Latency: *latency, PoisonPage: poison, MaxConsecutive: *maxFails,
		},
	}
	if *tokenEnv != "" {
		opts.Faults.Token = getenv(*tokenEnv)
		if opts.Faults.Token == "" {
			return fmt.Errorf("--token-env %s: the environment variable is not set or empty", *tokenEnv)
		}
	}
	if *maxFails < 1 {
		return fmt.Errorf("--max-consecutive must be at least 1")
	}
	if err := opts.Validate(); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := demoapi.New(opts)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	base := "http://" + ln.Addr().String()
	log.Info("demoapi listening", "url", base, "seed", *seed, "token_required", opts.Faults.Token != "")
	for _, d := range srv.Datasets() {
		fmt.Fprintf(stdout, "%s%s\t%d records\t%s\n", base, d.Path, d.Total, d.Pagination)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("demoapi shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	for _, d := range srv.Datasets() {
		st := srv.Stats(d.ID)
		log.Info("dataset stats", "dataset", d.ID, "requests", st.Requests, "ok", st.OK,
			"rate_limited", st.RateLimited, "faults", fmt.Sprint(st.Faults))
	}
	return nil
}
