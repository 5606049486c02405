# create-bucket (the objectstore's post-install/post-upgrade Job): wait for the store at
# $S3_ENDPOINT (up to 60 tries 5 s apart), create the bucket $BUCKET if it is missing, and, when
# the Job has CLIENT_ACCESS_KEY/CLIENT_SECRET_KEY in its env (bucketJob.createClientUser), a user
# with a policy `$BUCKET-rw` limited to that bucket.
# Why: MLflow's artifact proxy needs the bucket, and gets only that user's keys, never the root
# credentials. Every step is idempotent, so the Job can run again on each upgrade.
set -e
export MC_CONFIG_DIR=/tmp/.mc
n=0
until mc alias set store "$S3_ENDPOINT" "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null; do
  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "object store not reachable at $S3_ENDPOINT"; exit 1; }
  echo "waiting for $S3_ENDPOINT"; sleep 5
done
mc mb --ignore-existing "store/$BUCKET"
if [ -n "${CLIENT_ACCESS_KEY+set}" ]; then
  # A user that may only use this bucket: the credentials MLflow gets.
  cat > /tmp/policy.json <<POLICY
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
   "Resource": ["arn:aws:s3:::$BUCKET"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
   "Resource": ["arn:aws:s3:::$BUCKET/*"]}]}
POLICY
  mc admin policy create store "$BUCKET-rw" /tmp/policy.json
  mc admin user add store "$CLIENT_ACCESS_KEY" "$CLIENT_SECRET_KEY"
  if mc admin user info store "$CLIENT_ACCESS_KEY" | grep -q "$BUCKET-rw"; then
    echo "policy $BUCKET-rw already attached"
  else
    mc admin policy attach store "$BUCKET-rw" --user "$CLIENT_ACCESS_KEY"
  fi
fi
echo "bucket $BUCKET ready"
