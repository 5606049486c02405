"""Model registry: register the winner, tag it, set `staging`, gate and move `production`.

MLflow 3 deprecates stages; the aliases `staging` and `production` replace the seed's
"Staging"/"Production" stages (see README). Every function is safe to call twice.

Tags a version gets: the gate's `promotion` (promoted / rejected / forced / rollback) and
`promotion_reason`; `previous_production` (the version it replaced, which `rollback` returns
to); the rollout's `rollout` (succeeded / failed), `rollout_reason` and `rolled_out_at`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..core import metrics as m

log = logging.getLogger(__name__)

STAGING = "staging"
PRODUCTION = "production"


@dataclass
class Decision:
    promote: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None


def register(client: MlflowClient, name: str, run_id: str, model_uri: str,
             tags: dict[str, str]) -> ModelVersion:
    """Register the run's model once; a retried or repeated call returns the same version."""
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        version = max(existing, key=lambda v: int(v.version))
        log.info("run %s is already version %s of %s", run_id, version.version, name)
    else:
        version = mlflow.register_model(model_uri, name)
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, str(value))
    client.set_registered_model_alias(name, STAGING, version.version)
    return client.get_model_version(name, version.version)


def describe(client: MlflowClient, name: str, version: str, model_description: str,
             version_description: str) -> None:
    """The cards the registry shows: the registered model's, and the version's."""
    if client.get_registered_model(name).description != model_description:
        client.update_registered_model(name, model_description)
    client.update_model_version(name, version, description=version_description)


def current(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
            return None
        raise


# A registered version is scored in a fresh interpreter, where the model loads with the code it
# was logged with (its code/ directory comes first on sys.path): a version logged by an older
# release keeps working after an upgrade, whatever this process has imported. Rows go in batches
# of at most _BATCH, the most a served model of any release accepts in one call. "labels" as the
# last argument: only the labels come back (the gate's need: a list of strings, not a dict of
# probabilities per row of a test split of any size).
_BATCH = 10_000
_PREDICT = """
import json, sys
import mlflow.pyfunc
uri, rows_path, out_path, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
labels_only = sys.argv[5] == "labels"
model = mlflow.pyfunc.load_model(uri)
with open(rows_path, encoding="utf-8") as fh:
    rows = json.load(fh)
predictions = []
for start in range(0, len(rows), batch):
    answers = model.predict(rows[start:start + batch])
    predictions += ([p["label"] for p in answers] if labels_only else
                    [{"label": p["label"], "probabilities": p["probabilities"]} for p in answers])
with open(out_path, "w", encoding="utf-8") as fh:
    json.dump(predictions, fh)
"""


class ScoringFailed(RuntimeError):
    """A registered version could not be loaded or could not score the rows."""


def predict_labels(model_uri: str, rows: list[dict], timeout: float = 1800) -> list[str]:
    """Labels of a registered model for {"title", "text"} rows, any number of them."""
    return _score(model_uri, rows, timeout, "labels")


def predict(model_uri: str, rows: list[dict], timeout: float = 1800) -> list[dict]:
    """{"label", "probabilities"} of a registered model for {"title", "text"} rows."""
    return _score(model_uri, rows, timeout, "all")


def _score(model_uri: str, rows: list[dict], timeout: float, what: str) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        rows_path, out_path = Path(tmp) / "rows.json", Path(tmp) / "labels.json"
        rows_path.write_text(json.dumps(rows), encoding="utf-8")
        env = os.environ | {"MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}
        # -I: no current directory or user site on sys.path, only the model's code and the venv.
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _PREDICT, model_uri, str(rows_path),
             str(out_path), str(_BATCH), what],
            env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ScoringFailed(f"{model_uri} could not score {len(rows)} rows: {last}")
        return json.loads(out_path.read_text(encoding="utf-8"))


def evaluate_version(name: str, version: str, test: pd.DataFrame, labels: list[str]) -> dict[str, float]:
    """Evaluate a registered version on the given held-out rows, through its pyfunc."""
    records = test[["title", "text"]].to_dict("records")
    predicted = predict_labels(f"models:/{name}/{version}", records)
    return m.classification_scores(test["label"], predicted, labels)


def decide(client: MlflowClient, name: str, challenger: ModelVersion,
           challenger_metrics: dict[str, float], test: pd.DataFrame, min_improvement: float
           ) -> Decision:
    """Champion/challenger on the same held-out rows: the challenger must be strictly better."""
    champion = current(client, name, PRODUCTION)
    if champion is None:
        new = m.selection_key(challenger_metrics)
        return Decision(True, f"promoted: no production version yet; challenger v{challenger.version} "
                        f"f1_weighted={new[0]:.4f} f1_macro={new[1]:.4f} becomes the first",
                        challenger.version, None, challenger_metrics, None)
    if champion.version == challenger.version:
        return Decision(False, f"version {challenger.version} is already production",
                        challenger.version, champion.version, challenger_metrics, None)
    labels = sorted(test["label"].unique())
    champion_metrics = evaluate_version(name, champion.version, test, labels)
    new, old = m.selection_key(challenger_metrics), m.selection_key(champion_metrics)
    summary = (f"challenger v{challenger.version} f1_weighted={new[0]:.4f} f1_macro={new[1]:.4f} "
               f"vs production v{champion.version} f1_weighted={old[0]:.4f} f1_macro={old[1]:.4f}")
    better = new[0] > old[0] + min_improvement or (
        min_improvement == 0 and new[0] == old[0] and new[1] > old[1]
    )
    reason = ("promoted: " if better else "kept production: challenger is not better; ") + summary
    return Decision(better, reason, challenger.version, champion.version, challenger_metrics,
                    champion_metrics)


def apply(client: MlflowClient, name: str, decision: Decision) -> None:
    """Record the gate's decision on the challenger (moving `production` is the delivery's)."""
    client.set_model_version_tag(name, decision.challenger_version, "promotion",
                                 "promoted" if decision.promote else "rejected")
    client.set_model_version_tag(name, decision.challenger_version, "promotion_reason",
                                 decision.reason[:5000])
    log.info("gate: %s", decision.reason)


def production_version(client: MlflowClient, name: str) -> str | None:
    version = current(client, name, PRODUCTION)
    return str(version.version) if version is not None else None


def previous_production(client: MlflowClient, name: str, version: str) -> str | None:
    """The version that `version` replaced when it became production, if recorded."""
    return client.get_model_version(name, version).tags.get("previous_production") or None


def set_production(client: MlflowClient, name: str, version: str, how: str, reason: str,
                   replaced: str | None) -> None:
    """Point `production` at `version`; `replaced` (the version it replaces) is recorded for a
    later rollback unless it is None."""
    client.get_model_version(name, version)  # fails clearly if it does not exist
    client.set_registered_model_alias(name, PRODUCTION, version)
    client.set_model_version_tag(name, version, "promotion", how)
    client.set_model_version_tag(name, version, "promotion_reason", reason[:5000])
    if replaced is not None and replaced != version:
        client.set_model_version_tag(name, version, "previous_production", replaced)
    log.info("%s@%s -> version %s (%s)", name, PRODUCTION, version, how)


def restore_production(client: MlflowClient, name: str, version: str | None) -> None:
    """Put `production` back on `version`; None removes the alias (there was none before)."""
    if version is None:
        client.delete_registered_model_alias(name, PRODUCTION)
    else:
        client.set_registered_model_alias(name, PRODUCTION, version)
    log.info("%s@%s restored to %s", name, PRODUCTION, version or "nothing")


def record_rollout(client: MlflowClient, name: str, version: str, succeeded: bool,
                   reason: str) -> None:
    import datetime as dt

    client.set_model_version_tag(name, version, "rollout", "succeeded" if succeeded else "failed")
    client.set_model_version_tag(name, version, "rollout_reason", reason[:5000])
    client.set_model_version_tag(name, version, "rolled_out_at",
                                 dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
