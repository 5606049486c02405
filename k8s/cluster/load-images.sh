#!/usr/bin/env bash
# Copy images from the local docker daemon into the local cluster's containerd (namespace
# k8s.io), so pods use them without any registry: `docker save | ctr images import`.
# An image is skipped when containerd already has it with the same config digest (= docker's
# image ID), so a kept image store (down.sh keeps it) makes reloading nearly free.
#   load-images.sh IMAGE [IMAGE ...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
DOCKER="${DOCKER:-docker}"
ctr_() { ctr -a "$CTR_SOCK" -n k8s.io "$@"; }
ctr_ version >/dev/null 2>&1 || { echo "load-images: the local cluster's containerd is not running ($CTR_SOCK); run make cluster-up" >&2; exit 1; }
# docker.io/library/x:y for "x:y", docker.io/a/b:c for "a/b:c", unchanged when it names a registry.
normalise() {
  local ref=$1 first=${1%%/*}
  if [[ "$ref" != */* ]]; then echo "docker.io/library/$ref"
  elif [[ "$first" == *.* || "$first" == *:* || "$first" == localhost ]]; then echo "$ref"
  else echo "docker.io/$ref"; fi
}
# config digest of an image in our containerd (empty if absent)
ctr_config_digest() {
  local digest
  digest=$(ctr_ images ls 2>/dev/null | awk -v r="$1" '$1 == r {print $3}')
  [[ -n "$digest" ]] || return 0
  ctr_ content get "$digest" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])' 2>/dev/null || true
}
rc=0
need=()
for img in "$@"; do
  id=$("$DOCKER" image inspect --format '{{.Id}}' "$img" 2>/dev/null) || { echo "load-images: $img: not in docker" >&2; rc=1; continue; }
  if [[ "$(ctr_config_digest "$(normalise "$img")")" == "$id" ]]; then
    echo "load-images: $img up to date"; continue
  fi
  need+=("$img")
done
if ((${#need[@]})); then
  # One stream for all of them: layers shared between the images are written once.
  t0=$SECONDS
  "$DOCKER" save "${need[@]}" | ctr_ images import --digests=false - >/dev/null
  echo "load-images: ${need[*]} loaded in $((SECONDS - t0))s"
fi
exit $rc
