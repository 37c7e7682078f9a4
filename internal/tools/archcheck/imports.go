package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
)

// listedPackage is the part of `go list -json` output archcheck reads.
type listedPackage struct {
	ImportPath string
	Imports    []string // of non-test files only
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

// listImports runs `go list -json ./...` in root and returns, per package
// path relative to the module, its module-internal imports (relative too).
func listImports(root string) (map[string][]string, error) {
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return decodeList(bytes.NewReader(out))
}

// decodeList reads a stream of `go list -json` objects.
func decodeList(r io.Reader) (map[string][]string, error) {
	dec := json.NewDecoder(r)
	pkgs := map[string][]string{}
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil {
			return nil, fmt.Errorf("go list: %s belongs to no module", p.ImportPath)
		}
		rel, ok := relative(p.Module.Path, p.ImportPath)
		if !ok {
			continue
		}
		pkgs[rel] = internalImports(p.Module.Path, p.Imports)
	}
}

// internalImports returns the module-internal imports among imports,
// relative to the module, sorted.
func internalImports(module string, imports []string) []string {
	var own []string
	for _, imp := range imports {
		if rel, ok := relative(module, imp); ok {
			own = append(own, rel)
		}
	}
	sort.Strings(own)
	return own
}

// relative returns path relative to module, "." for the module's root
// package; ok is false for a path outside the module.
func relative(module, path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}
