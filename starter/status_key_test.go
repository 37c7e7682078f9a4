package main

import (
	"testing"

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
