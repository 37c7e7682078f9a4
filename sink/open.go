package sink

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DSN prefixes accepted by Open.
const (
	schemeSQLite     = "sqlite://"
	schemePostgres   = "postgres://"
	schemePostgreSQL = "postgresql://"
)

// Open connects to the destination named by dsn and creates its tables if
// needed: sqlite://PATH (sqlite:///abs/path or sqlite://rel/path) or
// postgres://... / postgresql://... (any libpq URL).
func Open(ctx context.Context, dsn string) (Sink, error) {
	switch {
	case strings.HasPrefix(dsn, schemeSQLite):
		path, err := sqlitePath(dsn)
		if err != nil {
			return nil, err
		}
		return OpenSQLite(ctx, path)
	case strings.HasPrefix(dsn, schemePostgres), strings.HasPrefix(dsn, schemePostgreSQL):
		return OpenPostgres(ctx, dsn)
	default:
		return nil, fmt.Errorf("open sink %q: unsupported destination; want sqlite:///abs/path, sqlite://rel/path, postgres://... or postgresql://...", RedactDSN(dsn))
	}
}

// sqlitePath returns the file path of a sqlite:// DSN.
func sqlitePath(dsn string) (string, error) {
	path := strings.TrimPrefix(dsn, schemeSQLite)
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return "", fmt.Errorf("open sink %q: sqlite DSN takes no options; want sqlite://PATH", dsn)
	}
	switch path {
	case "", "/":
		return "", fmt.Errorf("open sink %q: missing file path; want sqlite:///abs/path or sqlite://rel/path", dsn)
	case ":memory:":
		return "", fmt.Errorf("open sink %q: in-memory SQLite is not durable; give a file path", dsn)
	}
	return path, nil
}

var (
	// userinfoPassword matches the password of scheme://user:password@ in a
	// string that url.Parse rejects.
	userinfoPassword = regexp.MustCompile(`(://[^/@:]*:)[^/@]*@`)
	// kvPassword matches password=... in a key/value or query string.
	kvPassword = regexp.MustCompile(`(?i)(password=)[^&\s]*`)
)

// RedactDSN returns dsn with any password replaced by "xxxxx", for errors
// and logs.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		redacted := false
		for k := range q {
			if strings.EqualFold(k, "password") {
				q.Set(k, "xxxxx")
				redacted = true
			}
		}
		if redacted {
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	s := userinfoPassword.ReplaceAllString(dsn, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(s, "${1}xxxxx")
}
