package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// readmeFile and readmeHeading locate README's layout table, which must name
// every package of the module (its first column, in backticks).
const (
	readmeFile    = "README.md"
	readmeHeading = "## How to find your way around"
)

// backticked finds `names` in a table cell.
var backticked = regexp.MustCompile("`([^`]+)`")

// readmePaths returns the backticked paths of the first column of the
// layout section's tables, with any trailing "/" removed, and the line of
// each.
func readmePaths(r io.Reader) (map[string]int, error) {
	sc := bufio.NewScanner(r)
	paths := map[string]int{}
	in := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") && headingLevel(line) <= 2 {
			in = strings.EqualFold(line, readmeHeading)
			continue
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := splitRow(line)
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			paths[strings.TrimSuffix(m[1], "/")] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no layout table under %q", readmeHeading)
	}
	return paths, nil
}

// compareReadme reports every package the README's layout table does not
// name, and every named path that does not exist under root.
func compareReadme(root string, paths map[string]int, pkgs map[string][]string) []string {
	var problems []string
	for pkg := range pkgs {
		if _, ok := paths[pkg]; !ok {
			problems = append(problems, fmt.Sprintf("%s: package missing from the layout table in %s (%s)", pkg, readmeFile, readmeHeading))
		}
	}
	for p, line := range paths {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %s is in the layout table but does not exist", readmeFile, line, p))
		}
	}
	sort.Strings(problems)
	return problems
}

// checkReadme checks README's layout table against the module's packages.
func checkReadme(root string, pkgs map[string][]string) ([]string, error) {
	f, err := os.Open(filepath.Join(root, readmeFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	paths, err := readmePaths(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", readmeFile, err)
	}
	return compareReadme(root, paths, pkgs), nil
}
