package source

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// The functions in this file walk JSON that has already been checked with
// json.Valid, without decoding it: a page of 100,000 records is scanned, not
// turned into maps. They are still defensive, so malformed input yields
// errMalformed rather than a panic.

var errMalformed = errors.New("malformed JSON")

// lookup returns the value at a dotted path inside the JSON value b ("" is b
// itself). Numeric segments index arrays; in objects they are plain keys. As
// with encoding/json, the last of duplicate object keys wins. found is false
// when some segment does not exist or the value it applies to has the wrong
// type; the returned slice aliases b.
func lookup(b []byte, path string) (val []byte, found bool, err error) {
	v := trimSpace(b)
	if len(v) == 0 {
		return nil, false, errMalformed
	}
	if path == "" {
		return v, true, nil
	}
	for rest := path; ; {
		seg := rest
		i := strings.IndexByte(rest, '.')
		if i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		}
		switch v[0] {
		case '{':
			v, found, err = objectGet(v, seg)
		case '[':
			n, ok := arrayIndex(seg)
			if !ok {
				return nil, false, nil
			}
			v, found, err = arrayGet(v, n)
		default:
			return nil, false, nil
		}
		if err != nil || !found {
			return nil, false, err
		}
		if i < 0 {
			return v, true, nil
		}
	}
}

// arrayIndex parses a path segment made of decimal digits only.
func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// objectGet returns the value of key in the object b (b[0] == '{').
func objectGet(b []byte, key string) (val []byte, found bool, err error) {
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return nil, false, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false, errMalformed
		}
		kEnd := stringEnd(b, i)
		if kEnd < 0 {
			return nil, false, errMalformed
		}
		k := b[i:kEnd]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return nil, false, errMalformed
		}
		i = skipSpace(b, i+1)
		vEnd := valueEnd(b, i)
		if vEnd < 0 {
			return nil, false, errMalformed
		}
		if keyEquals(k, key) {
			val, found = b[i:vEnd], true
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return nil, false, errMalformed
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return val, found, nil
		default:
			return nil, false, errMalformed
		}
	}
}

// arrayGet returns element n of the array b (b[0] == '[').
func arrayGet(b []byte, n int) (val []byte, found bool, err error) {
	idx := 0
	err = eachElement(b, func(e []byte) error {
		if idx == n {
			val, found = e, true
			return errStop
		}
		idx++
		return nil
	})
	if err == errStop {
		err = nil
	}
	return val, found, err
}

var errStop = errors.New("stop")

// eachElement calls fn with every element of the array b (b[0] == '['),
// stopping at the first error fn returns.
func eachElement(b []byte, fn func(elem []byte) error) error {
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for {
		end := valueEnd(b, i)
		if end < 0 {
			return errMalformed
		}
		if err := fn(b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errMalformed
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return nil
		default:
			return errMalformed
		}
	}
}

// keyEquals reports whether the JSON string k (with its quotes) decodes to
// key. Plain ASCII keys are compared in place; others are decoded as
// encoding/json would (escapes, invalid UTF-8 replaced).
func keyEquals(k []byte, key string) bool {
	raw := k[1 : len(k)-1]
	plain := true
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw) == key
	}
	s, ok := decodeString(k)
	return ok && s == key
}

// decodeString decodes the JSON string k (with its quotes).
func decodeString(k []byte) (string, bool) {
	raw := k[1 : len(k)-1]
	plain := true
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw), true
	}
	var s string
	if err := json.Unmarshal(k, &s); err != nil {
		return "", false
	}
	return s, true
}

// scalarString returns the text of a JSON string or number: the decoded
// string, or the number exactly as written. ok is false for other values.
func scalarString(v []byte) (s string, ok bool) {
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		return decodeString(v)
	case c == '-' || (c >= '0' && c <= '9'):
		return string(v), true
	}
	return "", false
}

// isNull reports whether the JSON value v is null.
func isNull(v []byte) bool { return string(v) == "null" }

// intValue reads a non-negative integer from a JSON number or a string of
// digits (reported totals are sometimes strings).
func intValue(v []byte) (int64, bool) {
	s, ok := scalarString(v)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func trimSpace(b []byte) []byte {
	i := skipSpace(b, 0)
	j := len(b)
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// stringEnd returns the index just past the JSON string starting at b[i]
// (b[i] == '"'), or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := stringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	case ',', ':', '}', ']':
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	return j
}
