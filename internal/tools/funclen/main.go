// Command funclen reports the longest functions of the module and enforces a
// length limit on chosen directories.
//
// A function's length is the number of source lines from its "func" keyword
// to its closing brace, both included; its doc comment does not count.
// Function literals count towards the declaration that contains them. Only
// declarations are measured, methods are named Type.Method.
//
// Usage:
//
//	go run ./internal/tools/funclen [-top N] [-tests] [dir ...]
//	go run ./internal/tools/funclen -max 60 -dirs workflows,activities,errors
//
// Without arguments it walks the whole module (the directory holding go.mod,
// found from the working directory upwards). Directories named testdata or
// vendor, and those starting with "." or "_", are skipped.
//
// Test files (*_test.go) are left out unless -tests is given, in both modes:
// tests are mostly tables of cases, whose length is data rather than logic,
// and the limit is about the code that runs in production.
//
// In report mode (the default) it prints the -top longest functions, longest
// first, as "file:line name lines". With -max N it checks instead: it prints
// every function longer than N lines under the -dirs directories (relative to
// the module root, comma-separated; the whole module if empty) and exits 1 if
// there is any.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/syncflow/syncflow/internal/tools/modroot"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command-line flags.
type options struct {
	top   int
	max   int
	tests bool
	dirs  []string
}

// run is main without the process around it, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	root, err := modroot.Find()
	if err != nil {
		fmt.Fprintln(stderr, "funclen:", err)
		return 2
	}
	funcs, err := collect(root, opts.dirs, opts.tests)
	if err != nil {
		fmt.Fprintln(stderr, "funclen:", err)
		return 2
	}
	if opts.max > 0 {
		return check(stdout, funcs, opts.max)
	}
	report(stdout, funcs, opts.top)
	return 0
}

// parseFlags reads the flags; positional arguments are added to -dirs.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opts options
	var dirs string
	fset := flag.NewFlagSet("funclen", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.IntVar(&opts.top, "top", 20, "number of functions to report")
	fset.IntVar(&opts.max, "max", 0, "check mode: fail on functions longer than this many lines")
	fset.BoolVar(&opts.tests, "tests", false, "include _test.go files")
	fset.StringVar(&dirs, "dirs", "", "comma-separated directories relative to the module root")
	if err := fset.Parse(args); err != nil {
		return opts, err
	}
	opts.dirs = append(splitList(dirs), fset.Args()...)
	return opts, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// funcInfo is one measured function declaration.
type funcInfo struct {
	File  string // slash-separated, relative to the root
	Line  int
	Name  string
	Lines int
}

// String renders f as "file:line name lines", the tool's output line.
func (f funcInfo) String() string {
	return fmt.Sprintf("%s:%d %s %d", f.File, f.Line, f.Name, f.Lines)
}

// collect measures every function under root/dir for each of dirs (root
// itself if dirs is empty), longest first; ties are ordered by file and line.
func collect(root string, dirs []string, tests bool) ([]funcInfo, error) {
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	var funcs []funcInfo
	for _, dir := range dirs {
		found, err := walk(root, filepath.Join(root, filepath.FromSlash(dir)), tests)
		if err != nil {
			return nil, err
		}
		funcs = append(funcs, found...)
	}
	sort.SliceStable(funcs, func(i, j int) bool {
		a, b := funcs[i], funcs[j]
		if a.Lines != b.Lines {
			return a.Lines > b.Lines
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return funcs, nil
}

// walk measures the Go files under dir, naming them relative to root.
func walk(root, dir string, tests bool) ([]funcInfo, error) {
	var funcs []funcInfo
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !wantFile(d.Name(), tests) {
			return nil
		}
		found, err := measureFile(root, path)
		funcs = append(funcs, found...)
		return err
	})
	return funcs, err
}

// skipDir reports whether a directory is outside what the go tool builds.
func skipDir(name string) bool {
	return name == "testdata" || name == "vendor" ||
		strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// wantFile reports whether a file is Go source to measure.
func wantFile(name string, tests bool) bool {
	if !strings.HasSuffix(name, ".go") {
		return false
	}
	return tests || !strings.HasSuffix(name, "_test.go")
}

// measureFile parses one file and measures its function declarations.
func measureFile(root, path string) ([]funcInfo, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return nil, err
	}
	var funcs []funcInfo
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
		funcs = append(funcs, funcInfo{
			File:  filepath.ToSlash(rel),
			Line:  start,
			Name:  funcName(fn),
			Lines: end - start + 1,
		})
	}
	return funcs, nil
}

// funcName is the function's name, prefixed by its receiver type for methods.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	return recvType(fn.Recv.List[0].Type) + "." + fn.Name.Name
}

// recvType names a receiver type without pointer or type parameters.
func recvType(expr ast.Expr) string {
	switch t := expr.(type) {
	case *ast.StarExpr:
		return recvType(t.X)
	case *ast.IndexExpr:
		return recvType(t.X)
	case *ast.IndexListExpr:
		return recvType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

// report prints the top longest functions of funcs, which is sorted.
func report(w io.Writer, funcs []funcInfo, top int) {
	if top >= 0 && top < len(funcs) {
		funcs = funcs[:top]
	}
	for _, f := range funcs {
		fmt.Fprintln(w, f)
	}
}

// overLimit returns the functions of funcs longer than max lines.
func overLimit(funcs []funcInfo, max int) []funcInfo {
	var over []funcInfo
	for _, f := range funcs {
		if f.Lines > max {
			over = append(over, f)
		}
	}
	return over
}

// check prints every function over max lines and returns the exit code: 1 if
// there was any, 0 otherwise.
func check(w io.Writer, funcs []funcInfo, max int) int {
	over := overLimit(funcs, max)
	for _, f := range over {
		fmt.Fprintf(w, "%s: over %d lines\n", f, max)
	}
	if len(over) > 0 {
		return 1
	}
	return 0
}
