// Command archcheck holds the module's imports to the direction documented in
// ARCHITECTURE.md §Package map.
//
// That section holds a Markdown table with the columns "package", "what
// lives there" and "may import". A package cell names one or more packages
// by path relative to the module, comma-separated; a "may import" cell lists
// the module-internal packages they may import directly, comma-separated,
// "—" (or "-") for none, or "everything" for mains and test suites. Names
// may be in backticks.
//
// archcheck compares the table with the module-internal imports that
// `go list -json ./...` reports. Only the imports of non-test files count:
// tests may reach further (a test suite drives the whole stack). Each direct
// import must be listed: allowing X does not allow what X imports. It reports
// every import against the table, every package missing from the table,
// every row naming a package that does not exist and every "may import"
// entry that names neither a package nor a row (a typo), and exits 1 if
// there is any.
//
// Usage, from anywhere inside the module:
//
//	go run ./internal/tools/archcheck
//
// It also checks that README.md's layout table (section "How to find your
// way around") names every package and no path that does not exist.
//
// The test of this package runs the same check, so `go test ./...`
// enforces it.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/syncflow/syncflow/internal/tools/modroot"
)

func main() {
	os.Exit(run(os.Stdout, os.Stderr))
}

// run is main without the process around it.
func run(stdout, stderr io.Writer) int {
	problems, err := checkModule()
	if err != nil {
		fmt.Fprintln(stderr, "archcheck:", err)
		return 2
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}

// checkModule checks the module holding the working directory against its
// ARCHITECTURE.md.
func checkModule() ([]string, error) {
	root, err := modroot.Find()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(root, architectureFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	table, err := parseTable(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", architectureFile, err)
	}
	pkgs, err := listImports(root)
	if err != nil {
		return nil, err
	}
	readme, err := checkReadme(root, pkgs)
	if err != nil {
		return nil, err
	}
	return append(compare(table, pkgs), readme...), nil
}
