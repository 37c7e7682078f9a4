package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	sferrors "github.com/syncflow/syncflow/errors"
)

// classified returns err carrying its class (an *errors.Error in its
// chain), with its message unchanged; nil stays nil. The class comes from
// the server's SQLSTATE or pgconn's error types, so that the activity
// calling the sink need not guess from the message text.
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

// classify says what a failure of the PostgreSQL sink means:
//
//   - an error from the server (*pgconn.PgError, also inside a connect
//     error) by its SQLSTATE (classOfSQLState);
//   - a failed connection attempt (*pgconn.ConnectError) without a server
//     error, a broken connection (pgconn.ErrConnClosed, an error pgconn
//     says is safe to retry, a timeout) and network errors (by
//     errors.Classify) are transient;
//   - anything else (bad DSN, closed pool, encoding) is unrecoverable.
func classify(err error) sferrors.Class {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classOfSQLState(pgErr.Code)
	}
	var connectErr *pgconn.ConnectError
	switch {
	case errors.As(err, &connectErr),
		errors.Is(err, pgconn.ErrConnClosed),
		pgconn.SafeToRetry(err),
		pgconn.Timeout(err),
		sferrors.Classify(err).Class == sferrors.Transient:
		return sferrors.Transient
	}
	return sferrors.Unrecoverable
}

// transientStates are the SQLSTATEs, beyond classes 08 and 53, after which
// another attempt may well succeed.
var transientStates = map[string]bool{
	"57P01": true, // admin_shutdown: the server is restarting
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now: the server is starting up
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"25006": true, // read_only_sql_transaction: a failover left us on a replica
	"57014": true, // query_canceled: statement_timeout (an operator's cancel too)
	"55P03": true, // lock_not_available: lock_timeout
}

// classOfSQLState classifies a PostgreSQL SQLSTATE. Transient: class 08
// (connection exception), class 53 (insufficient resources: too many
// connections, out of memory or disk space that an operator may free) and
// transientStates. Everything else (syntax, schema, constraint, privilege,
// authentication, data) fails again the same way: unrecoverable.
func classOfSQLState(code string) sferrors.Class {
	if strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || transientStates[code] {
		return sferrors.Transient
	}
	return sferrors.Unrecoverable
}
