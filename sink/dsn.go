package sink

import (
	"net/url"
	"regexp"
	"strings"
)

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
