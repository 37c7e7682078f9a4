// Package sink writes synced records to the destination database.
//
// The protocol that makes syncs exactly-once: a page's records are upserted
// by (dataset, record key) and the task's checkpoint is written in ONE
// transaction (Commit). Re-committing a page after any crash is harmless,
// and a checkpoint never moves backwards: not within a generation
// (ErrStaleCheckpoint, fewer pages) and not across generations, which are
// ordered by their start (ErrSuperseded: a generation that started before
// the stored one's writes neither checkpoint, records nor state; an unknown,
// zero start on either side is not ordered). See ARCHITECTURE.md §Sink
// protocol.
//
// # Destinations
//
// Package sink holds the interface, the checkpoint types and the checks
// every driver shares; the drivers are its subpackages sink/sqlite and
// sink/postgres, so that code which only passes a Sink around (activities,
// workflows, clients) does not link them. engine.OpenSink picks the driver
// from the DSN:
//
//	sqlite:///abs/path/syncflow.db   SQLite file, absolute path
//	sqlite://rel/path/syncflow.db    SQLite file, relative to the working directory
//	postgres://user:${PG_PASSWORD}@host:5432/db?sslmode=disable   PostgreSQL (also postgresql://)
//
// A destination travels with each task (ARCHITECTURE.md §Sink protocol), so
// it names its password as a ${NAME} reference, which the worker resolves
// (engine.Sinks); LiteralPassword finds a literal one, RedactDSN hides any
// password in errors and logs.
//
// Parent directories of a SQLite file are created. Any PostgreSQL runtime
// parameter may be added to the DSN, e.g. search_path=myschema to keep the
// tables in a schema of their own.
//
// # Tables
//
// Both destinations hold the same three tables, created on first use:
//
//	syncflow_records
//	  dataset    TEXT NOT NULL          dataset ID
//	  key        TEXT NOT NULL          record key (source.Record.Key)
//	  data       JSON text (SQLite, CHECK json_valid) / JSONB (PostgreSQL)
//	  synced_at  TEXT RFC 3339 UTC (SQLite) / TIMESTAMPTZ (PostgreSQL): last upsert
//	  generation_started INTEGER / BIGINT  start (Unix ns) of the generation of the
//	             last upsert, 0 = unknown (schema version 2)
//	  deleted_at TEXT RFC 3339 UTC (SQLite) / TIMESTAMPTZ (PostgreSQL), NULL = live:
//	             set by a completed full run of deletes: mark (or a first miss of
//	             a confirmed delete) that did not see the record; an upsert clears
//	             it (schema version 3)
//	  deleted_by INTEGER / BIGINT       generation start of the run that set
//	             deleted_at: a confirmed delete removes only records marked by
//	             another (an earlier) completed run (schema version 3)
//	  PRIMARY KEY (dataset, key)
//
//	syncflow_checkpoints
//	  task_id    TEXT PRIMARY KEY
//	  dataset    TEXT NOT NULL
//	  generation TEXT NOT NULL          one sync run of the task
//	  generation_started INTEGER / BIGINT  its start (task.Position.GenerationStarted)
//	             in Unix ns, 0 = unknown (schema version 2)
//	  cursor     TEXT NOT NULL          cursor of the next page
//	  done       INTEGER 0/1 (SQLite) / BOOLEAN (PostgreSQL)
//	  pages      INTEGER / BIGINT       pages committed in this generation
//	  records    INTEGER / BIGINT       records committed in this generation
//	  state      TEXT NOT NULL          running, completed, cancelled, failed
//	  message    TEXT NOT NULL          why it failed or was cancelled
//	  updated_at TEXT RFC 3339 UTC (SQLite) / TIMESTAMPTZ (PostgreSQL)
//	  window_from, window_to TEXT NOT NULL  the run's incremental window
//	             (task.Window; '' for a full run; schema version 3)
//
//	syncflow_incremental                  (schema version 3)
//	  dataset    TEXT PRIMARY KEY
//	  field      TEXT NOT NULL          the record path the mark was read from
//	  mark       TEXT NOT NULL          highest cursor value of completed runs
//	  updated_at TEXT RFC 3339 UTC (SQLite) / TIMESTAMPTZ (PostgreSQL)
//
// The commit of a run's last page (Checkpoint.Completes) does, in its
// transaction, what only a completed run does: it promotes the run's
// Window.To to the dataset's mark (the greater of the two; IncrementalState)
// and applies the dataset's DeleteMode to the records whose
// generation_started is not the run's. Reset deletes a dataset's
// checkpoints and mark (and records) in one transaction.
//
// A NUL character (U+0000) in a record key or in its data is stored as the
// six characters `\u0000` by both drivers (PostgreSQL refuses NUL in TEXT
// and JSONB); see StoredRecords.
//
// Records are upserted with INSERT ... ON CONFLICT (dataset, key) DO UPDATE;
// the checkpoint first, with INSERT ... ON CONFLICT (task_id) DO UPDATE ...
// WHERE the stored checkpoint is not ahead (same generation: not more
// pages; another generation: not started later, when both starts are
// known), so the check and the write are one statement and cannot race, and
// a refused page writes no record. SetState's upsert has the same
// generation-start condition.
//
// The schema version is kept in PRAGMA user_version (SQLite) and in the
// one-row table syncflow_schema (PostgreSQL); a database written by a newer
// syncflow is refused rather than misread, an older one is migrated in place
// when opened (version 1 to 2 adds the generation_started columns, default
// 0; 2 to 3 the window columns, deleted_at and syncflow_incremental).
//
// # SQLite
//
// The file is in WAL mode. All writes of a process go through one
// connection whose transactions begin IMMEDIATE, with a busy timeout: many
// activities committing at once queue up instead of failing with
// SQLITE_BUSY or deadlocking on a read-to-write lock upgrade, and other
// processes opening the same file wait for the lock too. Reads (Load,
// Count) use a separate pool of read-only connections and never wait for
// writers.
//
// synchronous=FULL, not NORMAL: in WAL mode NORMAL survives a process crash
// but may lose the last transactions on power loss, while the Temporal
// history has already recorded the activity as done and moved on to the
// next cursor. Those records would be lost for good. FULL costs one fsync
// per committed page, which is small next to an HTTP request.
//
// # PostgreSQL
//
// A page is upserted with one INSERT ... SELECT FROM unnest(...) statement,
// sorted by key (so concurrent tasks writing overlapping keys lock rows in
// the same order and do not deadlock) and deduplicated (the last record of
// a key in a page wins). Schema creation runs in a transaction holding
// pg_advisory_xact_lock, so several workers starting at once do not
// collide on CREATE TABLE IF NOT EXISTS.
//
// # Errors
//
// Errors are wrapped with the operation ("sqlite commit: ...",
// "postgres load: ...") and never contain record data or a DSN password.
// The drivers classify their own errors by the database's error codes and
// return them carrying their class (an *errors.Error in the chain, message
// unchanged): lock contention, lost connections and a server restarting are
// transient; disk full, corruption, schema and data errors unrecoverable.
// SQLite goes by its result code (SQLITE_BUSY, SQLITE_LOCKED), PostgreSQL
// by SQLSTATE (classes 08 and 53, 57P01-03, 40001, 40P01, 25006, 57014,
// 55P03) and pgconn's connection errors. See ARCHITECTURE.md §Failure table.
package sink
