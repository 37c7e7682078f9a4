// Package secrets decides which ${NAME} references a worker may resolve and
// where their values may go (ARCHITECTURE.md §Data flow, "Secret binding").
//
// A worker's operator binds a name to the hosts that may receive its value:
// `--secret NAME=HOST[,HOST…]`, the environment variable SYNCFLOW_SECRETS
// (`NAME=HOST,HOST;NAME2=HOST`) and the worker's own configuration file. A
// task can only refer to names; the worker resolves one only for a request
// to a host the name is bound to, and only from its own environment.
//
// Host matching: a binding's host is compared with the request's host
// case-insensitively and exactly (no wildcards, no subdomains). A binding
// without a port matches any port of that host; a binding with a port
// (`api.example.com:8443`, `[::1]:8080`) matches only that port, the
// scheme's default port counting as given (https → 443, http → 80,
// postgres → 5432).
package secrets

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// EnvBindings is the environment variable holding bindings in Parse's syntax.
const EnvBindings = "SYNCFLOW_SECRETS"

// Bindings map a secret's name to the hosts its value may be sent to. Hosts
// are lower case, with a port only where the binding gives one.
type Bindings map[string][]string

// Parse reads bindings in the syntax of SYNCFLOW_SECRETS,
// `NAME=HOST[,HOST…][;NAME=HOST…]`; one `--secret` value is the same syntax
// with a single entry. Spaces around names, hosts and separators are
// ignored, empty entries skipped. Errors name the bad entry.
func Parse(spec string) (Bindings, error) {
	b := Bindings{}
	for entry := range strings.SplitSeq(spec, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, hosts, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("secret binding %q: want NAME=HOST[,HOST...]", entry)
		}
		if !ValidName(name) {
			return nil, fmt.Errorf("secret binding %q: %q is not a variable name (letters, digits and '_', not starting with a digit)", entry, name)
		}
		var list []string
		for h := range strings.SplitSeq(hosts, ",") {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			norm, err := normalizeHost(h)
			if err != nil {
				return nil, fmt.Errorf("secret binding %q: host %q: %v", entry, h, err)
			}
			list = append(list, norm)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("secret binding %q: no host: want NAME=HOST[,HOST...]", entry)
		}
		b.Add(name, list...)
	}
	return b, nil
}

// Host checks a binding's host (a host name or IP address with an optional
// port, IPv6 with a port in brackets) and returns it as bindings hold it.
func Host(h string) (string, error) { return normalizeHost(h) }

// Add binds name to hosts, which must already be normalized (as Parse and
// Host return them), keeping earlier bindings of name.
func (b Bindings) Add(name string, hosts ...string) {
	for _, h := range hosts {
		if !slices.Contains(b[name], h) {
			b[name] = append(b[name], h)
		}
	}
}

// Merge adds every binding of o to b.
func (b Bindings) Merge(o Bindings) {
	for name, hosts := range o {
		b.Add(name, hosts...)
	}
}

// String lists the bindings in Parse's syntax, sorted by name: safe to log,
// it holds names and hosts only.
func (b Bindings) String() string {
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + strings.Join(b[n], ",")
	}
	return strings.Join(parts, ";")
}

// normalizeHost checks a binding's host and returns it lower case: a host
// name or IP address, optionally with a port (IPv6 with a port in brackets).
func normalizeHost(h string) (string, error) {
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@ ") {
		return "", fmt.Errorf("want a host name or address with an optional port, not a URL")
	}
	name, port := splitHostPort(h)
	if name == "" {
		return "", fmt.Errorf("empty host name")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		return net.JoinHostPort(strings.ToLower(name), port), nil
	}
	return strings.ToLower(name), nil
}

// splitHostPort splits "host", "host:port", "[v6]:port", "[v6]" and a bare
// IPv6 address into host and port ("" when none).
func splitHostPort(h string) (host, port string) {
	if strings.HasPrefix(h, "[") {
		if hh, p, err := net.SplitHostPort(h); err == nil {
			return hh, p
		}
		return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ""
	}
	if strings.Count(h, ":") == 1 {
		hh, p, _ := strings.Cut(h, ":")
		return hh, p
	}
	return h, ""
}

// ValidName reports whether name is a portable environment variable name,
// the only names a ${NAME} reference may use.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Refs returns the names of the ${NAME} references in s, in order, with
// duplicates. Malformed references are skipped (validation reports them).
func Refs(s string) []string {
	var names []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return names
		}
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return names
		}
		if ValidName(rest[:j]) {
			names = append(names, rest[:j])
		}
		s = rest[j+1:]
	}
}

// lookupEnv is the default lookup: the process environment, an empty value
// counting as unset.
func lookupEnv(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}
