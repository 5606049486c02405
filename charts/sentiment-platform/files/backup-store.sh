#!/bin/sh
# backup-store.sh <upload|fetch|artifacts> (the object-store half of the backup, restore and
# pre-upgrade Jobs; runs in the objectstore part's mc image: needs mc, sh and coreutils' date,
# sort, tr and wc).
# The database half is backup-db.sh; the two meet in $WORK, an emptyDir.
#   upload     the dumps backup-db.sh wrote to s3://$BACKUP_BUCKET/<UTC timestamp>$BACKUP_SUFFIX/,
#              a copy of the MLflow artifact bucket under <name>/artifacts/, then <name>/manifest.json
#              LAST: a backup without one is incomplete and never restored nor counted. Then all
#              but the newest $KEEP complete backups, and incomplete ones older than this one
#              (failed runs), are deleted.
#   fetch      download the manifest and dumps of $BACKUP (a name, or `latest`: the newest
#              complete backup) to $WORK; nothing in the store changes.
#   artifacts  after backup-db.sh verify: make the MLflow bucket what it was in the backup
#              (mc mirror --remove: artifacts logged later belong to runs the restored database
#              does not have).
# Uses the store's root credentials (ROOT_USER/ROOT_PASSWORD, as the bucket Job does): these
# admin Jobs read every bucket and create the backup bucket; no client user may.
set -eu
WORK=${WORK:-/backup}
export MC_CONFIG_DIR="${MC_CONFIG_DIR:-/tmp/.mc}"
mode=${1:?usage: backup-store.sh upload|fetch|artifacts}

log() { echo "$(date -u +%H:%M:%S) [store] $*"; }

n=0
until mc alias set store "$S3_ENDPOINT" "$ROOT_USER" "$ROOT_PASSWORD" > /dev/null; do
  n=$((n + 1)); [ "$n" -lt 60 ] || { log "object store not reachable at $S3_ENDPOINT"; exit 1; }
  log "waiting for $S3_ENDPOINT"; sleep 5
done

# The backups in the bucket, oldest first (names are UTC timestamps; S3 lists keys sorted).
backups() {
  mc ls "store/$BACKUP_BUCKET/" | while read -r line; do
    name=${line##* }  # the last field; folders end in /
    case "$name" in */) echo "${name%/}" ;; esac
  done
}
is_complete() { mc stat "store/$BACKUP_BUCKET/$1/manifest.json" > /dev/null 2>&1; }
# Objects under an mc path, one per line of `mc ls --recursive`.
count() { mc ls --recursive "$1" 2> /dev/null | wc -l | tr -d ' '; }

case "$mode" in
  upload)
    mc mb --ignore-existing "store/$BACKUP_BUCKET" > /dev/null
    name="$(date -u +%Y%m%dT%H%M%SZ)${BACKUP_SUFFIX:-}"
    dest="store/$BACKUP_BUCKET/$name"
    start=$(date +%s)
    dbs=""
    for db in $DATABASES; do
      read -r bytes sum < "$WORK/$db.meta"
      mc cp --quiet "$WORK/$db.dump" "$dest/$db.dump" > /dev/null
      log "uploaded $db.dump ($bytes bytes) to $dest/"
      dbs="$dbs${dbs:+,
}    \"$db\": {\"file\": \"$db.dump\", \"bytes\": $bytes, \"sha256\": \"$sum\"}"
    done
    t=$(date +%s)
    objects=0
    if mc stat "store/$ARTIFACT_BUCKET" > /dev/null 2>&1; then
      mc mirror --quiet "store/$ARTIFACT_BUCKET" "$dest/artifacts" > /dev/null
      objects=$(count "$dest/artifacts/")
    fi
    log "copied $objects artifact objects from $ARTIFACT_BUCKET in $(( $(date +%s) - t ))s"
    # Written last: only a backup with a manifest is complete.
    cat > "$WORK/manifest.json" <<EOF
{
  "name": "$name",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "databases": {
$dbs
  },
  "artifacts": {"bucket": "$ARTIFACT_BUCKET", "prefix": "artifacts/", "objects": $objects}
}
EOF
    mc cp --quiet "$WORK/manifest.json" "$dest/manifest.json" > /dev/null
    log "backup $name complete in $(( $(date +%s) - start ))s: s3://$BACKUP_BUCKET/$name/"
    # Retention: newest first, keep $KEEP complete ones.
    # Incomplete ones listed after this one are older: failed runs (concurrencyPolicy Forbid:
    # no other run is writing one now).
    kept=0 older=""
    for old in $(backups | sort -r); do
      if is_complete "$old"; then
        kept=$((kept + 1))
        [ "$old" != "$name" ] || older=1
        [ "$kept" -gt "$KEEP" ] || continue
        log "deleting backup $old (keeping the newest $KEEP)"
      elif [ -n "$older" ]; then
        log "deleting incomplete backup $old (a failed run)"
      else
        continue
      fi
      mc rm --recursive --force "store/$BACKUP_BUCKET/$old/" > /dev/null
    done
    log "backups now: $(backups | tr '\n' ' ')"
    ;;
  fetch)
    name=${BACKUP:-latest}
    if [ "$name" = latest ]; then
      name=""
      for candidate in $(backups | sort -r); do
        if is_complete "$candidate"; then name=$candidate; break; fi
      done
      [ -n "$name" ] || { log "no complete backup in s3://$BACKUP_BUCKET/"; exit 1; }
      log "latest complete backup: $name"
    fi
    is_complete "$name" || {
      log "s3://$BACKUP_BUCKET/$name/ has no manifest.json (missing or incomplete): refusing"
      log "complete backups: $(for b in $(backups); do is_complete "$b" && printf '%s ' "$b"; done)"
      exit 1
    }
    start=$(date +%s)
    mc cp --quiet "store/$BACKUP_BUCKET/$name/manifest.json" "$WORK/manifest.json" > /dev/null
    for db in $DATABASES; do
      mc cp --quiet "store/$BACKUP_BUCKET/$name/$db.dump" "$WORK/$db.dump" > /dev/null
      log "fetched $db.dump ($(wc -c < "$WORK/$db.dump" | tr -d ' ') bytes)"
    done
    echo "$name" > "$WORK/name"
    log "fetched backup $name in $(( $(date +%s) - start ))s"
    ;;
  artifacts)
    [ -f "$WORK/verified" ] || { log "the backup was not verified: refusing"; exit 1; }
    name=$(cat "$WORK/name")
    src="store/$BACKUP_BUCKET/$name/artifacts"
    start=$(date +%s)
    mc mb --ignore-existing "store/$ARTIFACT_BUCKET" > /dev/null
    if [ "$(count "$src/")" -gt 0 ]; then
      mc mirror --quiet --overwrite --remove "$src" "store/$ARTIFACT_BUCKET" > /dev/null
    else
      # An empty artifact store was backed up: mirror has no source to read.
      mc rm --recursive --force "store/$ARTIFACT_BUCKET/" > /dev/null 2>&1 || true
    fi
    log "restored $(count "store/$ARTIFACT_BUCKET/") artifact objects into $ARTIFACT_BUCKET in $(( $(date +%s) - start ))s"
    ;;
  *)
    echo "usage: backup-store.sh upload|fetch|artifacts" >&2; exit 2 ;;
esac
