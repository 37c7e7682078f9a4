package activities

import (
	"fmt"

	"github.com/syncflow/syncflow/config"
	sferrors "github.com/syncflow/syncflow/errors"
	"github.com/syncflow/syncflow/sink"
	"github.com/syncflow/syncflow/source"
	"github.com/syncflow/syncflow/task"
)

// opIncremental is the Op of the errors of incremental runs.
const opIncremental = "incremental"

// startIncremental prepares the execution's source for the task's run
// (README §Incremental syncs and deletes): the dataset's delete mode, and
// for an incremental dataset the run's window. A run that has committed
// nothing yet starts from the dataset's mark in the sink (that of its last
// completed run) less the lookback, or from the initial value; a run that
// has committed pages keeps the window its position carries, so that every
// execution, retry and continue-as-new of one run sends the same filter.
func (s *pageSync) startIncremental(pos task.Position) (task.Position, *sferrors.Error) {
	ds := s.in.Dataset
	s.cfg = ds.Source
	if err := config.IncrementalError(ds); err != nil {
		return pos, sferrors.New(sferrors.InvalidRequest, opIncremental, err)
	}
	s.deletes = deleteMode(ds)
	inc := ds.Incremental
	if inc == nil {
		return pos, nil
	}
	if pos.Pages == 0 {
		w, e := s.firstWindow(*inc)
		if e != nil {
			return pos, e
		}
		pos.Window = w
	}
	if pos.Window.From != "" {
		s.cfg = ds.Source.WithQueryParam(inc.Param, pos.Window.From)
	}
	return pos, nil
}

// firstWindow is the window of a run that starts: from the dataset's mark
// less the lookback, else from the initial value ("" = no filter).
func (s *pageSync) firstWindow(inc config.Incremental) (task.Window, *sferrors.Error) {
	st, ok, err := s.snk.Incremental(s.ctx, s.in.Dataset.ID)
	if err != nil {
		if s.ctx.Err() != nil {
			return task.Window{}, cutOff(s.ctx, s.stopping, "load incremental mark")
		}
		return task.Window{}, sferrors.New(classifySinkError(s.ctx, err), "load incremental mark", err)
	}
	if ok && st.Field == inc.Field && st.Mark != "" {
		from, err := task.MinusLookback(st.Mark, inc.Lookback)
		if err != nil {
			return task.Window{}, sferrors.New(sferrors.InvalidRequest, opIncremental,
				fmt.Errorf("dataset %s: incremental.lookback: %w", s.in.Dataset.ID, err))
		}
		return task.Window{From: from}, nil
	}
	if inc.Initial == "" {
		return task.Window{}, nil
	}
	from, _, err := task.ParseMark(inc.Initial) // checked by config.IncrementalError
	if err != nil {
		return task.Window{}, sferrors.New(sferrors.InvalidRequest, opIncremental, err)
	}
	return task.Window{From: from}, nil
}

// deleteMode is the sink's delete mode for a dataset: delete is confirmed
// over two completed runs where the pagination cannot vouch for a
// complete read.
func deleteMode(ds config.Dataset) sink.DeleteMode {
	switch ds.Deletes {
	case config.DeletesMark:
		return sink.DeletesMark
	case config.DeletesDelete:
		if ds.Source.Pagination.VouchesForCompleteness() {
			return sink.DeletesDelete
		}
		return sink.DeletesDeleteConfirmed
	}
	return sink.DeletesKeep
}

// pageMark is the highest cursor value of a page's records, checked before
// anything of the page is committed: every record must carry one, of the
// kind of the run's values so far. "" for a dataset that is not
// incremental or a page without records.
func (s *pageSync) pageMark(records []source.Record) (string, *sferrors.Error) {
	inc := s.in.Dataset.Incremental
	if inc == nil {
		return "", nil
	}
	kind := task.MarkKind(s.pos.Window.To)
	if kind == "" {
		kind = task.MarkKind(s.pos.Window.From)
	}
	highest := ""
	for _, r := range records {
		v, err := recordMark(r, inc.Field, kind)
		if err != nil {
			return "", sferrors.New(sferrors.InvalidRequest, opIncremental,
				fmt.Errorf("dataset %s: record %q: incremental field %q %w; nothing of the page was committed", s.in.Dataset.ID, r.Key, inc.Field, err))
		}
		kind = task.MarkKind(v)
		highest = task.MaxMark(highest, v)
	}
	return highest, nil
}

// recordMark reads the cursor value at field of record r, which must be of
// kind (when known).
func recordMark(r source.Record, field, kind string) (string, error) {
	raw, found, err := source.Field(r.Data, field)
	if err != nil {
		return "", fmt.Errorf("cannot be read: the record is malformed")
	}
	if !found {
		return "", fmt.Errorf("is missing")
	}
	v, err := task.ParseMarkJSON(raw)
	if err != nil {
		return "", err
	}
	if got := task.MarkKind(v); kind != "" && got != kind {
		return "", fmt.Errorf("is a %s, but the run's values are of kind %s", got, kind)
	}
	return v, nil
}

// incrementalField is the dataset's incremental field, "" when it has none.
func (s *pageSync) incrementalField() string {
	if inc := s.in.Dataset.Incremental; inc != nil {
		return inc.Field
	}
	return ""
}
