# create-bucket (the objectstore's post-install/post-upgrade Job): wait for the store at
# $S3_ENDPOINT (up to 60 tries 5 s apart), create the buckets in $BUCKETS that are missing, and
# for each folder /users/<policy>/ (policy.json from the ConfigMap, access-key and secret-key
# from the Secret) a user that has that policy and nothing else.
# Why: every client gets only the keys it needs, never the root credentials: MLflow's artifact
# proxy its bucket (`<bucket>-rw`), the model server write-only to the prediction log
# (`predictions-write`), flow runs read-only to the monitoring bucket except its batch/ folder,
# where batch scoring reads and writes (`monitoring-read`). Every
# step is idempotent, so the Job can run again on each upgrade.
set -e
export MC_CONFIG_DIR=/tmp/.mc
n=0
until mc alias set store "$S3_ENDPOINT" "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null; do
  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "object store not reachable at $S3_ENDPOINT"; exit 1; }
  echo "waiting for $S3_ENDPOINT"; sleep 5
done
for bucket in $BUCKETS; do
  mc mb --ignore-existing "store/$bucket"
done
for dir in /users/*/; do
  [ -f "$dir/policy.json" ] || continue
  policy=$(basename "$dir")
  access_key=$(cat "$dir/access-key")
  mc admin policy create store "$policy" "$dir/policy.json"
  mc admin user add store "$access_key" "$(cat "$dir/secret-key")" >/dev/null
  if mc admin user info store "$access_key" | grep -qE "^PolicyName: (.*,)?$policy(,|$)"; then
    echo "user for $policy: policy already attached"
  else
    mc admin policy attach store "$policy" --user "$access_key"
  fi
done
echo "buckets ready: $BUCKETS"
