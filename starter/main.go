// Command starter is syncflow's operator CLI: it starts, follows, cancels and
// lists syncs and batches on Temporal, and runs the all-in-one demo.
//
//	go run ./starter demo                       # everything in one process
//	go run ./starter sync --config syncflow.yaml --dataset orders
//	go run ./starter batch --config syncflow.yaml
//	go run ./starter status sync-orders
//	go run ./starter list
//	go run ./starter cancel sync-orders
//	source <(go run ./starter completion bash)   # or zsh, fish, powershell
//
// It connects to Temporal like every Temporal tool (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables and profiles); run
// `starter help` for every command and its flags.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
