package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/syncflow/syncflow/internal/tools/modroot"
)

func parseFixture(t *testing.T) table {
	t.Helper()
	f, err := os.Open("testdata/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := parseTable(f)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestParseTable(t *testing.T) {
	tbl := parseFixture(t)
	none := map[string]bool{}
	want := table{
		"leaf":       {line: 17, allowed: none},
		"mid":        {line: 18, allowed: map[string]bool{"leaf": true}},
		"mid/driver": {line: 18, allowed: map[string]bool{"leaf": true}},
		"mid2":       {line: 19, allowed: none},
		"top":        {line: 20, allowed: map[string]bool{"mid": true, "leaf": true, "mid/driver": true}},
		"cmd/tool":   {line: 21, anything: true},
	}
	if !reflect.DeepEqual(tbl, want) {
		t.Errorf("parseTable =\n%+v\nwant\n%+v", tbl, want)
	}
}

func TestParseTableErrors(t *testing.T) {
	header := "## Package map\n\n| package | what lives there | may import |\n|---|---|---|\n"
	tests := []struct{ name, doc, want string }{
		{"no section", "# Doc\n\n| package | what lives there | may import |\n|---|---|---|\n", "no table under"},
		{"no table", "## Package map\n\nprose\n## Next\n", "no table under"},
		{"no delimiter", "## Package map\n| package | what lives there | may import |\n| `a` | x | — |\n", "line 3: not a table delimiter row"},
		{"header only", "## Package map\n| package | what lives there | may import |\n", "needs a header and a delimiter row"},
		{"missing column", "## Package map\n| package | what lives there |\n|---|---|\n", `no "may import" column`},
		{"empty may import", header + "| `a` | x | |\n", `line 5: empty "may import" cell`},
		{"missing may import cell", header + "| `a` | x |\n", `line 5: empty "may import" cell`},
		{"no package", header + "| | x | — |\n", "line 5: no package named"},
		{"duplicate", header + "| `a` | x | — |\n| `b`, `a` | y | — |\n", "line 6: package a listed twice (first at line 5)"},
		{"none combined", header + "| `a` | x | `b`, — |\n", `"—" cannot be combined`},
		{"everything combined", header + "| `a` | x | everything, `b` |\n", `"everything" cannot be combined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTable(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseTable error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSplitRow(t *testing.T) {
	got := splitRow(`| a | b \| c |  |`)
	want := []string{"a", "b | c", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitRow = %q, want %q", got, want)
	}
}

func TestDecodeList(t *testing.T) {
	f, err := os.Open("testdata/golist.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := decodeList(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		".":    nil,
		"leaf": nil,
		"mid":  {"leaf"},
		"top":  {".", "leaf", "mid"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decodeList = %v, want %v", got, want)
	}
}

func TestDecodeListError(t *testing.T) {
	in := `{"ImportPath": "example.com/m/bad", "Module": {"Path": "example.com/m"}, "Error": {"Err": "syntax error"}}`
	if _, err := decodeList(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "example.com/m/bad: syntax error") {
		t.Errorf("decodeList error = %v, want the package's error", err)
	}
}

func TestCompare(t *testing.T) {
	tbl := parseFixture(t)
	pkgs := map[string][]string{
		"leaf":       nil,
		"mid":        {"leaf"},
		"mid/driver": {"leaf", "top"},      // top is not allowed
		"top":        {"leaf", "mid"},      // fine
		"cmd/tool":   {"leaf", "top", "x"}, // everything
		"x":          {"leaf"},             // not in the table
		// mid2 is listed but does not exist
	}
	want := []string{
		"mid/driver imports top, against ARCHITECTURE.md §Package map (line 18: may import leaf)",
		"x: package missing from the table in ARCHITECTURE.md §Package map; add a row for it",
		"mid2: listed in ARCHITECTURE.md §Package map (line 19) but there is no such package",
	}
	if got := compare(tbl, pkgs); !reflect.DeepEqual(got, want) {
		t.Errorf("compare =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCompareUnknownAllowed(t *testing.T) {
	tbl := table{"a": {line: 3, allowed: map[string]bool{"typo": true}}}
	want := []string{"a: may import typo (ARCHITECTURE.md line 3), which is not a package of the module"}
	if got := compare(tbl, map[string][]string{"a": nil}); !reflect.DeepEqual(got, want) {
		t.Errorf("compare = %q, want %q", got, want)
	}
}

func TestCompareClean(t *testing.T) {
	tbl := parseFixture(t)
	pkgs := map[string][]string{
		"leaf": nil, "mid": {"leaf"}, "mid/driver": nil, "mid2": nil,
		"top": {"leaf", "mid", "mid/driver"}, "cmd/tool": {"top"},
	}
	if got := compare(tbl, pkgs); len(got) != 0 {
		t.Errorf("compare of a clean module = %q, want nothing", got)
	}
}

// TestListImports runs go list on this module: the real input of the check.
func TestListImports(t *testing.T) {
	root, err := modroot.Find()
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := listImports(root)
	if err != nil {
		t.Fatal(err)
	}
	if imports, ok := pkgs["config"]; !ok || !slices.Contains(imports, "source") {
		t.Errorf("go list: config imports %v (listed %v), want source among them", imports, ok)
	}
	if imports, ok := pkgs["internal/tools/archcheck"]; !ok || !slices.Equal(imports, []string{"internal/tools/modroot"}) {
		t.Errorf("go list: internal/tools/archcheck imports %v (listed %v), want only internal/tools/modroot", imports, ok)
	}
}

// TestModuleImports holds the module to ARCHITECTURE.md §Package map.
func TestModuleImports(t *testing.T) {
	problems, err := checkModule()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestReadmeLayout checks the README layout check on a fixture: a package
// the table leaves out and a row naming a path that does not exist are both
// reported.
func TestReadmeLayout(t *testing.T) {
	doc := "# x\n\n## How to find your way around\n\n| path | what |\n| --- | --- |\n" +
		"| `a/`, `a/b` | x |\n| `gone/` | y |\n\n## Next\n\n| `c/` | not in the section |\n"
	paths, err := readmePaths(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{"a/b", "c"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := compareReadme(root, paths, map[string][]string{"a": nil, "a/b": nil, "c": nil})
	want := []string{
		"README.md:8: gone is in the layout table but does not exist",
		"c: package missing from the layout table in README.md (## How to find your way around)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("compareReadme = %q, want %q", got, want)
	}
}
