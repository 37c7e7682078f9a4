# syncflow's image: the worker, the starter CLI, the demo source API and a health
# probe, as static binaries on an empty base, run as a non-root user.
#
#   docker build -t syncflow .            (docker compose builds it for you)
#   docker run --rm syncflow worker --help
#
# Stage "build" is pinned to the project's Go toolchain (go.mod: go 1.26.8). Stage
# "runtime" starts from scratch, so the only pinned input is the build stage: no
# floating base tag, no shell, no package manager in the image.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath

# Dependencies first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
# timetzdata embeds the zone database, which scratch lacks.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -tags timetzdata -ldflags="-s -w" -o /out/ \
        ./worker \
        ./starter \
        ./demoapi/cmd/demoapi \
        ./deploy/healthcheck

# A minimal root file system: a named non-root user and a writable /tmp.
RUN mkdir -p /rootfs/etc /rootfs/tmp /rootfs/home/nonroot \
    && chmod 1777 /rootfs/tmp \
    && chown 65532:65532 /rootfs/home/nonroot \
    && echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /rootfs/etc/passwd \
    && echo 'nonroot:x:65532:' > /rootfs/etc/group

FROM scratch AS runtime
COPY --from=build /rootfs/ /
# COPY makes files root-owned; the home directory must belong to its user.
COPY --from=build --chown=65532:65532 /rootfs/home/nonroot /home/nonroot
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /usr/local/bin/
ENV PATH=/usr/local/bin HOME=/home/nonroot
WORKDIR /home/nonroot
USER 65532:65532
# 9090: worker health (/healthz) and metrics; 8080: demo API.
EXPOSE 9090 8080
CMD ["worker"]
