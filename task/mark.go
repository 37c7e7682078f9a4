package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Window is the span of cursor values an incremental run reads
// (ARCHITECTURE.md §Task position): it travels in Position, so the carry,
// the activity's input, result and heartbeat, the progress query, the
// result and the sink's checkpoint all show it.
type Window struct {
	// From is the start value the run sends in the dataset's incremental
	// parameter: the last completed run's high-water mark minus the
	// lookback, or the configured initial value; "" is no filter (the
	// whole dataset).
	From string `json:"from,omitempty"`
	// To is the highest cursor value committed in this generation so far
	// ("" before the first); it becomes the next run's start only when this
	// run completes.
	To string `json:"to,omitempty"`
}

// Mark kinds: a cursor value is an RFC 3339 time or a number.
const (
	MarkTime   = "time"
	MarkNumber = "number"
)

// ParseMarkJSON reads the cursor value of a record, as JSON: a string that
// is an RFC 3339 time (returned normalised to UTC, RFC 3339 with
// nanoseconds when it has them) or a number (returned as written). Any
// other value is an error saying what it is (never the value itself).
func ParseMarkJSON(raw []byte) (string, error) {
	v := strings.TrimSpace(string(raw))
	switch {
	case v == "":
		return "", errors.New("is empty")
	case v[0] == '"':
		var s string
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			return "", errors.New("is a malformed string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", errors.New("is a string that is not an RFC 3339 time")
		}
		return formatTime(t), nil
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		if _, ok := new(big.Rat).SetString(v); !ok {
			return "", errors.New("is a malformed number")
		}
		return v, nil
	case v == "null":
		return "", errors.New("is null")
	}
	return "", errors.New("is neither an RFC 3339 time nor a number")
}

// ParseMark reads a cursor value written as text (a configured initial
// value, a stored mark): an RFC 3339 time or a number, normalised as
// ParseMarkJSON does.
func ParseMark(s string) (value, kind string, err error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return formatTime(t), MarkTime, nil
	}
	if _, ok := new(big.Rat).SetString(s); ok && s != "" && !strings.ContainsAny(s, "/") {
		return s, MarkNumber, nil
	}
	return "", "", fmt.Errorf("%q is neither an RFC 3339 time nor a number", s)
}

// MarkKind is the kind of a value ParseMark accepts, "" for another.
func MarkKind(s string) string {
	_, kind, err := ParseMark(s)
	if err != nil {
		return ""
	}
	return kind
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// CompareMarks orders two cursor values of the same kind: -1, 0 or +1.
// "" (no value) comes before every value. Values of different kinds do not
// compare: the error says so.
func CompareMarks(a, b string) (int, error) {
	if a == "" || b == "" {
		return boolCmp(a != "", b != ""), nil
	}
	av, ak, err := ParseMark(a)
	if err != nil {
		return 0, err
	}
	bv, bk, err := ParseMark(b)
	if err != nil {
		return 0, err
	}
	if ak != bk {
		return 0, fmt.Errorf("a %s does not compare with a %s", ak, bk)
	}
	if ak == MarkTime {
		at, _ := time.Parse(time.RFC3339Nano, av)
		bt, _ := time.Parse(time.RFC3339Nano, bv)
		return at.Compare(bt), nil
	}
	ar, _ := new(big.Rat).SetString(av)
	br, _ := new(big.Rat).SetString(bv)
	return ar.Cmp(br), nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// MaxMark is the greater of two cursor values ("" is less than any); of
// values that do not compare, b.
func MaxMark(a, b string) string {
	if c, err := CompareMarks(a, b); err == nil && c > 0 {
		return a
	}
	return b
}

// MinusLookback is the start value of a run after the mark: mark minus
// lookback, a Go duration for a time mark ("5m") or a number for a number
// mark ("100"). An empty lookback leaves the mark as it is.
func MinusLookback(mark, lookback string) (string, error) {
	if mark == "" || lookback == "" {
		return mark, nil
	}
	v, kind, err := ParseMark(mark)
	if err != nil {
		return "", err
	}
	if kind == MarkTime {
		d, err := time.ParseDuration(lookback)
		if err != nil || d < 0 {
			return "", fmt.Errorf("lookback %q of a time mark must be a duration such as 5m", lookback)
		}
		t, _ := time.Parse(time.RFC3339Nano, v)
		return formatTime(t.Add(-d)), nil
	}
	lb, ok := new(big.Rat).SetString(lookback)
	if !ok || lb.Sign() < 0 || strings.Contains(lookback, "/") {
		return "", fmt.Errorf("lookback %q of a number mark must be a number >= 0", lookback)
	}
	r, _ := new(big.Rat).SetString(v)
	r.Sub(r, lb)
	if r.IsInt() {
		return r.Num().String(), nil
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(18), "0"), "."), nil
}

// IsZero reports whether w is the zero window (a full run, or an
// incremental one that has neither filter nor values yet).
func (w Window) IsZero() bool { return w == Window{} }

// String describes the window for people: "from FROM to TO", "the
// beginning" for no filter, "nothing yet" before the first value.
func (w Window) String() string {
	from, to := w.From, w.To
	if from == "" {
		from = "the beginning"
	}
	if to == "" {
		to = "nothing yet"
	}
	return "from " + from + " to " + to
}
