#!/usr/bin/env bash
# Make sure a Docker daemon answers on this machine, and print where.
#
# Idempotent and safe to call from several shells at once (a flock serialises the start):
#   1. `docker info` already works -> nothing to do;
#   2. dockerd is missing          -> install Debian's docker.io (apt-get, needs root);
#   3. start dockerd in the background (setsid + nohup, so it outlives the caller), log to
#      $RUN_DIR/dockerd.log, and wait until `docker info` answers (DOCKERD_TIMEOUT seconds).
#
# Env: RUN_DIR (default <repo>/.run), DOCKERD_TIMEOUT (default 90), DOCKERD_ARGS (extra flags),
#      DOCKERD_LOCK (default /tmp/dockerd-up.lock: machine-wide, shared by every checkout).
# The daemon is left running on purpose: other components (image builds, the kind cluster) share it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"
TIMEOUT="${DOCKERD_TIMEOUT:-90}"
LOG="$RUN_DIR/dockerd.log"
mkdir -p "$RUN_DIR"

log() { printf 'dockerd-up: %s\n' "$*" >&2; }

# Any client is fine for `docker info`; prefer the one on PATH, fall back to Debian's.
docker_cli() {
  if command -v docker >/dev/null 2>&1; then echo docker
  elif [ -x /usr/bin/docker ]; then echo /usr/bin/docker
  else return 1; fi
}

answering() {
  local cli
  cli="$(docker_cli)" || return 1
  timeout 10 "$cli" info >/dev/null 2>&1
}

if answering; then
  log "docker daemon already answering"
  exit 0
fi

# Serialise concurrent callers: only one installs/starts, the others wait and then see it answer.
exec 9>"${DOCKERD_LOCK:-/tmp/dockerd-up.lock}"
if ! flock -w "$((TIMEOUT + 600))" 9; then
  log "timed out waiting for another dockerd-up.sh"; exit 1
fi
if answering; then
  log "docker daemon already answering"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "dockerd is not installed and this is not root: install docker.io (or Docker Engine) first"; exit 1
  fi
  log "installing Debian docker.io (log: $RUN_DIR/docker-install.log)"
  {
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
      docker.io iptables ca-certificates
  } >>"$RUN_DIR/docker-install.log" 2>&1 || { log "apt-get install docker.io failed, see $RUN_DIR/docker-install.log"; exit 1; }
fi
DOCKERD="$(command -v dockerd || echo /usr/sbin/dockerd)"

if [ "$(id -u)" -ne 0 ]; then
  log "docker daemon not answering and starting it needs root"; exit 1
fi

# A dockerd that is running but not (yet) answering: give it the timeout before starting another.
started_pid=""
if ! pgrep -x dockerd >/dev/null 2>&1; then
  # A stale pid file from a killed daemon makes dockerd refuse to start.
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
    rm -f "$pidfile"
  fi
  log "starting $DOCKERD (log: $LOG)"
  # shellcheck disable=SC2086
  # fd 9 (the lock) is closed for the daemon, or it would hold the lock for its whole life.
  # --wait: if setsid has to fork, its parent lives as long as dockerd, so $! tracks the daemon.
  setsid --wait nohup "$DOCKERD" ${DOCKERD_ARGS:-} >>"$LOG" 2>&1 </dev/null 9>&- &
  started_pid=$!
  echo "$started_pid" >"$RUN_DIR/dockerd.pid"
else
  log "dockerd process exists but is not answering yet; waiting"
fi

deadline=$((SECONDS + TIMEOUT))
# Whether the daemon is still alive. The pid we started, not `pgrep -x dockerd`: under load (a cold
# page cache, busy cores) the process can still be named setsid or nohup seconds after the fork, and
# pgrep then calls a starting daemon dead (CI failed that way with Go builds in the background).
daemon_alive() {
  if [ -n "$started_pid" ]; then kill -0 "$started_pid" 2>/dev/null
  else pgrep -x dockerd >/dev/null 2>&1; fi
}

until answering; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "docker daemon did not answer within ${TIMEOUT}s; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  if ! daemon_alive; then
    log "dockerd exited; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  sleep 1
done
log "docker daemon answering ($(timeout 10 "$(docker_cli)" version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
