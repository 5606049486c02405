# wait-for-model (init container of the model server): poll the MLflow registry until
# models:/$MODEL_NAME@$MODEL_ALIAS exists, every $POLL_SECONDS, then exit 0.
# Why: before the first training run has promoted a model there is no alias, and
# `mlflow models serve` would crash-loop; the pod waits here instead (see docs/kubernetes.md,
# "Before the first training"). MLFLOW_TRACKING_URI comes from the environment.
import os
import time

from mlflow import MlflowClient

name, alias = os.environ["MODEL_NAME"], os.environ["MODEL_ALIAS"]
every = float(os.environ.get("POLL_SECONDS", "15"))
client = MlflowClient()
while True:
    try:
        mv = client.get_model_version_by_alias(name, alias)
        print(f"models:/{name}@{alias} -> version {mv.version}", flush=True)
        break
    except Exception as exc:  # no model/alias yet, or MLflow not up yet
        print(f"waiting for models:/{name}@{alias}: {type(exc).__name__}", flush=True)
        time.sleep(every)
