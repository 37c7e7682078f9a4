package source

import (
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		wantOK bool
	}{
		{"none", nil, "", false},
		{"simple", []string{`<https://api.test/items?page=2>; rel="next"`}, "https://api.test/items?page=2", true},
		{"unquoted rel", []string{`</items?page=2>; rel=next`}, "/items?page=2", true},
		{"github style", []string{`<https://api.test/r?page=1>; rel="prev", <https://api.test/r?page=3>; rel="next", <https://api.test/r?page=9>; rel="last"`}, "https://api.test/r?page=3", true},
		{"several rel types", []string{`</p3>; rel="last next"`}, "/p3", true},
		{"case-insensitive", []string{`</p3>; REL="Next"`}, "/p3", true},
		{"several headers", []string{`</first>; rel="first"`, `</p2>; rel="next"`}, "/p2", true},
		{"other params first", []string{`</p2>; title="a, b; c"; rel="next"`}, "/p2", true},
		{"escaped quote in param", []string{`</p1>; title="say \"next\""; rel="prev", </p2>; rel="next"`}, "/p2", true},
		{"whitespace", []string{"  < /p2 >\t;\trel = \"next\" "}, "/p2", true},
		{"next-archive is not next", []string{`</a>; rel="next-archive"`}, "", false},
		{"prev only", []string{`</a>; rel="prev"`}, "", false},
		{"malformed first value, good second", []string{`garbage`, `</p2>; rel="next"`}, "/p2", true},
		{"unterminated target", []string{`</p2; rel="next"`}, "", false},
		{"unterminated quote", []string{`</p2>; rel="next`}, "", false},
		{"anchor param", []string{`</p2>; anchor="#x"; rel="next"`}, "/p2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := nextLink(tt.values)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("nextLink(%q) = %q, %v; want %q, %v", tt.values, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzParseLink(f *testing.F) {
	f.Add(`<https://api.test/r?page=3>; rel="next", <https://api.test/r?page=9>; rel="last"`)
	f.Add(`</p3>; rel="prev next"; title="a, \"b\""`)
	f.Add(`<>; rel=next`)
	f.Add(`<a>;;;rel=`)
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := nextLink([]string{v})
		if !ok {
			if got != "" {
				t.Fatalf("nextLink(%q) = %q but not ok", v, got)
			}
			return
		}
		if strings.Contains(got, ">") || !strings.Contains(v, got) {
			t.Fatalf("nextLink(%q) = %q, not a <target> of the input", v, got)
		}
		if !strings.Contains(strings.ToLower(v), "next") {
			t.Fatalf("nextLink(%q) = %q without any rel next", v, got)
		}
		// A well-formed link put in front of the value must not change
		// the answer unless it is itself a next link.
		got2, ok2 := nextLink([]string{`</other>; rel="prev"`, v})
		if !ok2 || got2 != got {
			t.Fatalf("nextLink with a prev link before %q = %q, %v; want %q", v, got2, ok2, got)
		}
	})
}
