package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinScheduleEvery is the shortest `@every` interval a schedule may have.
const MinScheduleEvery = time.Second

// Schedule is a dataset's parsed `schedule:`: either a cron expression
// (Cron, five fields or a descriptor such as @daily, in UTC) or a fixed
// interval (Every). Exactly one is set.
type Schedule struct {
	Cron  string
	Every time.Duration
}

// String is the schedule as a configuration writes it: the cron
// expression, or "@every" and the interval without zero units ("1h", not
// "1h0m0s").
func (s Schedule) String() string {
	if s.Every > 0 {
		d := s.Every.String()
		if strings.HasSuffix(d, "m0s") {
			d = strings.TrimSuffix(d, "0s")
		}
		if strings.HasSuffix(d, "h0m") {
			d = strings.TrimSuffix(d, "0m")
		}
		return "@every " + d
	}
	return s.Cron
}

// cronDescriptors are the accepted shorthands for cron expressions (the
// Temporal server expands them itself).
var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// cronField is one field of a five-field cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i (months, days of week)
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// ParseSchedule parses a dataset's `schedule:` value: a five-field cron
// expression (minute hour day-of-month month day-of-week, with *, lists,
// ranges, /steps and month or weekday names; evaluated in UTC), one of
// @yearly @annually @monthly @weekly @daily @midnight @hourly, or
// "@every DURATION" (a Go duration of at least MinScheduleEvery, e.g.
// @every 1h30m). The error says what is wrong without the rest of the file.
func ParseSchedule(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Schedule{}, fmt.Errorf("empty schedule: want a cron expression such as \"0 3 * * *\" or @every DURATION such as \"@every 1h\"")
	case strings.HasPrefix(s, "@every"):
		return parseEvery(s)
	case strings.HasPrefix(s, "@"):
		for _, d := range cronDescriptors {
			if s == d {
				return Schedule{Cron: s}, nil
			}
		}
		return Schedule{}, fmt.Errorf("unknown schedule %q: want @every DURATION, one of %s, or a five-field cron expression", s, strings.Join(cronDescriptors, ", "))
	}
	fields := strings.Fields(s)
	if len(fields) != len(cronFields) {
		return Schedule{}, fmt.Errorf("cron expression %q has %d fields, want 5: minute hour day-of-month month day-of-week (e.g. \"0 3 * * *\", every day at 03:00 UTC)", s, len(fields))
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return Schedule{}, fmt.Errorf("cron expression %q: %w", s, err)
		}
	}
	return Schedule{Cron: strings.Join(fields, " ")}, nil
}

// parseEvery parses "@every DURATION".
func parseEvery(s string) (Schedule, error) {
	rest, ok := strings.CutPrefix(s, "@every ")
	rest = strings.TrimSpace(rest)
	if !ok || rest == "" {
		return Schedule{}, fmt.Errorf("%q: want @every DURATION, e.g. \"@every 1h\" or \"@every 15m\"", s)
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return Schedule{}, fmt.Errorf("%q: %q is not a duration (want e.g. 90s, 15m, 1h30m)", s, rest)
	}
	if d < MinScheduleEvery {
		return Schedule{}, fmt.Errorf("%q: the interval must be at least %s", s, MinScheduleEvery)
	}
	if d%time.Second != 0 {
		return Schedule{}, fmt.Errorf("%q: the interval must be a whole number of seconds", s)
	}
	return Schedule{Every: d}, nil
}

// check validates one field of a cron expression: a comma-separated list
// of *, N, N-M, each optionally followed by /STEP.
func (f cronField) check(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		base, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Errorf("%s field %q: step %q must be a positive whole number", f.name, s, step)
			}
		}
		if base == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(base, "-")
		a, err := f.value(lo)
		if err != nil {
			return fmt.Errorf("%s field %q: %w", f.name, s, err)
		}
		if !isRange {
			continue
		}
		b, err := f.value(hi)
		if err != nil {
			return fmt.Errorf("%s field %q: %w", f.name, s, err)
		}
		if b < a {
			return fmt.Errorf("%s field %q: range %s ends before it starts", f.name, s, base)
		}
	}
	return nil
}

// value parses one value of the field: a number in range or a name.
func (f cronField) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < f.min || n > f.max {
		want := fmt.Sprintf("%d-%d", f.min, f.max)
		if len(f.names) > 0 {
			want += " or " + f.names[0] + "-" + f.names[len(f.names)-1]
		}
		return 0, fmt.Errorf("%q is not a valid value (want %s)", s, want)
	}
	return n, nil
}

// checkSchedule checks the schedule of the dataset at p, if it has one.
func (d *decoder) checkSchedule(p string, ds Dataset) {
	if _, set := d.lines[join(p, "schedule")]; !set && ds.Schedule == "" {
		return
	}
	if _, err := ParseSchedule(ds.Schedule); err != nil {
		d.addAt(p, "schedule", "%v", err)
	}
}

// ParsedSchedule is the dataset's parsed schedule; ok is false when it has
// none. Load has validated it.
func (d Dataset) ParsedSchedule() (s Schedule, ok bool, err error) {
	if d.Schedule == "" {
		return Schedule{}, false, nil
	}
	s, err = ParseSchedule(d.Schedule)
	return s, err == nil, err
}
