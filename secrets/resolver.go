package secrets

import (
	"fmt"
	"net/url"
	"strings"
)

// Reason is why a reference was not resolved.
type Reason int

// The reasons of an Error.
const (
	// Unbound: the operator bound the name to no host.
	Unbound Reason = iota + 1
	// OtherHost: the name is bound, but not to the request's host.
	OtherHost
	// Unset: the name is bound to the host but has no value in the
	// worker's environment.
	Unset
)

// Error is a ${NAME} reference the worker refused or could not resolve for
// a host. Its message names the variable and the host, never a value, and
// says how to fix it. Nothing was sent.
type Error struct {
	Name   string   // the variable
	Host   string   // the host the value was to be sent to
	Reason Reason   // why it was not resolved
	Bound  []string // the hosts Name is bound to (OtherHost)
}

func (e *Error) Error() string {
	host := hostName(e.Host)
	bind := fmt.Sprintf("bind it on the worker with --secret %s=%s or %s=\"%s=%s\"", e.Name, host, EnvBindings, e.Name, host)
	switch e.Reason {
	case OtherHost:
		return fmt.Sprintf("secret ${%s} is bound to %s, not to host %s: nothing was sent; to allow %s, %s",
			e.Name, strings.Join(e.Bound, ","), e.Host, host, bind)
	case Unset:
		return fmt.Sprintf("secret ${%s} is bound to host %s but is not set in the worker's environment: nothing was sent; set %s where the worker runs",
			e.Name, e.Host, e.Name)
	default:
		return fmt.Sprintf("secret ${%s} is not bound to any host, so the worker does not send it to host %s: nothing was sent; %s",
			e.Name, e.Host, bind)
	}
}

// Resolver resolves ${NAME} references for a host: only names bound to the
// host, only from its lookup. A nil *Resolver resolves nothing. It is safe
// for concurrent use; values are looked up at every call, so a rotated
// secret takes effect at the next request.
type Resolver struct {
	bindings Bindings
	lookup   func(string) (string, bool)
}

// New returns a Resolver of b (copied) reading values through lookup; a nil
// lookup reads the process environment, an empty value counting as unset.
func New(b Bindings, lookup func(string) (string, bool)) *Resolver {
	cp := Bindings{}
	cp.Merge(b)
	if lookup == nil {
		lookup = lookupEnv
	}
	return &Resolver{bindings: cp, lookup: lookup}
}

// Bindings returns a copy of the resolver's bindings.
func (r *Resolver) Bindings() Bindings {
	cp := Bindings{}
	if r != nil {
		cp.Merge(r.bindings)
	}
	return cp
}

// Resolve returns the value of name for a request to host ("name" or
// "name:port", as in a URL; give the scheme's default port explicitly for
// port-bound bindings to match). The error is an *Error.
func (r *Resolver) Resolve(name, host string) (string, error) {
	var bound []string
	if r != nil {
		bound = r.bindings[name]
	}
	if len(bound) == 0 {
		return "", &Error{Name: name, Host: host, Reason: Unbound}
	}
	if !matchAny(bound, host) {
		return "", &Error{Name: name, Host: host, Reason: OtherHost, Bound: append([]string(nil), bound...)}
	}
	v, ok := r.lookup(name)
	if !ok {
		return "", &Error{Name: name, Host: host, Reason: Unset}
	}
	return v, nil
}

// Expand replaces every ${NAME} in s with Resolve(NAME, host). It fails on
// the first reference it may not resolve (an *Error) or on a malformed one
// (a plain error naming no value); a "$" not followed by "{" is literal.
func (r *Resolver) Expand(s, host string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", fmt.Errorf(`"${" is not closed by "}"`)
		}
		name := rest[:j]
		if !ValidName(name) {
			return "", fmt.Errorf("invalid variable name %q in ${...}", name)
		}
		v, err := r.Resolve(name, host)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		s = rest[j+1:]
	}
	b.WriteString(s)
	return b.String(), nil
}

// ExpandDSN expands the ${NAME} references of a destination DSN for the
// DSN's own host (DSNHost): a destination's secrets go only to the
// destination.
func (r *Resolver) ExpandDSN(dsn string) (string, error) {
	if !strings.Contains(dsn, "${") {
		return dsn, nil
	}
	return r.Expand(dsn, DSNHost(dsn))
}

// DSNHost is the host a DSN connects to, with its port: the URL form's host
// (postgres://user:pw@db:5432/x → "db:5432", the port defaulting to 5432 for
// postgres and postgresql), or the host= and port= of PostgreSQL's
// key=value form. It is "" for a DSN naming no host (a SQLite file).
func DSNHost(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return ""
	}
	if i := strings.Index(dsn, "://"); i > 0 {
		return urlDSNHost(dsn[:i], dsn[i+3:])
	}
	var host, port string
	for f := range strings.FieldsSeq(dsn) {
		k, v, _ := strings.Cut(f, "=")
		v = strings.Trim(v, "'")
		switch k {
		case "host":
			host = v
		case "port":
			port = v
		}
	}
	if host == "" {
		return ""
	}
	if port == "" {
		port = "5432"
	}
	return joinHostPort(host, port)
}

// urlDSNHost is the host:port of a URL DSN's authority. The userinfo may hold
// ${NAME} references and characters url.Parse refuses ("/", "@", ":"), so
// it is cut off at the last "@" (a DSN with "@" in its path or query after
// a userinfo is not supported).
func urlDSNHost(scheme, rest string) string {
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	u, err := url.Parse("x://" + rest)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" && (scheme == "postgres" || scheme == "postgresql") {
		port = "5432"
	}
	if port == "" {
		return strings.ToLower(u.Hostname())
	}
	return joinHostPort(u.Hostname(), port)
}

// URLHost is the host a request to u goes to, with the scheme's default port
// made explicit (http 80, https 443): what Resolve matches bindings against.
func URLHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	if port == "" {
		return strings.ToLower(u.Hostname())
	}
	return joinHostPort(u.Hostname(), port)
}

// joinHostPort joins a lower-cased host and a port, bracketing IPv6.
func joinHostPort(host, port string) string {
	host = strings.ToLower(host)
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// hostName is host without its port.
func hostName(host string) string {
	h, _ := splitHostPort(host)
	return h
}

// matchAny reports whether a request to host may receive a value bound to
// the hosts of bound: the same name, case-insensitively, and the same port
// where the binding gives one.
func matchAny(bound []string, host string) bool {
	name, port := splitHostPort(strings.ToLower(host))
	for _, b := range bound {
		bn, bp := splitHostPort(b)
		if bn == name && (bp == "" || bp == port) {
			return true
		}
	}
	return false
}
