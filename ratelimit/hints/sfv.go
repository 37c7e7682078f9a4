package hints

import (
	stderrors "errors"
	"strconv"
)

// A small parser for the List structured fields of RFC 9651, enough for the
// RateLimit and RateLimit-Policy fields. It checks the whole syntax (a field
// with any syntax error is ignored as a whole, as the RFC asks) but keeps
// only what those fields use: each member's bare item and parameters.

var errSyntax = stderrors.New("structured field syntax error")

type sfKind int

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfDate
	sfDisplayString
	sfInnerList
)

// sfValue is a bare item; num holds integers and decimals, str strings and
// tokens.
type sfValue struct {
	kind sfKind
	num  float64
	str  string
	b    bool
}

// sfMember is a list member: an item or an inner list, with parameters.
type sfMember struct {
	value  sfValue
	params map[string]sfValue
}

type sfParser struct {
	s   string
	pos int
}

// parseSFList parses a List field value.
func parseSFList(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfMember
	for p.pos < len(p.s) {
		m, err := p.member()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		p.skipOWS()
		if p.pos == len(p.s) {
			return out, nil
		}
		if p.s[p.pos] != ',' {
			return nil, errSyntax
		}
		p.pos++
		p.skipOWS()
		if p.pos == len(p.s) {
			return nil, errSyntax // trailing comma
		}
	}
	return out, nil
}

func (p *sfParser) skipSP() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *sfParser) skipOWS() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *sfParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *sfParser) member() (sfMember, error) {
	if p.peek() == '(' {
		return p.innerList()
	}
	v, err := p.bareItem()
	if err != nil {
		return sfMember{}, err
	}
	params, err := p.params()
	if err != nil {
		return sfMember{}, err
	}
	return sfMember{value: v, params: params}, nil
}

func (p *sfParser) innerList() (sfMember, error) {
	p.pos++ // '('
	for {
		p.skipSP()
		if p.pos >= len(p.s) {
			return sfMember{}, errSyntax
		}
		if p.s[p.pos] == ')' {
			p.pos++
			params, err := p.params()
			if err != nil {
				return sfMember{}, err
			}
			return sfMember{value: sfValue{kind: sfInnerList}, params: params}, nil
		}
		if _, err := p.bareItem(); err != nil {
			return sfMember{}, err
		}
		if _, err := p.params(); err != nil {
			return sfMember{}, err
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return sfMember{}, errSyntax
		}
	}
}

func (p *sfParser) params() (map[string]sfValue, error) {
	var out map[string]sfValue
	for p.peek() == ';' {
		p.pos++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		v := sfValue{kind: sfBoolean, b: true}
		if p.peek() == '=' {
			p.pos++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		if out == nil {
			out = make(map[string]sfValue)
		}
		out[key] = v // a repeated key overwrites, as the RFC says
	}
	return out, nil
}

func (p *sfParser) key() (string, error) {
	start := p.pos
	c := p.peek()
	if !(isLCAlpha(c) || c == '*') {
		return "", errSyntax
	}
	p.pos++
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.pos++
	}
	return p.s[start:p.pos], nil
}

func (p *sfParser) bareItem() (sfValue, error) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		return p.token(), nil
	case c == ':':
		return p.bytes()
	case c == '?':
		if p.pos+1 < len(p.s) && (p.s[p.pos+1] == '0' || p.s[p.pos+1] == '1') {
			v := sfValue{kind: sfBoolean, b: p.s[p.pos+1] == '1'}
			p.pos += 2
			return v, nil
		}
		return sfValue{}, errSyntax
	case c == '@':
		p.pos++
		v, err := p.number()
		if err != nil || v.kind != sfInteger {
			return sfValue{}, errSyntax
		}
		v.kind = sfDate
		return v, nil
	case c == '%':
		return p.displayString()
	default:
		return sfValue{}, errSyntax
	}
}

func (p *sfParser) number() (sfValue, error) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	intStart := p.pos
	for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
		p.pos++
	}
	intDigits := p.pos - intStart
	if intDigits == 0 {
		return sfValue{}, errSyntax
	}
	kind := sfInteger
	if p.peek() == '.' {
		if intDigits > 12 {
			return sfValue{}, errSyntax
		}
		p.pos++
		fracStart := p.pos
		for p.pos < len(p.s) && isDigit(p.s[p.pos]) {
			p.pos++
		}
		if n := p.pos - fracStart; n < 1 || n > 3 {
			return sfValue{}, errSyntax
		}
		kind = sfDecimal
	} else if intDigits > 15 {
		return sfValue{}, errSyntax
	}
	f, err := strconv.ParseFloat(p.s[start:p.pos], 64)
	if err != nil {
		return sfValue{}, errSyntax
	}
	return sfValue{kind: kind, num: f}, nil
}

func (p *sfParser) str() (sfValue, error) {
	p.pos++ // opening quote
	var buf []byte
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == '\\':
			if p.pos >= len(p.s) {
				return sfValue{}, errSyntax
			}
			next := p.s[p.pos]
			if next != '"' && next != '\\' {
				return sfValue{}, errSyntax
			}
			buf = append(buf, next)
			p.pos++
		case c == '"':
			return sfValue{kind: sfString, str: string(buf)}, nil
		case c < 0x20 || c > 0x7e:
			return sfValue{}, errSyntax
		default:
			buf = append(buf, c)
		}
	}
	return sfValue{}, errSyntax
}

func (p *sfParser) token() sfValue {
	start := p.pos
	p.pos++
	for p.pos < len(p.s) && (isTChar(p.s[p.pos]) || p.s[p.pos] == ':' || p.s[p.pos] == '/') {
		p.pos++
	}
	return sfValue{kind: sfToken, str: p.s[start:p.pos]}
}

func (p *sfParser) bytes() (sfValue, error) {
	p.pos++ // opening colon
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		if c == ':' {
			return sfValue{kind: sfBytes}, nil
		}
		if !(isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '=') {
			return sfValue{}, errSyntax
		}
	}
	return sfValue{}, errSyntax
}

func (p *sfParser) displayString() (sfValue, error) {
	if p.pos+1 >= len(p.s) || p.s[p.pos+1] != '"' {
		return sfValue{}, errSyntax
	}
	p.pos += 2
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == '"':
			return sfValue{kind: sfDisplayString}, nil
		case c == '%':
			if p.pos+2 > len(p.s) || !isLCHex(p.s[p.pos]) || !isLCHex(p.s[p.pos+1]) {
				return sfValue{}, errSyntax
			}
			p.pos += 2
		case c < 0x20 || c > 0x7e:
			return sfValue{}, errSyntax
		}
	}
	return sfValue{}, errSyntax
}

func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }
func isLCHex(c byte) bool   { return isDigit(c) || (c >= 'a' && c <= 'f') }

// isTChar reports whether c is an RFC 9110 token character.
func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
