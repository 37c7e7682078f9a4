package secrets

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	b, err := Parse(" A_TOKEN = API.example.com , other:8443 ; B=[::1]:8080;;C=::1 ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "A_TOKEN=api.example.com,other:8443;B=[::1]:8080;C=::1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, bad := range []struct{ spec, want string }{
		{"A", `"A": want NAME=HOST`},
		{"1A=h", `"1A" is not a variable name`},
		{"A=", `"A=": no host`},
		{"A=https://h", `not a URL`},
		{"A=h:0", `port "0"`},
		{"A=h/x", `not a URL`},
		{"OK=h;B=h:x", `secret binding "B=h:x"`},
	} {
		_, err := Parse(bad.spec)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", bad.spec, err, bad.want)
		}
	}
}

func TestResolve(t *testing.T) {
	b, _ := Parse("TOK=api.example.com;PORTED=db:5433;EMPTY=h")
	env := map[string]string{"TOK": "v4lue", "PORTED": "p0rt"}
	r := New(b, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	for _, c := range []struct {
		name, host, want string
		reason           Reason
	}{
		{"TOK", "API.Example.com:443", "v4lue", 0},
		{"TOK", "api.example.com:8080", "v4lue", 0},
		{"TOK", "api.example.com.evil:443", "", OtherHost},
		{"TOK", "evil.com:443", "", OtherHost},
		{"PORTED", "db:5433", "p0rt", 0},
		{"PORTED", "db:5432", "", OtherHost},
		{"EMPTY", "h:80", "", Unset},
		{"NOPE", "h:80", "", Unbound},
	} {
		v, err := r.Resolve(c.name, c.host)
		var e *Error
		switch {
		case c.reason == 0 && (err != nil || v != c.want):
			t.Errorf("Resolve(%s, %s) = %q, %v; want %q", c.name, c.host, v, err, c.want)
		case c.reason != 0 && (!errors.As(err, &e) || e.Reason != c.reason || v != ""):
			t.Errorf("Resolve(%s, %s) = %q, %v; want reason %d", c.name, c.host, v, err, c.reason)
		case c.reason != 0:
			msg := err.Error()
			if !strings.Contains(msg, "${"+c.name+"}") || !strings.Contains(msg, c.host) || strings.Contains(msg, "v4lue") || strings.Contains(msg, "p0rt") {
				t.Errorf("message %q must name the variable and host and no value", msg)
			}
			if c.reason != Unset && !strings.Contains(msg, "--secret "+c.name+"=") {
				t.Errorf("message %q does not say how to bind", msg)
			}
		}
	}
	var nilR *Resolver
	if _, err := nilR.Resolve("TOK", "api.example.com"); err == nil {
		t.Error("a nil resolver resolved a name")
	}
}

func TestExpand(t *testing.T) {
	b, _ := Parse("A=h;B=h")
	r := New(b, func(k string) (string, bool) { return strings.ToLower(k) + "!", true })
	got, err := r.Expand("x ${A}-${B} $C", "h:1")
	if err != nil || got != "x a!-b! $C" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	if _, err := r.Expand("${A", "h"); err == nil {
		t.Error("unterminated reference accepted")
	}
	if _, err := r.Expand("${A}${Z}", "h"); err == nil || !strings.Contains(err.Error(), "${Z}") {
		t.Errorf("unbound reference: %v", err)
	}
}

func TestDSNHost(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://app:${PG_PASSWORD}@DB:5432/sync":           "db:5432",
		"postgres://app:p/w@x:y@db/sync?sslmode=disable":       "db:5432",
		"postgresql://u@[::1]:6000/x":                          "[::1]:6000",
		"host=db.internal port=6432 password='${PG} x' user=a": "db.internal:6432",
		"host=db password=${PG}":                               "db:5432",
		"sqlite:///data/x.db":                                  "",
		"sqlite://.syncflow/data.db":                           "",
	} {
		if got := DSNHost(dsn); got != want {
			t.Errorf("DSNHost(%q) = %q, want %q", dsn, got, want)
		}
	}
	b, _ := Parse("PG=db")
	r := New(b, func(string) (string, bool) { return "s3cret", true })
	got, err := r.ExpandDSN("postgres://app:${PG}@db:5432/sync")
	if err != nil || got != "postgres://app:s3cret@db:5432/sync" {
		t.Errorf("ExpandDSN = %q, %v", got, err)
	}
	if _, err := r.ExpandDSN("postgres://app:${PG}@elsewhere/sync"); err == nil {
		t.Error("a DSN secret was resolved for another host")
	}
}

func TestURLHost(t *testing.T) {
	for raw, want := range map[string]string{
		"https://API.example.com/x": "api.example.com:443",
		"http://127.0.0.1:8080/":    "127.0.0.1:8080",
		"http://[::1]/":             "[::1]:80",
	} {
		u, _ := url.Parse(raw)
		if got := URLHost(u); got != want {
			t.Errorf("URLHost(%s) = %q, want %q", raw, got, want)
		}
	}
}
