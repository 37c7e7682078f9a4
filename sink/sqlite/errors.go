package sqlite

import (
	"errors"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	sferrors "github.com/syncflow/syncflow/errors"
)

// classified returns err carrying its class (an *errors.Error in its
// chain), with its message unchanged; nil stays nil. The class comes from
// the SQLite result code, so that the activity calling the sink need not
// guess from the message text.
func classified(err error) error {
	if err == nil {
		return nil
	}
	var se *sferrors.Error
	if errors.As(err, &se) {
		return err // already classified
	}
	return sferrors.New(classify(err), "", err)
}

// classify says what a failure of the SQLite sink means. A *sqlite.Error
// is judged by its result code (classOfCode); any other error (context,
// file system, database/sql) by errors.Classify: transient when that says
// so, otherwise unrecoverable.
func classify(err error) sferrors.Class {
	var e *msqlite.Error
	if errors.As(err, &e) {
		return classOfCode(e.Code())
	}
	if sferrors.Classify(err).Class == sferrors.Transient {
		return sferrors.Transient
	}
	return sferrors.Unrecoverable
}

// classOfCode classifies a SQLite result code, primary or extended (the
// primary code is its low byte). Only lock contention is transient:
// SQLITE_BUSY (another connection or process holds the lock past the busy
// timeout) and SQLITE_LOCKED (a conflict inside this connection's shared
// cache), another attempt may find the lock free. Everything else — disk
// full, cannot open, corrupt, read-only, I/O error, constraint, schema —
// will fail again the same way: unrecoverable.
func classOfCode(code int) sferrors.Class {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return sferrors.Transient
	default:
		return sferrors.Unrecoverable
	}
}
