package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/syncflow/syncflow/internal/tools/modroot"
)

const fixture = "testdata/fixture"

func names(funcs []funcInfo) []string {
	out := make([]string, len(funcs))
	for i, f := range funcs {
		out[i] = f.String()
	}
	return out
}

func TestCollectFixture(t *testing.T) {
	funcs, err := collect(fixture, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a/a.go:12 T.Long 10",
		"b/b.go:4 mid 7",
		"b/b.go:13 tie 7",
		"a/a.go:27 G.Get 4",
		"a/a.go:4 short 3",
	}
	if got := names(funcs); !reflect.DeepEqual(got, want) {
		t.Errorf("collect(fixture) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCollectWithTests(t *testing.T) {
	funcs, err := collect(fixture, []string{"a"}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a/a_test.go:6 TestLong 12",
		"a/a.go:12 T.Long 10",
		"a/a.go:27 G.Get 4",
		"a/a.go:4 short 3",
	}
	if got := names(funcs); !reflect.DeepEqual(got, want) {
		t.Errorf("collect(fixture, a, tests) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCollectMissingDir(t *testing.T) {
	if _, err := collect(fixture, []string{"nope"}, false); err == nil {
		t.Error("collect of a missing directory: no error")
	}
}

func TestReportTop(t *testing.T) {
	funcs, err := collect(fixture, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report(&out, funcs, 2)
	want := "a/a.go:12 T.Long 10\nb/b.go:4 mid 7\n"
	if out.String() != want {
		t.Errorf("report top 2 = %q, want %q", out.String(), want)
	}
}

func TestCheck(t *testing.T) {
	funcs, err := collect(fixture, []string{"a", "b"}, false)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := check(&out, funcs, 7); code != 1 {
		t.Errorf("check max 7: exit %d, want 1", code)
	}
	if want := "a/a.go:12 T.Long 10: over 7 lines\n"; out.String() != want {
		t.Errorf("check max 7 printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if code := check(&out, funcs, 10); code != 0 || out.Len() != 0 {
		t.Errorf("check max 10: exit %d, output %q; want 0 and nothing", code, out.String())
	}
}

func TestParseFlags(t *testing.T) {
	opts, err := parseFlags([]string{"-max", "60", "-dirs", "workflows, activities,,errors", "extra"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := options{top: 20, max: 60, dirs: []string{"workflows", "activities", "errors", "extra"}}
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("parseFlags = %+v, want %+v", opts, want)
	}
}

// TestRepositoryLimit holds workflows/, activities/ and errors/ to 60 lines
// a function.
func TestRepositoryLimit(t *testing.T) {
	root, err := modroot.Find()
	if err != nil {
		t.Fatal(err)
	}
	funcs, err := collect(root, []string{"workflows", "activities", "errors"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range overLimit(funcs, 60) {
		t.Errorf("%s: over 60 lines; split it into named steps", f)
	}
}
