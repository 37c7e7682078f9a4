#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for syncflow's tests and prints the DSN.
#
#   eval "$(.ci/postgres.sh | grep '^export ')"
#   go test -count=1 -race ./sink/...
#
# Idempotent: installs PostgreSQL (apt-get) only if no server binary is found,
# initialises the cluster only once, starts it only if it is not running, and
# creates the database only if it is missing. Works as root (the server runs
# as the "postgres" user, since initdb refuses root) and as an ordinary user.
# Trust authentication on 127.0.0.1 only: for tests, never for production.
#
# Environment (all optional):
#   SYNCFLOW_PG_DIR   data directory            (default /tmp/syncflow-pg)
#   SYNCFLOW_PG_PORT  TCP port on 127.0.0.1     (default 5432)
#   SYNCFLOW_PG_DB    database to create        (default syncflow_test)
set -euo pipefail

PGDATA_DIR=${SYNCFLOW_PG_DIR:-/tmp/syncflow-pg}
PGPORT=${SYNCFLOW_PG_PORT:-5432}
PGDB=${SYNCFLOW_PG_DB:-syncflow_test}
PGHOST=127.0.0.1
SOCKDIR=${PGDATA_DIR}-run
LOGFILE=${PGDATA_DIR}.log

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -n "$d" && -x "$d/postgres" ]]; then
		echo "$d"
		return
	fi
	if command -v pg_ctl >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
	fi
}

BINDIR=$(find_bindir)
if [[ -z "$BINDIR" ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		log "no PostgreSQL server found and not root: install postgresql first"
		exit 1
	fi
	log "installing postgresql with apt-get"
	# Do not let the package create and start its own "main" cluster on 5432.
	if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
		mkdir -p /etc/postgresql-common
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql >/dev/null
	BINDIR=$(find_bindir)
	if [[ -z "$BINDIR" ]]; then
		log "postgresql installed but no server binary found under /usr/lib/postgresql"
		exit 1
	fi
fi

# as_pg runs a command as the server's owner: "postgres" when we are root.
if [[ $(id -u) -eq 0 ]]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi
	as_pg() { runuser -u postgres -- "$@"; }
	OWNER=postgres
else
	as_pg() { "$@"; }
	OWNER=$(id -un)
fi

mkdir -p "$PGDATA_DIR" "$SOCKDIR"
touch "$LOGFILE"
chown "$OWNER" "$PGDATA_DIR" "$SOCKDIR" "$LOGFILE"
chmod 700 "$PGDATA_DIR"

if [[ ! -s "$PGDATA_DIR/PG_VERSION" ]]; then
	log "initialising cluster in $PGDATA_DIR"
	as_pg "$BINDIR/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
fi

if as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
	# Its port is the one it was started with (line 4 of postmaster.pid).
	PGPORT=$(sed -n 4p "$PGDATA_DIR/postmaster.pid")
	log "server already running in $PGDATA_DIR on port $PGPORT"
else
	log "starting server on $PGHOST:$PGPORT (log: $LOGFILE)"
	# fsync off: test data only, and much faster.
	as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$LOGFILE" -w -t 60 \
		-o "-c listen_addresses=$PGHOST -p $PGPORT -k $SOCKDIR -c fsync=off -c max_connections=200" start >/dev/null
fi

for _ in $(seq 1 60); do
	if "$BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT"; then
		break
	fi
	sleep 1
done
if ! "$BINDIR/pg_isready" -q -h "$PGHOST" -p "$PGPORT"; then
	log "server on $PGHOST:$PGPORT is not ready; see $LOGFILE"
	exit 1
fi

PSQL=("$BINDIR/psql" -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
if [[ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PGDB'")" != "1" ]]; then
	log "creating database $PGDB"
	"$BINDIR/createdb" -h "$PGHOST" -p "$PGPORT" -U postgres "$PGDB"
fi

echo "export SYNCFLOW_TEST_POSTGRES='postgres://postgres@$PGHOST:$PGPORT/$PGDB?sslmode=disable'"
