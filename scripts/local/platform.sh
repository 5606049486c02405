#!/usr/bin/env bash
# The local platform: real MLflow and Prefect servers, a Prefect process worker, the training
# deployment, and `mlflow models serve` of the production model, all on this machine.
#
#   platform.sh up       start (or keep) MLflow, Prefect server and worker
#   platform.sh train    create/update the deployment, run it, wait for the result
#   platform.sh serve    (re)start the model server on MODEL_URI (default: the exact version
#                        that models:/<name>@production points to)
#   platform.sh stop-model-server
#   platform.sh predict  curl the model server with a few reviews
#   platform.sh monitor  run the monitor flow now, in this process (docs/monitoring.md)
#   platform.sh cli ...  run flipkart-sentiment with the platform's settings and credentials
#   platform.sh demo     all of the above, then print where the UIs are
#   platform.sh down     stop everything this script started
#   platform.sh status   what is running
#   platform.sh backup   snapshot MLflow's and Prefect's DBs and the artifacts into
#                        $RUN_DIR/backups/<UTC timestamp>.tar.gz (keeps BACKUP_KEEP, default 7)
#   platform.sh restore [archive] [--check-only]
#                        verify an archive (default: the newest), then restore it: services
#                        stopped and started again, the previous state kept in
#                        $RUN_DIR/backups/pre-restore-<ts>/ (scripts/local/backup.py)
#
# MLflow and Prefect require credentials (MLflow's basic-auth app, Prefect's API auth string),
# generated once into $RUN_DIR/credentials.env: MLflow users admin (the UI), trainer (flow runs,
# the CLI) and model-server (read only); the Prefect auth string for the UI and every client.
#
# Everything it starts writes its log and pid under $RUN_DIR (default .run/). Ports come from
# MLFLOW_PORT, PREFECT_PORT and MODEL_PORT. Running `demo` twice is fine: services that already
# answer are kept. The worker's flow runs roll the model server themselves after a promotion
# (SENTIMENT_ROLLOUT_TARGET=local: `flipkart-sentiment promote|rollback` do the same, through
# `platform.sh serve`), so `demo` starts it only when it is not already serving production.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/.run}
VENV=${VENV:-$ROOT/.venv}
HOST=${HOST:-127.0.0.1}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
PREFECT_PORT=${PREFECT_PORT:-4200}
MODEL_PORT=${MODEL_PORT:-5001}
POOL=${POOL:-local-process}
MODEL_NAME=${SENTIMENT_MODEL_NAME:-flipkart-sentiment}
SEARCH=${SENTIMENT_SEARCH:-full}
SERVE_WORKERS=${SERVE_WORKERS:-2}

export PATH="$VENV/bin:$PATH"
export MLFLOW_TRACKING_URI="http://$HOST:$MLFLOW_PORT"
export PREFECT_API_URL="http://$HOST:$PREFECT_PORT/api"
export PREFECT_HOME="$RUN_DIR/prefect"
export PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_UI_API_URL="$PREFECT_API_URL"
export SENTIMENT_SEARCH="$SEARCH" PYTHONUNBUFFERED=1
# Promotions (the flow, the CLI) restart the local model server on the new version.
export SENTIMENT_ROLLOUT_TARGET=local SENTIMENT_LOCAL_MODEL_PORT="$MODEL_PORT" RUN_DIR VENV
# Monitoring and retraining: CSVs of newly labeled reviews dropped into $RUN_DIR/labeled are
# judged by the monitor and appended by training; the prediction log is read from
# $RUN_DIR/prediction-log (date=YYYY-MM-DD/*.jsonl). Both may be absent.
export SENTIMENT_LABELED_DATA="${SENTIMENT_LABELED_DATA:-$RUN_DIR/labeled}"
export SENTIMENT_PREDICTION_LOG="${SENTIMENT_PREDICTION_LOG:-$RUN_DIR/prediction-log}"

mkdir -p "$RUN_DIR/logs" "$RUN_DIR/pids" "$RUN_DIR/mlflow" "$PREFECT_HOME"

# --- credentials (generated once, kept in $RUN_DIR, never in git) ------------------------------
CREDENTIALS="$RUN_DIR/credentials.env"
MLFLOW_AUTH_INI="$RUN_DIR/mlflow/basic_auth.ini"
SYNC_USERS="$ROOT/charts/sentiment-platform/charts/mlflow/files/sync_users.py"  # the chart's own
if [[ ! -s $CREDENTIALS ]]; then
  (umask 077; "$VENV/bin/python" - > "$CREDENTIALS" <<'PY'
import secrets
token = lambda: secrets.token_urlsafe(24)
print("# Local platform credentials (scripts/local/platform.sh). Keep private; delete to renew.")
print(f"MLFLOW_ADMIN_PASSWORD={token()}")
print(f"MLFLOW_TRAINER_PASSWORD={token()}")
print(f"MLFLOW_READER_PASSWORD={token()}")
print(f"MLFLOW_FLASK_SERVER_SECRET_KEY={token()}")
print(f"PREFECT_AUTH_STRING=admin:{token()}")
PY
  )
fi
# shellcheck disable=SC1090
source "$CREDENTIALS"
# Clients: Prefect's CLI, worker and flows; MLflow as the trainer (the worker's flow runs and
# the CLI write); the model server overrides it with the read-only user.
export PREFECT_API_AUTH_STRING="$PREFECT_AUTH_STRING"
export MLFLOW_TRACKING_USERNAME=trainer MLFLOW_TRACKING_PASSWORD="$MLFLOW_TRAINER_PASSWORD"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

answers() { curl -fsS -m 3 -o /dev/null "$1" 2>/dev/null; }

wait_for() {  # url name seconds logfile [service]: fails early if the service's process exits
  local url=$1 name=$2 limit=$3 log=$4 service=${5:-} waited=0
  until answers "$url"; do
    if [[ -n $service ]] && ! running "$service"; then
      tail -n 60 "$log" >&2 || true
      die "$name exited before answering at $url (log: $log)"
    fi
    if (( waited >= limit )); then
      tail -n 20 "$log" >&2 || true
      die "$name did not answer at $url within ${limit}s (log: $log)"
    fi
    sleep 2; waited=$((waited + 2))
  done
}

start() {  # name command...
  local name=$1; shift
  local log="$RUN_DIR/logs/$name.log"
  # setsid: own process group, so `down` can stop the service and everything it spawned.
  setsid "$@" >>"$log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/pids/$name.pid"
}

stop() {  # name
  local pidfile="$RUN_DIR/pids/$1.pid" pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

running() { [[ -f $RUN_DIR/pids/$1.pid ]] && kill -0 "$(cat "$RUN_DIR/pids/$1.pid")" 2>/dev/null; }

port_free_or_ours() {  # port name
  if answers "http://$HOST:$1/" || answers "http://$HOST:$1/health"; then
    running "$2" || die "port $1 is taken by something else; set ${3} to another port"
  fi
}

mlflow_auth() {  # the basic-auth app's config (no secret in it) and its users
  cat > "$MLFLOW_AUTH_INI" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:///$RUN_DIR/mlflow/auth.db
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# A verified password is remembered for a minute: MLflow hashes with PBKDF2 on every request.
auth_cache_ttl_seconds = 60
INI
  MLFLOW_AUTH_CONFIG_PATH="$MLFLOW_AUTH_INI" MLFLOW_AUTH_ADMIN_USERNAME=admin \
    MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_ADMIN_PASSWORD" \
    MLFLOW_TRAINER_USERNAME=trainer MLFLOW_TRAINER_PASSWORD="$MLFLOW_TRAINER_PASSWORD" \
    MLFLOW_READER_USERNAME=model-server MLFLOW_READER_PASSWORD="$MLFLOW_READER_PASSWORD" \
    MODEL_NAME="$MODEL_NAME" EXPERIMENT_NAME="${SENTIMENT_EXPERIMENT:-$MODEL_NAME}" \
    MLFLOW_BACKEND_STORE_URI="sqlite:///$RUN_DIR/mlflow/mlflow.db" \
    python "$SYNC_USERS" >> "$RUN_DIR/logs/mlflow.log" 2>&1 ||
    die "could not set up MLflow's users (log: $RUN_DIR/logs/mlflow.log)"
}

up() {
  [[ -x $VENV/bin/mlflow && -x $VENV/bin/prefect ]] || die "no environment at $VENV: run 'make venv'"
  if answers "$MLFLOW_TRACKING_URI/health"; then
    say "MLflow already answers at $MLFLOW_TRACKING_URI"
  else
    port_free_or_ours "$MLFLOW_PORT" mlflow MLFLOW_PORT
    say "starting MLflow at $MLFLOW_TRACKING_URI (SQLite, proxied artifacts in $RUN_DIR/mlflow, basic auth)"
    mlflow_auth
    start mlflow env MLFLOW_AUTH_CONFIG_PATH="$MLFLOW_AUTH_INI" \
      MLFLOW_AUTH_ADMIN_USERNAME=admin MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_ADMIN_PASSWORD" \
      MLFLOW_FLASK_SERVER_SECRET_KEY="$MLFLOW_FLASK_SERVER_SECRET_KEY" \
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
      mlflow server --app-name basic-auth --host "$HOST" --port "$MLFLOW_PORT" --workers 1 \
      --backend-store-uri "sqlite:///$RUN_DIR/mlflow/mlflow.db" \
      --artifacts-destination "$RUN_DIR/mlflow/artifacts"
  fi
  if answers "$PREFECT_API_URL/health"; then
    say "Prefect already answers at $PREFECT_API_URL"
  else
    port_free_or_ours "$PREFECT_PORT" prefect-server PREFECT_PORT
    say "starting Prefect server at http://$HOST:$PREFECT_PORT"
    start prefect-server env PREFECT_SERVER_API_AUTH_STRING="$PREFECT_AUTH_STRING" \
      prefect server start --host "$HOST" --port "$PREFECT_PORT"
  fi
  wait_for "$MLFLOW_TRACKING_URI/health" MLflow 180 "$RUN_DIR/logs/mlflow.log"
  wait_for "$PREFECT_API_URL/health" Prefect 180 "$RUN_DIR/logs/prefect-server.log"
  prefect work-pool inspect "$POOL" >/dev/null 2>&1 ||
    prefect work-pool create "$POOL" --type process >/dev/null
  if running prefect-worker; then
    say "Prefect worker already running on pool $POOL"
  else
    say "starting Prefect worker on pool $POOL"
    start prefect-worker prefect worker start --pool "$POOL" --type process
  fi
}

train() {
  say "creating deployments (train-sentiment/daily, monitor-sentiment/hourly, ...) and the retraining automation on pool $POOL"
  (cd "$ROOT/flows" && python deploy.py local --pool "$POOL")
  say "running it now: prefect deployment run train-sentiment/daily --watch (search: $SEARCH)"
  prefect deployment run train-sentiment/daily --param "search=$SEARCH" --watch \
    --watch-timeout "${TRAIN_TIMEOUT:-1800}" || die "the training flow run failed; see $RUN_DIR/logs/prefect-worker.log"
}

production_uri() {  # models:/<name>/<version> of @production, or nothing
  python - "$MODEL_NAME" <<'PY' 2>/dev/null
import sys
from mlflow import MlflowClient
try:
    v = MlflowClient().get_model_version_by_alias(sys.argv[1], "production")
    print(f"models:/{sys.argv[1]}/{v.version}")
except Exception:
    pass
PY
}

served_version() {  # X-Model-Version of the running model server, or nothing
  { curl -fsS -m 3 -o /dev/null -D - "http://$HOST:$MODEL_PORT/ping" 2>/dev/null || true; } |
    tr -d '\r' | awk -F': ' 'tolower($1) == "x-model-version" {print $2}'
}

serve() {
  local uri=${MODEL_URI:-$(production_uri)}
  [[ -n $uri ]] || die "no production version of $MODEL_NAME yet: run 'make local-train' first"
  stop model-server
  say "serving $uri at http://$HOST:$MODEL_PORT"
  # Every prediction goes to $SENTIMENT_PREDICTION_LOG (exported above), where the monitor
  # flow reads it (docs/serving.md, "Prediction log").
  start model-server env MLFLOW_TRACKING_USERNAME=model-server \
    MLFLOW_TRACKING_PASSWORD="$MLFLOW_READER_PASSWORD" \
    mlflow models serve -m "$uri" \
    --env-manager local --host "$HOST" --port "$MODEL_PORT" --workers "$SERVE_WORKERS"
  wait_for "http://$HOST:$MODEL_PORT/ping" "model server" 180 "$RUN_DIR/logs/model-server.log" model-server
}

serve_if_stale() {  # the flow usually rolled it already; restart only if it serves something else
  local want served
  want=$(production_uri); served=$(served_version)
  if [[ -n $want && "models:/$MODEL_NAME/$served" == "$want" ]]; then
    say "model server already serves $want"
  else
    serve
  fi
}

predict() {
  local body='{"inputs": ["Excellent shuttle, lasts long and flies straight", "Worst product. Feathers broke in one game, fake Yonex", "Average quality, okay for the price", {"title": "Terrific purchase", "text": "Fast delivery, genuine product"}]}'
  say "curl http://$HOST:$MODEL_PORT/invocations"
  echo "$body"
  local headers="$RUN_DIR/logs/last-response-headers"
  curl -fsS -m 30 -D "$headers" -H 'Content-Type: application/json' -d "$body" \
    "http://$HOST:$MODEL_PORT/invocations" | python -m json.tool
  say "answered by $(tr -d '\r' < "$headers" | awk -F': ' 'tolower($1) ~ /^x-model-(name|version)$/ {printf "%s ", $2}')"
  say "a bad request gets a 400 with a reason:"
  curl -sS -m 30 -H 'Content-Type: application/json' -d '{"inputs": [null]}' \
    -w '\nHTTP %{http_code}\n' "http://$HOST:$MODEL_PORT/invocations"
}

monitor() {
  say "running the monitor flow now (labeled reviews: $SENTIMENT_LABELED_DATA; prediction log: $SENTIMENT_PREDICTION_LOG)"
  (cd "$ROOT/flows" && python monitor_flow.py) || die "the monitor flow run failed"
}

# MLflow 3's UI opens an experiment on its GenAI view unless told otherwise (its "Model
# training" switch, or this URL parameter): link straight to the training runs.
runs_url() {
  local id
  id=$(curl -fsS -m 5 -u "admin:$MLFLOW_ADMIN_PASSWORD" \
    "$MLFLOW_TRACKING_URI/api/2.0/mlflow/experiments/get-by-name?experiment_name=$MODEL_NAME" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["experiment"]["experiment_id"])' 2>/dev/null) || true
  if [ -n "$id" ]; then
    echo "$MLFLOW_TRACKING_URI/#/experiments/$id/runs?workflowType=machine_learning"
  else
    echo "$MLFLOW_TRACKING_URI/#/experiments?workflowType=machine_learning"
  fi
}

urls() {
  cat <<MSG

  MLflow UI      $(runs_url)
                 (the training runs of $MODEL_NAME; the registered model under Models; docs/dashboards.md)
                 log in as admin, password MLFLOW_ADMIN_PASSWORD in $CREDENTIALS
  Prefect UI     http://$HOST:$PREFECT_PORT   (train-sentiment/daily, monitor-sentiment/hourly,
                 automation retrain-sentiment-on-evidence)
                 it asks for the auth string: PREFECT_AUTH_STRING in $CREDENTIALS
  Model server   http://$HOST:$MODEL_PORT/invocations   (serving $MODEL_NAME@production)
  Logs           $RUN_DIR/logs/      Stop it all: make down
  CLI            scripts/local/platform.sh cli <command>  (flipkart-sentiment with these
                 credentials; make promote VERSION=N and make rollback use it)

MSG
}

status() {
  for name in mlflow prefect-server prefect-worker model-server; do
    if running "$name"; then echo "$name: running (pid $(cat "$RUN_DIR/pids/$name.pid"))"
    else echo "$name: stopped"; fi
  done
}

down() {
  for name in model-server prefect-worker prefect-server mlflow; do stop "$name"; done
  say "stopped (data kept in $RUN_DIR; delete it for a clean slate)"
}

backup_py() {
  # backup.py restarts services through this script: it needs the same ports and places.
  export MLFLOW_PORT PREFECT_PORT MODEL_PORT HOST PLATFORM="$ROOT/scripts/local/platform.sh"
  local python=python3
  [[ -x $VENV/bin/python ]] && python="$VENV/bin/python"
  "$python" "$ROOT/scripts/local/backup.py" "$@"
}

case "${1:-demo}" in
  up) up ;;
  train) up; train ;;
  serve) serve ;;
  stop-model-server) stop model-server ;;
  cli) shift; exec flipkart-sentiment "$@" ;;
  predict) predict ;;
  monitor) up; monitor ;;
  demo) up; train; serve_if_stale; predict; urls ;;
  urls) urls ;;
  status) status ;;
  down) down ;;
  backup) shift; backup_py backup "$@" ;;
  restore) shift; backup_py restore "$@" ;;
  *) die "unknown command '$1' (up, train, serve, stop-model-server, predict, monitor, demo, urls, status, down, cli, backup, restore)" ;;
esac
