package config

import (
	"errors"
	"fmt"
	"github.com/syncflow/syncflow/source"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/syncflow/syncflow/ratelimit/fairness"
	"github.com/syncflow/syncflow/sink"
)

// DefaultTimeout is the total per-request timeout of a source that declares
// none (source.DefaultTotalTimeout; the header and idle timeouts default to
// source.DefaultHeaderTimeout and source.DefaultIdleTimeout).
const DefaultTimeout = source.DefaultTotalTimeout

// MaxIDLength is the longest dataset, task or rate-limit key identifier.
// Identifiers become part of Temporal workflow IDs and search attributes.
const MaxIDLength = 64

// Problem is one thing wrong in a configuration or tasks file, located by
// file, line and field so that the operator can go straight to it.
type Problem struct {
	File    string // the file, as given to Load or LoadTasks
	Line    int    // 1-based line; 0 when the problem has no place in the file
	Entry   string // the list entry, e.g. "datasets[1]" or "tasks[0]"; "" at the top level
	Dataset string // the dataset (or task) ID of the entry, when it has one
	Field   string // the field path relative to the entry, e.g. "source.pagination.type"
	Message string // what is wrong, without record data or secrets
}

// String renders p as "file:line: datasets[i] (id): field: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Entry != "" {
		b.WriteString(p.Entry)
		if p.Dataset != "" {
			b.WriteString(" (" + p.Dataset + ")")
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists the problems found in a file, in file order (at most 100, then
// a count of the rest).
type Error struct {
	Problems []Problem
}

// Error renders one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads, strictly decodes and validates the configuration file at path,
// then applies defaults. All problems are returned at once as an *Error. The
// sink may be left empty in the file when it comes from SYNCFLOW_SINK: the
// main applies it with ApplySinkOverride and then calls CheckSink.
func Load(path string) (*File, error) {
	data, err := readFile("config", path)
	if err != nil {
		return nil, err
	}
	return load(path, data)
}

func readFile(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("read %s file %s: %w", what, path, err)
	}
	return data, nil
}

// load decodes and validates data read from the file name.
func load(name string, data []byte) (*File, error) {
	d := newDecoder()
	f := &File{}
	root, ok := d.parseDocument(data)
	if ok && root != nil {
		d.decode(root, reflect.ValueOf(f).Elem(), "", 0)
	}
	if ok {
		f.lines = d.lines
		f.path = name
		f.validate(d)
	}
	if err := render(name, d.problems, f.entryIDs()); err != nil {
		return nil, err
	}
	f.applyDefaults()
	return f, nil
}

// entryIDs returns the IDs of the file's datasets, by index, to name them in
// problems.
func (f *File) entryIDs() []string {
	ids := make([]string, len(f.Datasets))
	for i, ds := range f.Datasets {
		ids[i] = ds.ID
	}
	return ids
}

// maxProblems bounds the problems reported for one file: past it, the file
// is probably not a syncflow configuration at all.
const maxProblems = 100

var entryRE = regexp.MustCompile(`^(\w+)\[(\d+)\](?:\.(.*))?$`)

// render turns raw problems into an *Error (nil when there are none), sorted
// by line. ids names the entries of the top-level list by index.
func render(file string, raw []rawProblem, ids []string) error {
	if len(raw) == 0 {
		return nil
	}
	probs := make([]Problem, 0, len(raw))
	for _, r := range raw {
		p := Problem{File: file, Line: r.line, Field: r.path, Message: r.msg}
		if m := entryRE.FindStringSubmatch(r.path); m != nil {
			i, _ := strconv.Atoi(m[2])
			p.Entry = m[1] + "[" + m[2] + "]"
			p.Field = m[3]
			if i < len(ids) && isSafeID(ids[i]) {
				p.Dataset = ids[i]
			}
		}
		probs = append(probs, p)
	}
	slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line })
	if n := len(probs); n > maxProblems {
		probs = append(probs[:maxProblems], Problem{File: file, Message: fmt.Sprintf("and %d more problems", n-maxProblems)})
	}
	return &Error{Problems: probs}
}

var safeIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// isSafeID reports whether s is usable in workflow IDs.
func isSafeID(s string) bool { return len(s) <= MaxIDLength && safeIDRE.MatchString(s) }

// checkID returns what is wrong with an identifier, or "".
func checkID(what, s string) string {
	switch {
	case s == "":
		return what + " is required"
	case len(s) > MaxIDLength:
		return fmt.Sprintf("%s is %d characters long (at most %d)", what, len(s), MaxIDLength)
	case !safeIDRE.MatchString(s):
		return fmt.Sprintf("%s %q may contain only letters, digits, '_', '.' and '-' (it becomes part of workflow IDs)", what, s)
	}
	return ""
}

// sinkSchemes are the destinations syncflow can write to.
var sinkSchemes = []string{"sqlite://", "postgres://", "postgresql://"}

func checkSink(dsn string) string {
	for _, s := range sinkSchemes {
		if strings.HasPrefix(dsn, s) {
			if len(dsn) == len(s) {
				return fmt.Sprintf("%q names no database", dsn)
			}
			return ""
		}
	}
	scheme := "no scheme"
	if i := strings.Index(dsn, "://"); i >= 0 {
		scheme = "scheme " + strconv.Quote(dsn[:i])
	}
	// Never echo the DSN: it may carry a password.
	return fmt.Sprintf("unsupported sink (%s): want sqlite://PATH, postgres://... or postgresql://...", scheme)
}

// checkSinkSecrets returns what is wrong with the secrets of a sink DSN,
// or "": the destination travels with every task into workflow history
// (ARCHITECTURE.md §Sink protocol), so like a credential header it may
// refer to its password as ${NAME} only, resolved by the worker.
func checkSinkSecrets(dsn string) string {
	if _, err := EnvRefs(dsn); err != nil {
		return err.Error()
	}
	if where, ok := sink.LiteralPassword(dsn); ok {
		return fmt.Sprintf("the %s must reference an environment variable such as ${PG_PASSWORD}, not contain the secret (the sink travels with each task; the worker resolves the variable)", where)
	}
	return ""
}

// sinkProblem is checkSink, then checkSinkSecrets.
func sinkProblem(dsn string) string {
	if msg := checkSink(dsn); msg != "" {
		return msg
	}
	return checkSinkSecrets(dsn)
}

// validate checks the decoded file and adds its problems to d.
func (f *File) validate(d *decoder) {
	if f.Sink != "" {
		if msg := sinkProblem(f.Sink); msg != "" {
			d.addf("sink", d.lineOf("sink"), "%s", msg)
		}
	}
	if d.broken[""] || d.broken["datasets"] {
		return // reported as the wrong shape
	}
	if len(f.Datasets) == 0 {
		d.addf("datasets", d.lineOf("datasets"), "at least one dataset is required")
		return
	}
	firstLine := map[string]int{}
	keyFirst := map[string]keyOwner{}
	for i, ds := range f.Datasets {
		p := fmt.Sprintf("datasets[%d]", i)
		if d.broken[p] {
			continue // reported as not a mapping: its fields would only add noise
		}
		d.checkDatasetID(p, ds.ID, firstLine)
		d.checkRateLimit(p, ds.RateLimit)
		d.checkSharedKey(p, ds, keyFirst)
		d.checkSchedule(p, ds)
		for _, ip := range incrementalProblems(ds) {
			d.addAt(p, ip.field, "%s", ip.msg)
		}
		if d.broken[p+".source"] {
			continue
		}
		for _, sp := range sourceProblems(ds) {
			d.addAt(p, join("source", sp.field), "%s", sp.msg)
		}
	}
}

// addAt records a problem of field inside the entry at path p, at the
// field's line.
func (d *decoder) addAt(p, field, format string, args ...any) {
	fp := join(p, field)
	d.addf(fp, d.lineOf(fp), format, args...)
}

// checkDatasetID checks the id of the dataset at p, remembering in
// firstLine where each id was first given.
func (d *decoder) checkDatasetID(p, id string, firstLine map[string]int) {
	if msg := checkID("dataset id", id); msg != "" {
		d.addAt(p, "id", "%s", msg)
	} else if first, dup := firstLine[id]; dup {
		d.addAt(p, "id", "duplicate dataset id %q (first at line %d)", id, first)
	} else {
		firstLine[id] = d.lineOf(join(p, "id"))
	}
}

// checkRateLimit checks the rate_limit block of the dataset at p.
func (d *decoder) checkRateLimit(p string, rl RateLimit) {
	if rl.RPS < 0 || rl.RPS != rl.RPS || rl.RPS > 1e9 {
		d.addAt(p, "rate_limit.rps", "must be a number of requests per second >= 0 (0 = discover the server's limit)")
	}
	if g := rl.GlobalRPS; g < 0 || g != g || g > 1e9 || (g > 0 && g < fairness.MinKeyRate) {
		d.addAt(p, "rate_limit.global_rps", "must be 0 (no global limit) or a number of requests per second from %g", fairness.MinKeyRate)
	}
	if rl.Burst < 0 {
		d.addAt(p, "rate_limit.burst", "must be >= 0 (0 = default)")
	}
	if rl.Key != "" {
		if msg := checkID("rate-limit key", rl.Key); msg != "" {
			d.addAt(p, "rate_limit.key", "%s", msg)
		}
	}
}

// keyOwner is the first dataset that named a rate-limit key, whose limit
// every later dataset of the key must repeat.
type keyOwner struct {
	path string // its entry, e.g. "datasets[0]"
	id   string
	rl   RateLimit
}

// effectiveBurst is the burst a limit runs with: 0 (the default) is 1 when
// a rate is declared (applyDefaults).
func effectiveBurst(rl RateLimit) int {
	if rl.Burst == 0 && rl.RPS > 0 {
		return 1
	}
	return rl.Burst
}

// checkSharedKey checks that the dataset at p declares the same limit (rps,
// burst, global_rps) as the first dataset of its rate-limit key: one key
// is one budget (ARCHITECTURE.md §Rate-limit layers), and two declarations
// would reset the key's limiter back and forth.
func (d *decoder) checkSharedKey(p string, ds Dataset, first map[string]keyOwner) {
	key := ds.LimitKey()
	owner, seen := first[key]
	if !seen {
		first[key] = keyOwner{path: p, id: ds.ID, rl: ds.RateLimit}
		return
	}
	a, b := owner.rl, ds.RateLimit
	field, mine, theirs := "", "", ""
	switch {
	case a.RPS != b.RPS:
		field, mine, theirs = "rps", fmtNum(b.RPS), fmtNum(a.RPS)
	case effectiveBurst(a) != effectiveBurst(b):
		field, mine, theirs = "burst", strconv.Itoa(effectiveBurst(b)), strconv.Itoa(effectiveBurst(a))
	case a.GlobalRPS != b.GlobalRPS:
		field, mine, theirs = "global_rps", fmtNum(b.GlobalRPS), fmtNum(a.GlobalRPS)
	default:
		return
	}
	ownerLine := d.lineOf(join(owner.path, "rate_limit."+field))
	if ds.RateLimit.Key == "" && owner.rl.Key == "" {
		// Implicit sharing (SharedKey): the same credentials to the same host.
		d.addAt(p, "rate_limit."+field,
			"dataset %q sends the same credentials (%s) to the same host as dataset %q (%s, line %d), so they share one budget (rate-limit key %q), but it declares %s %s where %q declares %s: declare the same rps, burst and global_rps, or give each dataset its own rate_limit.key to keep separate budgets",
			ds.ID, refList(ds.CredentialRefs()), owner.id, owner.path, ownerLine, key, field, mine, owner.id, theirs)
		return
	}
	d.addAt(p, "rate_limit."+field,
		"dataset %q shares rate_limit.key %q with dataset %q (%s, line %d) but declares %s %s where %q declares %s: datasets sharing a key share one budget and must declare the same rps, burst and global_rps",
		ds.ID, key, owner.id, owner.path, ownerLine, field, mine, owner.id, theirs)
}

// refList renders names as "${A}, ${B}".
func refList(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "${" + n + "}"
	}
	return strings.Join(parts, ", ")
}

// fmtNum renders a limit; 0 reads as "0 (undeclared)".
func fmtNum(v float64) string {
	if v == 0 {
		return "0 (undeclared)"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// applyDefaults fills in what the file may leave out; called after validation.
func (f *File) applyDefaults() {
	for i := range f.Datasets {
		ds := &f.Datasets[i]
		if ds.Source.Timeout == 0 && ds.Source.Timeouts.Total == 0 {
			ds.Source.Timeout = sourceDuration(DefaultTimeout)
		}
		if ds.RateLimit.Burst == 0 && ds.RateLimit.RPS > 0 {
			ds.RateLimit.Burst = 1
		}
	}
}

// ApplySinkOverride replaces the file's sink with dsn when dsn is not empty.
// The main passes the SYNCFLOW_SINK environment variable; call CheckSink
// after, which holds the override to the file's rules (a supported scheme,
// no literal password): the sink travels with each task either way.
func (f *File) ApplySinkOverride(dsn string) {
	if dsn != "" {
		f.Sink = dsn
		f.sinkOverridden = true
	}
}

// CheckSink reports whether the file (or its override) names a usable sink;
// the error has the same form as Load's.
func (f *File) CheckSink() error {
	p := Problem{File: f.path, Field: "sink"}
	if f.sinkOverridden {
		p.Field = "sink (from SYNCFLOW_SINK)"
	} else {
		p.Line = f.lines["sink"]
	}
	switch {
	case f.Sink == "":
		p.Message = "a sink is required: set sink in the file or SYNCFLOW_SINK, e.g. sqlite://syncflow.db"
	default:
		p.Message = sinkProblem(f.Sink)
	}
	if p.Message == "" {
		return nil
	}
	return &Error{Problems: []Problem{p}}
}

// Dataset returns the dataset with the given ID.
func (f *File) Dataset(id string) (Dataset, error) {
	for _, ds := range f.Datasets {
		if ds.ID == id {
			return ds, nil
		}
	}
	return Dataset{}, fmt.Errorf("unknown dataset %q (known: %s)", id, strings.Join(f.DatasetIDs(), ", "))
}

// DatasetIDs returns the IDs of the datasets in file order.
func (f *File) DatasetIDs() []string { return f.entryIDs() }

// EnvVars returns the environment variables that the datasets' headers
// and auth blocks reference, sorted and without duplicates, so that a
// worker can check at startup that they are all set.
func (f *File) EnvVars() []string {
	var names []string
	for _, ds := range f.Datasets {
		names = append(names, ds.CredentialRefs()...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvRefs returns the names of the ${VAR} references in s, in order. It
// fails when a "${" does not close or encloses an invalid name; a "$" not
// followed by "{" is literal.
func EnvRefs(s string) ([]string, error) {
	var names []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return names, nil
		}
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return names, errors.New(`"${" is not closed by "}"`)
		}
		name := rest[:j]
		if !envNameRE.MatchString(name) {
			if name == "" {
				return names, errors.New(`empty reference "${}": want ${NAME}`)
			}
			return names, fmt.Errorf("invalid environment variable name in ${...}: want letters, digits and '_', not starting with a digit")
		}
		names = append(names, name)
		s = rest[j+1:]
	}
}
