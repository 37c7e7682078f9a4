package source

import "strings"

// nextLink returns the target of the first link with relation type "next" in
// the given Link header field values (RFC 8288 §3). A field may hold several
// comma-separated links; rel may list several space-separated relation types,
// quoted or not; relation types compare case-insensitively. Parsing is
// lenient: a malformed link ends the parsing of its field value only.
func nextLink(values []string) (string, bool) {
	for _, v := range values {
		if target, ok := nextLinkIn(v); ok {
			return target, true
		}
	}
	return "", false
}

func nextLinkIn(s string) (string, bool) {
	i := 0
	for {
		// Skip separators before a link-value.
		for i < len(s) && (s[i] == ',' || isLWS(s[i])) {
			i++
		}
		if i >= len(s) || s[i] != '<' {
			return "", false
		}
		end := strings.IndexByte(s[i+1:], '>')
		if end < 0 {
			return "", false
		}
		target := strings.TrimSpace(s[i+1 : i+1+end])
		i += end + 2
		isNext := false
		// Parameters: *( OWS ";" OWS link-param ).
		for {
			for i < len(s) && isLWS(s[i]) {
				i++
			}
			if i >= len(s) || s[i] == ',' {
				break
			}
			if s[i] != ';' {
				return "", false
			}
			i++
			for i < len(s) && isLWS(s[i]) {
				i++
			}
			nameStart := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			name := s[nameStart:i]
			for i < len(s) && isLWS(s[i]) {
				i++
			}
			var value string
			if i < len(s) && s[i] == '=' {
				i++
				for i < len(s) && isLWS(s[i]) {
					i++
				}
				var ok bool
				value, i, ok = paramValue(s, i)
				if !ok {
					return "", false
				}
			}
			if strings.EqualFold(name, "rel") && hasRelType(value, "next") {
				isNext = true
			}
		}
		if isNext {
			return target, true
		}
	}
}

// paramValue reads a token or quoted-string starting at s[i] and returns it
// (unescaped) with the index just past it.
func paramValue(s string, i int) (string, int, bool) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; c {
			case '"':
				return b.String(), j + 1, true
			case '\\':
				j++
				if j >= len(s) {
					return "", 0, false
				}
				b.WriteByte(s[j])
			default:
				b.WriteByte(c)
			}
		}
		return "", 0, false
	}
	start := i
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[start:i], i, true
}

// hasRelType reports whether the space-separated relation types in rel
// include want.
func hasRelType(rel, want string) bool {
	for _, t := range strings.Fields(rel) {
		if strings.EqualFold(t, want) {
			return true
		}
	}
	return false
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' }

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
