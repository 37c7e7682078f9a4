package source

import (
	"fmt"
	"strings"

	"github.com/syncflow/syncflow/secrets"
)

// expandEnv replaces every ${NAME} in a configured header value with the
// value of environment variable NAME, looked up through getenv. Errors name
// the variable, never a value: header values are usually secrets.
func expandEnv(value string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(value, "${") {
		if hasControl(value) {
			return "", fmt.Errorf("header value contains a control character")
		}
		return value, nil
	}
	var b strings.Builder
	rest := value
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		if hasControl(rest[:i]) {
			return "", fmt.Errorf("header value contains a control character")
		}
		b.WriteString(rest[:i])
		rest = rest[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in header value")
		}
		name := rest[:j]
		rest = rest[j+1:]
		if !secrets.ValidName(name) {
			return "", fmt.Errorf("invalid environment variable name %q in header value", name)
		}
		v, ok := getenv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		if hasControl(v) {
			return "", fmt.Errorf("environment variable %s holds a control character, not allowed in a header", name)
		}
		b.WriteString(v)
	}
	if hasControl(rest) {
		return "", fmt.Errorf("header value contains a control character")
	}
	b.WriteString(rest)
	return b.String(), nil
}

// hasControl reports whether s holds a character net/http refuses in a
// header value (controls other than horizontal tab).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}
