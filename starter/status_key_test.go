package main

import (
	"testing"

	"github.com/syncflow/syncflow/config"
	"github.com/syncflow/syncflow/demoapi"
	"github.com/syncflow/syncflow/syncclient"
	"github.com/syncflow/syncflow/workflows"
)

// starter status shows a running task's effective rate-limit key, shared
// or not (README §Authentication, timeouts and shared budgets).
func TestStatusRowsShowRateLimitKey(t *testing.T) {
	st := statusJSON{Status: syncclient.Status{Progress: &workflows.Progress{RateLimitKey: "api.example.com.SHOP_TOKEN"}}}
	for _, row := range statusRows(st) {
		if row[0] == "  rate-limit key:" && row[1] == "api.example.com.SHOP_TOKEN" {
			return
		}
	}
	t.Fatalf("no rate-limit key row in %v", statusRows(st))
}

// The demo API limits each dataset on its own: its datasets keep separate
// budgets although they all send the demo token.
func TestDemoDatasetsKeepTheirOwnKeys(t *testing.T) {
	api := demoapi.New(demoapi.Options{Faults: demoapi.Faults{Token: "t0k"}})
	seen := map[string]bool{}
	for _, spec := range demoapi.DefaultDatasets() {
		ds := config.Dataset{ID: spec.ID, Source: api.SourceConfig("http://127.0.0.1:1", spec.ID), RateLimit: demoRate(spec)}
		if ds.Source.Headers == nil {
			t.Fatalf("%s sends no token: the test checks nothing", spec.ID)
		}
		if seen[ds.LimitKey()] {
			t.Errorf("%s shares key %q", spec.ID, ds.LimitKey())
		}
		seen[ds.LimitKey()] = true
	}
}
