// Package deploy holds syncflow's deployment files and the tests that validate
// them, since no Docker engine is at hand to run them: the Temporal server's
// dynamic configuration (dynamicconfig/), the syncflow configuration the
// Compose stack mounts into the worker and the starter (config.yaml), the
// one-shot Temporal setup scripts (scripts/) and the image's health probe
// (healthcheck/).
//
// The tests load ../docker-compose.yml with compose-go, the library Docker
// Compose itself uses, and check what a reviewer would: pinned images, health
// checks, start order, the worker's environment and shutdown grace, the files
// the services mount, the Dockerfile's stages and user, and that the README's
// docker compose commands name real services. tests/topology runs the stack
// itself, without Docker, from the same files (scripts/topology.sh).
package deploy
