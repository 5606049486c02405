#!/usr/bin/env bash
# Build one of the project images from the repository root: the target of the same name in
# images/Dockerfile, tagged $IMAGE_PREFIX<name>:$IMAGE_TAG.
#   scripts/docker/build-image.sh trainer|mlflow|prefect|model-server
#   scripts/docker/build-image.sh --print-base      # just print the base image that would be used
# The targets share the Dockerfile's `base` stage: built once (by the first image), cached after.
#
# What it decides so callers (make, tests) need not:
#   - the base: $BASE_IMAGE if set; else python:3.11-slim when it is present locally or Docker
#     Hub answers within a few seconds; else the debootstrapped sentiment-base:bookworm
#     (scripts/docker/base-image.sh builds it once);
#   - a BuildKit-capable client: `docker` with buildx, else a pre-23 client with DOCKER_BUILDKIT=1
#     (Debian's /usr/bin/docker), since RUN --mount needs BuildKit;
#   - the trainer's `data` context: `--build-context data=$DATA_DIR` where the builder supports
#     named contexts, else a tiny data image (images/data.Dockerfile) passed as DATA_IMAGE;
#   - the CA bundle ($CACERT, default the system bundle) as BuildKit secret `cacert`, so pip works
#     behind a TLS-inspecting proxy without the CA ever entering an image.
# Env: IMAGE_TAG (0.1.0), IMAGE_PREFIX (sentiment-), BASE_IMAGE, DATA_DIR (../shared/data),
#      CACERT, NO_CACHE=1 (cold build: --no-cache; with CACHE_BUST=<id> set as well, the build arg
#      CACHE_BUST instead, so the images built with the same id share one fresh base stage: this is
#      what `make images NO_CACHE=1` does), DOCKER (client to use), RUN_DIR.
# Appends "<utc time> <image> <base> <cache|no-cache> <seconds>s <size>" to $RUN_DIR/images/build-times.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"
TAG="${IMAGE_TAG:-0.1.0}"
PREFIX="${IMAGE_PREFIX:-sentiment-}"
DATA_DIR="${DATA_DIR:-$(cd "$ROOT/.." && pwd)/shared/data}"
CACERT="${CACERT-/etc/ssl/certs/ca-certificates.crt}"
PUBLIC_BASE="python:3.11-slim"
LOCAL_BASE="${BASE_IMAGE_TAG:-sentiment-base:bookworm}"
LOG_DIR="$RUN_DIR/images"

log() { printf 'build-image: %s\n' "$*" >&2; }
major() { local v="${1#v}"; v="${v%%.*}"; [[ "$v" =~ ^[0-9]+$ ]] && echo "$v" || echo 0; }

pick_client() {
  if [ -n "${DOCKER:-}" ]; then echo "$DOCKER"; return; fi
  if docker buildx version >/dev/null 2>&1; then echo docker; return; fi
  local c v
  for c in docker /usr/bin/docker; do
    command -v "$c" >/dev/null 2>&1 || continue
    v="$("$c" --version 2>/dev/null | sed -n 's/^Docker version \([0-9][0-9.]*\).*/\1/p')"
    if [ -n "$v" ] && [ "$(major "$v")" -lt 23 ]; then echo "$c"; return; fi
  done
  log "no BuildKit-capable docker client: install the buildx plugin (or Debian's docker.io)"
  return 1
}

registry_reachable() {
  local code
  if command -v curl >/dev/null 2>&1; then
    code="$(curl -s -m 5 -o /dev/null -w '%{http_code}' https://registry-1.docker.io/v2/ 2>/dev/null || true)"
    [ "$code" = 200 ] || [ "$code" = 401 ]
  else
    timeout 120 docker pull -q "$PUBLIC_BASE" >/dev/null 2>&1
  fi
}

resolve_base() {
  if [ -n "${BASE_IMAGE:-}" ]; then echo "$BASE_IMAGE"; return; fi
  if docker image inspect "$PUBLIC_BASE" >/dev/null 2>&1; then echo "$PUBLIC_BASE"; return; fi
  if registry_reachable; then echo "$PUBLIC_BASE"; return; fi
  if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1 \
      || { [ "$(id -u)" -eq 0 ] && [ "$(uname -s)" = Linux ]; }; then
    log "no container registry reachable: using the debootstrapped $LOCAL_BASE"
    "$ROOT/scripts/docker/base-image.sh" >&2
    echo "$LOCAL_BASE"
    return
  fi
  log "warning: Docker Hub did not answer and $LOCAL_BASE cannot be built here (needs root on Linux); trying $PUBLIC_BASE"
  echo "$PUBLIC_BASE"
}

"$ROOT/scripts/docker/dockerd-up.sh"

if [ "${1:-}" = "--print-base" ]; then resolve_base; exit 0; fi

NAME="${1:?usage: build-image.sh trainer|mlflow|prefect|model-server}"
case "$NAME" in
  trainer|mlflow|prefect|model-server) ;;
  *) log "unknown image $NAME (trainer, mlflow, prefect or model-server)"; exit 2 ;;
esac
DOCKERFILE="$ROOT/images/Dockerfile"
IMAGE="$PREFIX$NAME:$TAG"
CLIENT="$(pick_client)"
BASE="$(resolve_base)"
mkdir -p "$LOG_DIR"

args=(build -f "$DOCKERFILE" --target "$NAME" -t "$IMAGE" --build-arg "BASE_IMAGE=$BASE"
      --label "org.opencontainers.image.title=$PREFIX$NAME"
      --label "org.opencontainers.image.version=$TAG"
      --label "org.opencontainers.image.revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
      --label "org.opencontainers.image.base.name=$BASE")
[ -n "$CACERT" ] && [ -s "$CACERT" ] && args+=(--secret "id=cacert,src=$CACERT")
if [ "${NO_CACHE:-0}" = 1 ]; then
  if [ -n "${CACHE_BUST:-}" ]; then args+=(--build-arg "CACHE_BUST=$CACHE_BUST"); else args+=(--no-cache); fi
fi

if [ "$NAME" = trainer ]; then
  [ -f "$DATA_DIR/flipkart_reviews_badminton.csv" ] \
    || { log "missing $DATA_DIR/flipkart_reviews_badminton.csv (set DATA_DIR)"; exit 2; }
  server="$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo 0)"
  if [ "$CLIENT" = docker ] && docker buildx version >/dev/null 2>&1 && [ "$(major "$server")" -ge 23 ]; then
    args+=(--build-context "data=$DATA_DIR")
  else
    DATA_IMAGE="${PREFIX}data:$TAG"
    log "builder without named contexts: packing $DATA_DIR as $DATA_IMAGE"
    DOCKER_BUILDKIT=1 "$CLIENT" build -q -f "$ROOT/images/data.Dockerfile" -t "$DATA_IMAGE" "$DATA_DIR" >/dev/null
    args+=(--build-arg "DATA_IMAGE=$DATA_IMAGE")
  fi
fi

log "$IMAGE from $BASE ($CLIENT)"
start=$SECONDS
if ! DOCKER_BUILDKIT=1 "$CLIENT" "${args[@]}" "$ROOT" 2>&1 | tee "$LOG_DIR/$NAME.build.log"; then
  log "build of $IMAGE failed (log: $LOG_DIR/$NAME.build.log)"; exit 1
fi
secs=$((SECONDS - start))
size="$(docker image inspect -f '{{.Size}}' "$IMAGE")"
human="$(awk -v b="$size" 'BEGIN { printf (b >= 1e9 ? "%.2fGB" : "%.0fMB"), (b >= 1e9 ? b / 1e9 : b / 1e6) }')"
kind=cache; [ "${NO_CACHE:-0}" = 1 ] && kind=no-cache
printf '%s %s %s %s %ss %s\n' "$(date -u +%FT%TZ)" "$IMAGE" "$BASE" "$kind" "$secs" "$human" >>"$LOG_DIR/build-times.log"
log "built $IMAGE in ${secs}s, $human"
