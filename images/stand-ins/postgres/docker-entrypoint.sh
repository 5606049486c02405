#!/usr/bin/env bash
# Entrypoint of the PostgreSQL stand-in: the official image's env interface, simplified.
set -Eeo pipefail

log() { echo "postgres-stand-in: $*" >&2; }

# `docker run image -c foo=bar` -> postgres -c foo=bar
if [[ "${1:-}" == -* ]]; then set -- postgres "$@"; fi

if [[ "${1:-}" != postgres ]]; then exec "$@"; fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
export POSTGRES_USER POSTGRES_DB PGDATA

# Started as root: fix ownership, then re-exec as postgres (uid 999).
if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

# Any other uid without a passwd entry (OpenShift style): nss_wrapper gives it one.
if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
  NSS_WRAPPER_PASSWD="$(mktemp)"; NSS_WRAPPER_GROUP="$(mktemp)"
  cat /etc/passwd > "$NSS_WRAPPER_PASSWD"
  echo "postgres:x:$(id -u):$(id -g):PostgreSQL:$PGDATA:/bin/false" >> "$NSS_WRAPPER_PASSWD"
  cat /etc/group > "$NSS_WRAPPER_GROUP"
  getent group "$(id -g)" >/dev/null 2>&1 || echo "postgres:x:$(id -g):" >> "$NSS_WRAPPER_GROUP"
  export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  export LD_PRELOAD="$(find /usr/lib -name libnss_wrapper.so | head -n1)${LD_PRELOAD:+ $LD_PRELOAD}"
fi

mkdir -p "$PGDATA"
chmod 700 "$PGDATA" 2>/dev/null || true

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [[ -z "${POSTGRES_PASSWORD:-}" && "$auth" != trust ]]; then
    log "error: database is uninitialized and POSTGRES_PASSWORD is not set"
    log "  set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, not recommended)"
    exit 1
  fi
  log "initialising $PGDATA for user $POSTGRES_USER"
  pwfile="$(mktemp)"; printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA"
  rm -f "$pwfile"
  {
    echo
    echo "host all all all $auth"
  } >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.auto.conf"

  # Private server on the unix socket only, for the database and the init scripts.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ "$POSTGRES_DB" != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; if [[ -x "$f" ]]; then "$f"; else . "$f"; fi ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  log "init done; ready for start up"
fi

exec "$@"
