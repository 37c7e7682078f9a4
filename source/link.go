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

// nextLinkIn returns the target of the first rel="next" link in one Link
// field value.
func nextLinkIn(s string) (string, bool) {
	i := 0
	for {
		// Skip separators before a link-value.
		for i < len(s) && (s[i] == ',' || isLWS(s[i])) {
			i++
		}
		target, isNext, end, ok := linkValue(s, i)
		if !ok {
			return "", false
		}
		if isNext {
			return target, true
		}
		i = end
	}
}

// linkValue reads the link-value at s[i], "<target>" and its parameters,
// and returns the index just past it.
func linkValue(s string, i int) (target string, isNext bool, end int, ok bool) {
	if i >= len(s) || s[i] != '<' {
		return "", false, 0, false
	}
	gt := strings.IndexByte(s[i+1:], '>')
	if gt < 0 {
		return "", false, 0, false
	}
	target = strings.TrimSpace(s[i+1 : i+1+gt])
	i += gt + 2
	// Parameters: *( OWS ";" OWS link-param ).
	for {
		i = skipLWS(s, i)
		if i >= len(s) || s[i] == ',' {
			return target, isNext, i, true
		}
		if s[i] != ';' {
			return "", false, 0, false
		}
		name, value, next, ok := linkParam(s, i+1)
		if !ok {
			return "", false, 0, false
		}
		if strings.EqualFold(name, "rel") && hasRelType(value, "next") {
			isNext = true
		}
		i = next
	}
}

// linkParam reads one link-param, name [ "=" value ], starting just after
// its ";", and returns the index just past it.
func linkParam(s string, i int) (name, value string, end int, ok bool) {
	i = skipLWS(s, i)
	start := i
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	name = s[start:i]
	i = skipLWS(s, i)
	if i >= len(s) || s[i] != '=' {
		return name, "", i, true
	}
	value, i, ok = paramValue(s, skipLWS(s, i+1))
	return name, value, i, ok
}

// skipLWS returns the index of the first non-blank byte of s from i on.
func skipLWS(s string, i int) int {
	for i < len(s) && isLWS(s[i]) {
		i++
	}
	return i
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

// isLWS reports whether c is a space or a tab.
func isLWS(c byte) bool { return c == ' ' || c == '\t' }

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
