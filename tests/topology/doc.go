// Package topology runs the stack docker-compose.yml describes as real
// processes on one machine, without Docker: everything it starts is read
// from the compose file (services, their order and start conditions,
// replicas, commands, environment, mounted files, health checks and image
// versions), so the file is the one source of truth and this package only
// translates what a container engine would provide.
//
// Translation, service by service (images by repository):
//
//   - postgres:TAG: a PostgreSQL cluster of its own from the machine's
//     PostgreSQL binaries (Debian's package in CI), initialised as the image's
//     entrypoint does: superuser POSTGRES_USER with POSTGRES_PASSWORD
//     (scram-sha-256 over TCP), database POSTGRES_DB (default: the user).
//   - temporalio/server:TAG: temporal-server built from the
//     go.temporal.io/server module at the same version (Build refuses a
//     different one), started as the image's entrypoint does
//     (`temporal-server start`, the server's embedded configuration template
//     filled from the service's environment).
//   - temporalio/admin-tools:TAG: the service's entrypoint script run with
//     temporal-sql-tool of that module version and the temporal CLI on PATH.
//   - services built from the Dockerfile: the binaries its `go build` makes.
//   - temporalio/ui:TAG is not started (Topology.Skipped says so).
//
// What a container engine gives and a single machine does not is replaced:
// every service's container ports get free loopback ports, and the strings
// that name them ("destination:5432", a host-only "postgresql" with its
// *_PORT, ":8080", "127.0.0.1:9090" in a health check) are rewritten; paths
// under a bind mount become the host files, and a mounted file that names
// services is copied with the addresses rewritten; BIND_ON_IP is 127.0.0.1
// instead of 0.0.0.0, and the Temporal server's internal ports are free
// ports too. Services start one at a time in depends_on order, each after
// its dependencies met their condition (healthy: the service's own compose
// health check passed, run here; completed successfully: exit status 0).
package topology
