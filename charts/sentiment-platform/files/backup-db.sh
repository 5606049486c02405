#!/bin/sh
# backup-db.sh <dump|verify|restore> (the database half of the backup, restore and pre-upgrade
# Jobs; runs in the postgresql part's image, which has pg_dump/pg_restore/psql and coreutils).
# The object-store half is backup-store.sh (the mc image); the two meet in $WORK, an emptyDir.
#   dump     pg_dump -Fc of every database in $DATABASES to $WORK/<db>.dump, and
#            $WORK/<db>.meta ("<bytes> <sha256>") that backup-store.sh writes into manifest.json.
#   verify   check $WORK/<db>.dump (fetched by backup-store.sh) against $WORK/manifest.json: size,
#            sha256 and a readable archive (pg_restore --list). Only then $WORK/verified is
#            written, and the steps that change anything refuse to run without it.
#   restore  drop and re-create every database from its dump (pg_restore --create). Drop and
#            re-create, not --clean: --clean drops only what the dump holds, so tables a newer
#            schema added (an upgrade being rolled back) would stay. Refuses while any other
#            session is connected: MLflow, the Prefect server and its worker must be stopped.
# Connects as the superuser (PGHOST/PGPORT/PGUSER/PGPASSWORD from the Job): the dumps include
# the extensions (pg_trgm) and ownership only a superuser can restore.
set -eu
WORK=${WORK:-/backup}
mode=${1:?usage: backup-db.sh dump|verify|restore}

log() { echo "$(date -u +%H:%M:%S) [db] $*"; }

wait_for_db() {
  n=0
  until pg_isready -q -d postgres; do
    n=$((n + 1)); [ "$n" -lt 60 ] || { log "database not reachable at $PGHOST:$PGPORT"; exit 1; }
    log "waiting for $PGHOST:$PGPORT"; sleep 3
  done
}

# The value of "<db>": {... "<field>": <value> ...} in manifest.json (one database a line, the
# layout backup-store.sh writes).
manifest_field() {
  sed -n "s/^ *\"$1\": {.*\"$2\": \"\{0,1\}\([^\",}]*\).*/\1/p" "$WORK/manifest.json"
}

case "$mode" in
  dump)
    wait_for_db
    for db in $DATABASES; do
      start=$(date +%s)
      pg_dump -Fc -d "$db" -f "$WORK/$db.dump"
      bytes=$(wc -c < "$WORK/$db.dump" | tr -d ' ')
      sum=$(sha256sum "$WORK/$db.dump" | cut -d' ' -f1)
      echo "$bytes $sum" > "$WORK/$db.meta"
      log "dumped $db: $bytes bytes in $(( $(date +%s) - start ))s, sha256 $sum"
    done
    ;;
  verify)
    rm -f "$WORK/verified"
    [ -s "$WORK/manifest.json" ] || { log "no manifest.json in $WORK: refusing"; exit 1; }
    for db in $DATABASES; do
      want_sum=$(manifest_field "$db" sha256)
      want_bytes=$(manifest_field "$db" bytes)
      [ -n "$want_sum" ] || { log "manifest.json has no sha256 for $db: refusing"; exit 1; }
      [ -f "$WORK/$db.dump" ] || { log "$db.dump missing: refusing"; exit 1; }
      bytes=$(wc -c < "$WORK/$db.dump" | tr -d ' ')
      sum=$(sha256sum "$WORK/$db.dump" | cut -d' ' -f1)
      if [ "$sum" != "$want_sum" ] || [ "$bytes" != "$want_bytes" ]; then
        log "$db.dump does not match the manifest (sha256 $sum, $bytes bytes; expected $want_sum, $want_bytes bytes): refusing, nothing changed"
        exit 1
      fi
      pg_restore --list "$WORK/$db.dump" > /dev/null || {
        log "$db.dump is not a readable pg_dump archive: refusing, nothing changed"; exit 1; }
      log "verified $db.dump: $bytes bytes, sha256 $sum"
    done
    touch "$WORK/verified"
    ;;
  restore)
    [ -f "$WORK/verified" ] || { log "the dumps were not verified: refusing"; exit 1; }
    wait_for_db
    for db in $DATABASES; do
      others=$(psql -v ON_ERROR_STOP=1 -qAt -d postgres -v db="$db" <<'SQL'
SELECT count(*) || ' session(s): ' || string_agg(DISTINCT coalesce(nullif(application_name, ''), usename), ', ')
  FROM pg_stat_activity WHERE datname = :'db' AND pid <> pg_backend_pid() HAVING count(*) > 0;
SQL
)
      if [ -n "$others" ]; then
        log "database $db has $others; stop MLflow, the Prefect server and worker first (make k8s-restore does): refusing"
        exit 1
      fi
    done
    for db in $DATABASES; do
      start=$(date +%s)
      psql -v ON_ERROR_STOP=1 -q -d postgres -v db="$db" <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I', :'db')\gexec
SQL
      pg_restore --create --exit-on-error -d postgres "$WORK/$db.dump"
      log "restored $db in $(( $(date +%s) - start ))s"
    done
    ;;
  *)
    echo "usage: backup-db.sh dump|verify|restore" >&2; exit 2 ;;
esac
