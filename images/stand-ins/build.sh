#!/usr/bin/env bash
# Build the stand-in images for the parts whose official images cannot be pulled here:
#   stand-in/postgres:15      Debian's PostgreSQL 15, official postgres image env interface
#   stand-in/minio:20260212   MinIO built from the Go module proxy (go install, pinned)
#   stand-in/mc:20250313      the MinIO client (bucket Job), also from the module proxy
#   stand-in/prometheus:3.16  Prometheus + promtool from the Go module proxy (Debian's package
#                             has no Kubernetes service discovery)
# All FROM the debootstrapped base (scripts/docker/base-image.sh -> sentiment-base:bookworm).
#   build.sh [postgres|minio|mc|prometheus ...]   (default: all four)
#   build.sh binaries   only the minio and mc binaries, into .cache/stand-ins/bin (no Docker)
# Env: BASE_IMAGE (sentiment-base:bookworm), DOCKER (docker), GO_P (go build -p, 2).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/versions.env"
BASE_IMAGE="${BASE_IMAGE:-sentiment-base:bookworm}"
DOCKER="${DOCKER:-docker}"
CACHE="$ROOT/.cache/stand-ins"
log() { printf '[stand-ins %s] %s\n' "$(date +%T)" "$*" >&2; }
# docker build, quiet unless it fails (the legacy builder's deprecation notice is noise).
dbuild() {
  local out
  if ! out=$("$DOCKER" build --build-arg "BASE_IMAGE=$BASE_IMAGE" "$@" 2>&1); then
    printf '%s\n' "$out" | tail -n 40 >&2; return 1
  fi
}

build_postgres() {
  log "building $POSTGRES_IMAGE"
  dbuild -t "$POSTGRES_IMAGE" "$HERE/postgres"
}

# go_bin NAME MODULE VERSION: go install MODULE@VERSION into $CACHE/bin (once per version).
# Niced like mk/tools.mk's builds, not lower: `make test` waits for minio and mc, and in CI they
# must outrank the kind path's background builds (nice 19), or a cold minio build takes twice as long.
go_bin() {
  local name=$1 module=$2 version=$3 bin="$CACHE/bin"
  mkdir -p "$bin"
  if [[ ! -x "$bin/$name" || "$(cat "$bin/.$name-stamp" 2>/dev/null)" != "$version" ]]; then
    log "go install $module@$version"
    local t0=$SECONDS
    CGO_ENABLED=0 GOBIN="$bin" GOFLAGS="-buildvcs=false -trimpath" nice -n 10 \
      go install -p "${GO_P:-2}" -ldflags "-s -w" "$module@$version"
    echo "$version" > "$bin/.$name-stamp"
    log "$name built in $((SECONDS - t0))s"
  fi
}

# docker_build NAME TAG FILES...: build context = the Dockerfile dir's files + the Go binary.
docker_build() {
  local name=$1 tag=$2 ctx="$CACHE/$1-context"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$HERE/$name/." "$ctx/"
  cp "$CACHE/bin/$name" "$ctx/$name"
  log "building $tag"
  dbuild -t "$tag" "$ctx"
}

build_prometheus() {
  go_bin prometheus "$PROMETHEUS_MODULE/cmd/prometheus" "$PROMETHEUS_VERSION"
  go_bin promtool "$PROMETHEUS_MODULE/cmd/promtool" "$PROMETHEUS_VERSION"
  local ctx="$CACHE/prometheus-context"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$HERE/prometheus/." "$ctx/"
  cp "$CACHE/bin/prometheus" "$CACHE/bin/promtool" "$ctx/"
  log "building $PROMETHEUS_IMAGE"
  dbuild -t "$PROMETHEUS_IMAGE" "$ctx"
}

build_minio() { go_bin minio "$MINIO_MODULE" "$MINIO_VERSION"; docker_build minio "$MINIO_IMAGE"; }
build_mc() { go_bin mc "$MC_MODULE" "$MC_VERSION"; docker_build mc "$MC_IMAGE"; }
# The two binaries alone (no Docker): the backup scripts' integration test runs them on the host.
build_binaries() { go_bin minio "$MINIO_MODULE" "$MINIO_VERSION"; go_bin mc "$MC_MODULE" "$MC_VERSION"; }

targets=("$@"); ((${#targets[@]})) || targets=(postgres minio mc prometheus)
[[ "${targets[*]}" == binaries ]] || "$ROOT/scripts/docker/base-image.sh"
for t in "${targets[@]}"; do "build_$t"; done
log "done: ${targets[*]}"
