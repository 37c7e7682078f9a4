package sink

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces a password in RedactDSN's output.
const redacted = "xxxxx"

var (
	// kvPassword matches password=VALUE (also sslpassword=, any case, with
	// spaces around '=') in a URL query or a libpq key/value string; VALUE
	// is a single-quoted libpq value (backslash escapes) or runs to the next
	// '&' or space.
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^&\s]*)`)
	// envRef is a whole ${NAME} reference: no secret, kept visible.
	envRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)
)

// RedactDSN returns dsn with every password replaced by "xxxxx", for
// errors and logs: the userinfo password of a URL (whatever it contains,
// '/', '@' and ':' included, escaped or not) and password= values in a
// query or a libpq key/value string (quoted or not). A password that is
// exactly one ${NAME} reference holds no secret and is kept, so that a
// message names the variable.
func RedactDSN(dsn string) string {
	out := dsn
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		if user, pw, auth, ok := splitUserinfo(rest); ok && !envRef.MatchString(pw) {
			out = scheme + "://" + user + ":" + redacted + "@" + rest[auth:]
		}
	}
	return kvPassword.ReplaceAllStringFunc(out, func(m string) string {
		sub := kvPassword.FindStringSubmatch(m)
		v := sub[2]
		if v == "" || envRef.MatchString(strings.Trim(v, "'")) {
			return m
		}
		if u, err := url.QueryUnescape(v); err == nil && envRef.MatchString(u) {
			return m
		}
		return sub[1] + redacted
	})
}

// splitUserinfo splits the part of a URL after "scheme://" at its
// userinfo: user, password and the index where the host starts. ok is
// false when there is no password. The userinfo ends at the last '@' before
// the first '?' (or the last '@' at all when none precedes a '?'), so that
// an unescaped '/', '@', ':' or '?' in a password stays in the password.
func splitUserinfo(rest string) (user, password string, host int, ok bool) {
	at := -1
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		at = strings.LastIndexByte(rest[:q], '@')
	}
	if at < 0 {
		at = strings.LastIndexByte(rest, '@')
	}
	if at < 0 {
		return "", "", 0, false
	}
	user, password, ok = strings.Cut(rest[:at], ":")
	return user, password, at + 1, ok
}

// DSNPassword returns the userinfo password of a URL DSN, as written
// (not unescaped); ok is false when it has none.
func DSNPassword(dsn string) (password string, ok bool) {
	_, rest, isURL := strings.Cut(dsn, "://")
	if !isURL {
		return "", false
	}
	_, password, _, ok = splitUserinfo(rest)
	return password, ok
}

// DSNHost returns the host a DSN connects to (without port), "" when it
// names none (a SQLite file, a Unix socket). ${NAME} references elsewhere
// in the DSN do not hide it.
func DSNHost(dsn string) string {
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		if strings.HasPrefix(dsn, "sqlite://") {
			return ""
		}
		if _, _, h, ok := splitUserinfo(rest); ok {
			rest = rest[h:]
		} else if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			rest = rest[at+1:]
		}
		hostport := rest
		if i := strings.IndexAny(hostport, "/?"); i >= 0 {
			hostport = hostport[:i]
		}
		if u, err := url.Parse("x://" + hostport); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
		return hostport
	}
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "host") {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// LiteralPassword reports whether dsn holds a password itself rather than
// a ${NAME} reference to one, and where: "password in the userinfo"
// (user:PASSWORD@) or "password parameter" (password=... in the query or
// key/value string). An empty password and a SQLite DSN (a file path, no
// credentials) hold none. A destination that travels with a task must
// hold references only (ARCHITECTURE.md §Sink protocol).
func LiteralPassword(dsn string) (where string, ok bool) {
	if strings.HasPrefix(dsn, "sqlite://") {
		return "", false
	}
	if pw, ok := DSNPassword(dsn); ok && pw != "" && !envRef.MatchString(pw) {
		return "password in the userinfo", true
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		v := strings.Trim(m[2], "'")
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		if v != "" && !envRef.MatchString(v) {
			return "password parameter", true
		}
	}
	return "", false
}
