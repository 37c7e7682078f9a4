package source

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	body := `{"data": {"items": [{"id": 1}, {"id": "b", "x": [true, null]}]},
	  "meta": {"next_cursor": "abc", "n": 3, "esc\"aped": 1, "uni\u00e9": 2, "0": "zero-key"},
	  "dup": 1, "dup": 2, "a.b": 9}`
	tests := []struct {
		path      string
		want      string
		wantFound bool
	}{
		{"", strings.TrimSpace(body), true},
		{"data.items", `[{"id": 1}, {"id": "b", "x": [true, null]}]`, true},
		{"data.items.0.id", `1`, true},
		{"data.items.1.id", `"b"`, true},
		{"data.items.1.x.1", `null`, true},
		{"data.items.2", ``, false},
		{"data.items.id", ``, false},
		{"data.items.0.id.x", ``, false},
		{"meta.next_cursor", `"abc"`, true},
		{"meta.missing", ``, false},
		{"meta.0", `"zero-key"`, true},
		{`meta.esc"aped`, `1`, true},
		{"meta.unié", `2`, true},
		{"dup", `2`, true}, // last wins, as in encoding/json
		{"a.b", ``, false}, // dots always separate segments
		{"meta.n.0", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, found, err := lookup([]byte(body), tt.path)
			if err != nil {
				t.Fatalf("lookup(%q): %v", tt.path, err)
			}
			if found != tt.wantFound || string(got) != tt.want {
				t.Errorf("lookup(%q) = %q, %v; want %q, %v", tt.path, got, found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestScalarString(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{`"abc"`, "abc", true},
		{`"a\"b\u00e9"`, `a"bé`, true},
		{`42`, "42", true},
		{`-1.5e3`, "-1.5e3", true},
		{`12345678901234567890`, "12345678901234567890", true},
		{`null`, "", false},
		{`true`, "", false},
		{`{"a":1}`, "", false},
		{`[1]`, "", false},
	}
	for _, tt := range tests {
		got, ok := scalarString([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("scalarString(%s) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// genericLookup is the reference: encoding/json's decoding of the whole
// value, walked segment by segment.
func genericLookup(data []byte, path string) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if path == "" {
		return v, true
	}
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			n, ok := arrayIndex(seg)
			if !ok || n >= len(x) {
				return nil, false
			}
			v = x[n]
		default:
			return nil, false
		}
	}
	return v, true
}

func FuzzPath(f *testing.F) {
	f.Add([]byte(`{"data":{"items":[{"id":1},{"id":"x"}]}}`), "data.items.1.id")
	f.Add([]byte(`[1,[2,[3]]]`), "1.1.0")
	f.Add([]byte(`{"a\u002eb":{"":[]},"a":null}`), "a..")
	f.Add([]byte(`{"a":"\"}{]["}`), "a")
	f.Add([]byte(`{"a":[1,2`), "a.1")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		got, found, err := lookup(data, path) // must not panic on any input
		if !json.Valid(data) {
			return
		}
		if err != nil {
			t.Fatalf("lookup(%q, %q) on valid JSON: %v", data, path, err)
		}
		want, wantFound := genericLookup(data, path)
		if found != wantFound {
			t.Fatalf("lookup(%q, %q) found = %v, reference %v", data, path, found, wantFound)
		}
		if !found {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("lookup(%q, %q) = %q, not a JSON value", data, path, got)
		}
		gotV, _ := genericLookup(got, "")
		if !reflect.DeepEqual(gotV, want) {
			t.Fatalf("lookup(%q, %q) = %q, reference %v", data, path, got, want)
		}
	})
}
