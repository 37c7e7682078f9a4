package main

import (
	"fmt"
	"sort"
)

// compare returns one message per breach of t by pkgs (package → its
// module-internal imports, all relative to the module), sorted by package.
func compare(t table, pkgs map[string][]string) []string {
	var problems []string
	for _, p := range sortedKeys(pkgs) {
		r, listed := t[p]
		if !listed {
			problems = append(problems, fmt.Sprintf("%s: package missing from the table in %s §Package map; add a row for it", p, architectureFile))
			continue
		}
		for _, imp := range pkgs[p] {
			if !r.anything && !r.allowed[imp] {
				problems = append(problems, fmt.Sprintf("%s imports %s, against %s §Package map (line %d: may import %s)", p, imp, architectureFile, r.line, r.allowedList()))
			}
		}
	}
	for _, p := range sortedKeys(t) {
		r := t[p]
		if _, exists := pkgs[p]; !exists {
			problems = append(problems, fmt.Sprintf("%s: listed in %s §Package map (line %d) but there is no such package", p, architectureFile, r.line))
		}
		for _, a := range sortedKeys(r.allowed) {
			_, exists := pkgs[a]
			_, row := t[a] // a row of its own is reported above
			if !exists && !row {
				problems = append(problems, fmt.Sprintf("%s: may import %s (%s line %d), which is not a package of the module", p, a, architectureFile, r.line))
			}
		}
	}
	return problems
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
