#!/usr/bin/env bash
# Build the local stand-in for python:3.11-slim when no container registry is reachable:
# a Debian bookworm rootfs made with debootstrap (minbase + python3 3.11, python3-venv,
# ca-certificates), imported with `docker import` as $BASE_IMAGE_TAG (sentiment-base:bookworm).
#
# Idempotent: the image present -> nothing to do; the rootfs tarball cached under
# .cache/base-image/ -> only `docker import`; otherwise debootstrap (a few minutes) first.
# The Debian mirror is the one apt uses on this machine (/etc/apt/sources.list{,.d}), so the
# base needs no more network than apt does. `--force` rebuilds from scratch.
#
# Env: BASE_IMAGE_TAG, DEBIAN_SUITE (bookworm), DEBIAN_MIRROR (auto), CACHE_DIR, RUN_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAG="${BASE_IMAGE_TAG:-sentiment-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"
CACHE_DIR="${CACHE_DIR:-$ROOT/.cache/base-image}"
TARBALL="$CACHE_DIR/$SUITE-python3-rootfs.tar.gz"
DOCKER="${DOCKER:-docker}"
PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"

log() { printf 'base-image: %s\n' "$*" >&2; }

if [ "${1:-}" = "--force" ]; then
  rm -f "$TARBALL"
  "$DOCKER" image rm -f "$TAG" >/dev/null 2>&1 || true
fi

"$ROOT/scripts/docker/dockerd-up.sh"

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG already present"
  exit 0
fi

# The first Debian (not -security) URI apt is configured with, deb822 or one-line format.
detect_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri="$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" | grep -E '/debian/?$' | head -n1 || true)"
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }' "$f" \
      | grep -E '/debian/?$' | head -n1 || true)"
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  echo "http://deb.debian.org/debian"
}

if [ ! -s "$TARBALL" ]; then
  if [ "$(id -u)" -ne 0 ]; then log "debootstrap needs root"; exit 1; fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get -o DPkg::Lock::Timeout=600 update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y debootstrap >/dev/null
  fi
  MIRROR="${DEBIAN_MIRROR:-$(detect_mirror)}"
  SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}"
  mkdir -p "$CACHE_DIR"
  ROOTFS="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
  trap 'rm -rf "$ROOTFS"' EXIT
  log "debootstrap $SUITE from $MIRROR (packages: $PACKAGES)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
    >"$CACHE_DIR/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }

  # Same sources as the official image (incl. security), then take the point/security updates.
  cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  log "applying $SUITE-updates and $SUITE-security"
  if ! chroot "$ROOTFS" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade' \
      >>"$CACHE_DIR/debootstrap.log" 2>&1; then
    log "warning: updates could not be applied (see $CACHE_DIR/debootstrap.log); using the $SUITE release packages"
  fi

  # Slim it down like the -slim images: no apt lists, caches, docs or man pages.
  chroot "$ROOTFS" apt-get clean
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/* \
    "$ROOTFS"/root/.cache
  : >"$ROOTFS/etc/resolv.conf"
  "$ROOTFS/usr/bin/python3" -V >/dev/null 2>&1 || chroot "$ROOTFS" python3 -V >/dev/null

  log "packing $TARBALL"
  tar --numeric-owner --xattrs -C "$ROOTFS" -czf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$ROOTFS"; trap - EXIT
fi

log "docker import $TARBALL -> $TAG"
"$DOCKER" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  "$TARBALL" "$TAG" >/dev/null
"$DOCKER" run --rm "$TAG" python3 -c 'import sys, venv, ssl; print("base-image: python", sys.version.split()[0])' >&2
