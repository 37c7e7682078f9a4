package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// Incremental makes a dataset's runs incremental (README §Incremental syncs
// and deletes): each run sends Param = the high-water mark of the last
// completed run, minus Lookback, and reads only the records changed since.
type Incremental struct {
	// Field is the path in each record of its cursor value: an RFC 3339
	// time or a number.
	Field string `json:"field" yaml:"field"`
	// Param is the query parameter that sends the start value.
	Param string `json:"param" yaml:"param"`
	// Initial is the start value of the first run; "" sends no filter.
	Initial string `json:"initial,omitempty" yaml:"initial,omitempty"`
	// Lookback re-reads this far before the last mark: a Go duration for
	// times ("5m"), a number for numbers ("100"); "" none.
	Lookback string `json:"lookback,omitempty" yaml:"lookback,omitempty"`
}

// Values of Dataset.Deletes.
const (
	DeletesKeep   = "keep"
	DeletesMark   = "mark"
	DeletesDelete = "delete"
)

// incrementalProblems checks a dataset's incremental and deletes fields.
func incrementalProblems(ds Dataset) []fieldProblem {
	var probs []fieldProblem
	switch ds.Deletes {
	case "", DeletesKeep, DeletesMark, DeletesDelete:
	default:
		probs = append(probs, fieldProblem{"deletes", fmt.Sprintf("unknown value %q: want keep, mark or delete", ds.Deletes)})
	}
	inc := ds.Incremental
	if inc == nil {
		return probs
	}
	if ds.Deletes == DeletesMark || ds.Deletes == DeletesDelete {
		probs = append(probs, fieldProblem{"deletes", fmt.Sprintf(
			"deletes: %s needs full runs, but the dataset is incremental: a run that reads only what changed cannot tell a deleted record from an unchanged one (remove incremental, or use deletes: keep)", ds.Deletes)})
	}
	for _, e := range CheckIncremental(*inc) {
		probs = append(probs, fieldProblem{"incremental." + e.field, e.msg})
	}
	if inc.Param != "" && inc.Param == ds.Source.Pagination.ParamName() {
		probs = append(probs, fieldProblem{"incremental.param", fmt.Sprintf("%q is the pagination's parameter too", inc.Param)})
	}
	return probs
}

// CheckIncremental checks an incremental block on its own (also done by
// the worker for a task that did not come through Load): field and param
// are required, initial is a time or a number, lookback fits its kind.
func CheckIncremental(inc Incremental) []fieldProblem {
	var probs []fieldProblem
	if inc.Field == "" {
		probs = append(probs, fieldProblem{"field", "required: the path in each record of its cursor value (an RFC 3339 time or a number), e.g. updated_at"})
	} else if err := source.CheckFieldPath(inc.Field); err != nil {
		probs = append(probs, fieldProblem{"field", err.Error()})
	}
	if strings.TrimSpace(inc.Param) == "" {
		probs = append(probs, fieldProblem{"param", "required: the query parameter that sends the start value, e.g. updated_since"})
	}
	kind := ""
	if inc.Initial != "" {
		var err error
		if _, kind, err = task.ParseMark(inc.Initial); err != nil {
			probs = append(probs, fieldProblem{"initial", "must be an RFC 3339 time (2026-01-01T00:00:00Z) or a number"})
		}
	}
	if msg := lookbackProblem(inc.Lookback, kind); msg != "" {
		probs = append(probs, fieldProblem{"lookback", msg})
	}
	return probs
}

// lookbackProblem checks a lookback against the kind of the initial value
// ("" when unknown: a duration or a number).
func lookbackProblem(lookback, kind string) string {
	if lookback == "" {
		return ""
	}
	_, errTime := task.MinusLookback("2000-01-01T00:00:00Z", lookback)
	_, errNum := task.MinusLookback("0", lookback)
	switch {
	case kind == task.MarkTime && errTime != nil:
		return "initial is a time, so lookback must be a duration such as 5m"
	case kind == task.MarkNumber && errNum != nil:
		return "initial is a number, so lookback must be a number >= 0"
	case errTime != nil && errNum != nil:
		return "must be a duration such as 5m (time cursors) or a number >= 0 (number cursors)"
	}
	return ""
}

// IncrementalError is CheckIncremental's problems as one error (nil when
// none), for a dataset that did not come through Load.
func IncrementalError(ds Dataset) error {
	probs := incrementalProblems(ds)
	if len(probs) == 0 {
		return nil
	}
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = fmt.Errorf("dataset %s: %s: %s", ds.ID, p.field, p.msg)
	}
	return errors.Join(errs...)
}
