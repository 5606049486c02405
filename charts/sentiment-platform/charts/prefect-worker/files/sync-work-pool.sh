# sync-work-pool (init container of the Prefect worker): wait for the Prefect API
# ($PREFECT_API_URL/health, up to 100 tries 3 s apart), then create the work pool $WORK_POOL
# with the release's base job template, or overwrite the template of the existing pool.
# Why: the pool must match this release (namespace, image, service account, platform env) on
# every worker start; a changed template restarts the worker (checksum/base-job-template).
set -e
n=0
until python -c 'import os, urllib.request; urllib.request.urlopen(os.environ["PREFECT_API_URL"] + "/health", timeout=5)' 2>/dev/null; do
  n=$((n + 1)); [ "$n" -lt 100 ] || { echo "Prefect API $PREFECT_API_URL unreachable"; exit 1; }
  echo "waiting for $PREFECT_API_URL"; sleep 3
done
prefect work-pool create "$WORK_POOL" --type kubernetes \
  --base-job-template /etc/prefect/base-job-template.json --overwrite
