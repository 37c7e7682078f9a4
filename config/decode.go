package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work of decoding one file, so that a file of nested
// aliases ("billion laughs") cannot make Load run for ever.
const maxNodes = 100_000

// rawProblem is a problem found at a path in the document, before it is
// rendered with the file name and the dataset or task it belongs to.
type rawProblem struct {
	path string // full path from the document root, e.g. datasets[1].source.url
	line int
	msg  string
}

// decoder decodes a yaml.Node tree into Go values strictly, by hand, so that
// every problem (unknown field, wrong type, duplicate key) is collected with
// its line and path instead of stopping at the first one, and so that the
// line of every field is remembered for the checks that follow.
type decoder struct {
	lines    map[string]int
	broken   map[string]bool // paths whose value has the wrong shape: not checked further
	problems []rawProblem
	visited  int
}

func newDecoder() *decoder { return &decoder{lines: map[string]int{}, broken: map[string]bool{}} }

func (d *decoder) addf(path string, line int, format string, args ...any) {
	d.problems = append(d.problems, rawProblem{path: path, line: line, msg: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of path, or of its nearest ancestor that has one.
func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return d.lines[""]
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data as a single YAML document. A syntax error is
// returned as a problem carrying the line the YAML parser reports.
func (d *decoder) parseDocument(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true // empty file
		}
		d.syntaxProblem(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.addf("", extra.Line, "the file must hold a single YAML document")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		d.syntaxProblem(err)
		return nil, false
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], true
	}
	return &doc, true
}

func (d *decoder) syntaxProblem(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.addf("", line, "invalid YAML: %s", m[2])
		return
	}
	d.addf("", 0, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// resolve follows aliases and counts the nodes visited.
func (d *decoder) resolve(n *yaml.Node) (*yaml.Node, bool) {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil, false
		}
		n = n.Alias
	}
	d.visited++
	if n == nil || d.visited > maxNodes {
		return nil, false
	}
	return n, true
}

type pair struct{ key, value *yaml.Node }

// pairs returns the key/value pairs of a mapping, with YAML merge keys
// ("<<: *defaults") expanded; explicit keys win over merged ones.
func (d *decoder) pairs(n *yaml.Node, depth int) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && depth < 10 {
			v, ok := d.resolve(v)
			if !ok {
				continue
			}
			var sources []*yaml.Node
			switch v.Kind {
			case yaml.MappingNode:
				sources = []*yaml.Node{v}
			case yaml.SequenceNode:
				sources = v.Content
			}
			for _, s := range sources {
				if s, ok := d.resolve(s); ok && s.Kind == yaml.MappingNode {
					merged = append(merged, d.pairs(s, depth+1)...)
				}
			}
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	seen := map[string]bool{}
	for _, p := range own {
		seen[p.key.Value] = true
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	obsoleteUnmarshaler = reflect.TypeFor[interface {
		UnmarshalYAML(func(any) error) error
	}]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// join appends field to a dotted path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// decode stores node n into v (addressable), recording the line of path and
// the problems found below it.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	n, ok := d.resolve(n)
	if !ok {
		d.addf(path, line, "the document is too large or its aliases nest too deeply")
		return
	}
	if line == 0 {
		line = n.Line
	}
	d.lines[path] = line
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent: keep the zero value
	}
	t := v.Type()
	if pt := reflect.PointerTo(t); pt.Implements(unmarshalerType) || pt.Implements(obsoleteUnmarshaler) || pt.Implements(textUnmarshalerType) {
		d.decodeCustom(n, v, path, line)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path, line)
	case reflect.Struct:
		d.decodeStruct(n, v, path, line)
	case reflect.Slice:
		d.decodeSlice(n, v, path, line)
	case reflect.Map:
		d.decodeMap(n, v, path, line)
	default:
		d.decodeScalar(n, v, path, line)
	}
}

// decodeCustom hands a scalar to the type's own unmarshaler.
func (d *decoder) decodeCustom(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.ScalarNode {
		d.addf(path, line, "must be a single value, not a %s", kindName(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.addf(path, line, "%s", cleanYAMLError(err))
	}
}

// decodeSlice decodes a sequence item by item, each at its own path.
func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.addf(path, line, "must be a list, not a %s", kindName(n))
		d.broken[path] = true
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), 0)
	}
	v.Set(s)
}

// decodeMap decodes a mapping with plain string keys, rejecting keys given
// twice.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.addf(path, line, "must be a mapping, not a %s", kindName(n))
		d.broken[path] = true
		return
	}
	t := v.Type()
	m := reflect.MakeMap(t)
	seen := map[string]int{}
	for _, p := range d.pairs(n, 0) {
		k, ok := d.resolve(p.key)
		if !ok || k.Kind != yaml.ScalarNode {
			d.addf(path, p.key.Line, "keys must be plain strings")
			continue
		}
		kpath := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.addf(kpath, k.Line, "%q is given twice (also at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		ev := reflect.New(t.Elem()).Elem()
		d.decode(p.value, ev, kpath, k.Line)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), ev)
	}
	v.Set(m)
}

// decodeScalar decodes a plain value (string, number, bool).
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.ScalarNode {
		d.addf(path, line, "must be %s, not a %s", wantName(v.Type()), kindName(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.addf(path, line, "must be %s", wantName(v.Type()))
	}
}

// decodeStruct decodes a mapping into a struct's fields by their yaml names.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.addf(path, line, "must be a mapping of fields, not a %s", kindName(n))
		d.broken[path] = true
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	for _, p := range d.pairs(n, 0) {
		k, ok := d.resolve(p.key)
		if !ok || k.Kind != yaml.ScalarNode {
			d.addf(path, p.key.Line, "field names must be plain strings")
			continue
		}
		fpath := join(path, k.Value)
		idx, known := fields[k.Value]
		if !known {
			d.addf(fpath, k.Line, "unknown field %q (known fields: %s)", k.Value, strings.Join(fieldNames(v.Type()), ", "))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.addf(fpath, k.Line, "field %q is given twice (also at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		d.decode(p.value, v.Field(idx), fpath, k.Line)
	}
}

// yamlFields maps the YAML names of t's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "single value"
	}
}

func wantName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}

// cleanYAMLError drops the YAML parser's framing ("yaml: unmarshal errors:\n  line
// 3: ...") from an error, keeping the reason.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}
