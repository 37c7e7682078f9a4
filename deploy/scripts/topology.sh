#!/usr/bin/env bash
# Runs the docker-compose.yml stack without Docker, as real processes on this
# machine (package tests/topology): PostgreSQL clusters for Temporal and the
# destination, Temporal's schema tool and setup script, the Temporal server of
# the go.mod version with deploy/dynamicconfig, the demo API and two workers,
# every setting taken from docker-compose.yml. Ctrl-C stops it.
#
#   bash deploy/scripts/topology.sh [--dir DIR]
#
# Needs PostgreSQL's server binaries (as root: `bash .ci/postgres.sh` installs
# them and the postgres user), nc (netcat-openbsd) and the temporal CLI
# (go install github.com/temporalio/cli/cmd/temporal@v1.5.1).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./tests/topology/cmd/topology "$@"
