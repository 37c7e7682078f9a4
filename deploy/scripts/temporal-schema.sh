#!/bin/sh
# Creates or upgrades Temporal's PostgreSQL schemas (persistence and visibility).
# Runs in temporalio/admin-tools as the one-shot compose service temporal-schema.
# Idempotent: an existing database is kept, setup-schema -v 0.0 only ensures the
# version tables, and update-schema applies just the versions not yet applied. The
# schemas are the ones embedded in the tool, so they match its server release.
set -eu

: "${DB_HOST:?DB_HOST is required}"
: "${SQL_USER:?SQL_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
DB_PORT="${DB_PORT:-5432}"

sql() {
	temporal-sql-tool --plugin postgres12 --ep "$DB_HOST" -p "$DB_PORT" "$@"
}

echo "waiting for PostgreSQL at $DB_HOST:$DB_PORT"
attempt=1
until nc -z -w 5 "$DB_HOST" "$DB_PORT"; do
	if [ "$attempt" -ge 60 ]; then
		echo "PostgreSQL at $DB_HOST:$DB_PORT is not reachable" >&2
		exit 1
	fi
	attempt=$((attempt + 1))
	sleep 2
done

for db in temporal:temporal temporal_visibility:visibility; do
	name="${db%%:*}"
	schema="postgresql/v12/${db##*:}"
	echo "schema $schema in database $name"
	sql --db "$name" create
	sql --db "$name" setup-schema -v 0.0
	sql --db "$name" update-schema --schema-name "$schema"
done
echo "Temporal schemas are up to date"
