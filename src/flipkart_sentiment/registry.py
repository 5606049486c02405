"""Model registry: register the winner, tag it, set `staging`, and gate `production`.

MLflow 3 deprecates stages; the aliases `staging` and `production` replace the seed's
"Staging"/"Production" stages (see README). Every function is safe to call twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from . import metrics as m

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


def current(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
            return None
        raise


def score_version(name: str, version: str, test: pd.DataFrame, labels: list[str]) -> dict[str, float]:
    """Evaluate a registered version on the given held-out rows, through its pyfunc."""
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    records = test[["title", "text"]].to_dict("records")
    predicted = [p["label"] for p in model.predict(records)]
    return m.evaluate(test["label"], predicted, labels)


def decide(client: MlflowClient, name: str, challenger: ModelVersion,
           challenger_metrics: dict[str, float], test: pd.DataFrame, min_improvement: float
           ) -> Decision:
    """Champion/challenger on the same held-out rows: the challenger must be strictly better."""
    champion = current(client, name, PRODUCTION)
    if champion is None:
        return Decision(True, "no production version yet", challenger.version, None,
                        challenger_metrics, None)
    if champion.version == challenger.version:
        return Decision(False, f"version {challenger.version} is already production",
                        challenger.version, champion.version, challenger_metrics, None)
    labels = sorted(test["label"].unique())
    champion_metrics = score_version(name, champion.version, test, labels)
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
    """Record the decision on the challenger and move `production` if it won."""
    client.set_model_version_tag(name, decision.challenger_version, "promotion",
                                 "promoted" if decision.promote else "rejected")
    client.set_model_version_tag(name, decision.challenger_version, "promotion_reason",
                                 decision.reason[:5000])
    if decision.promote:
        client.set_registered_model_alias(name, PRODUCTION, decision.challenger_version)
    log.info("%s", decision.reason)


def force_production(client: MlflowClient, name: str, version: str) -> None:
    """Operator override (CLI `promote --version N`): no comparison, recorded as a tag."""
    client.get_model_version(name, version)  # fails clearly if it does not exist
    client.set_registered_model_alias(name, PRODUCTION, version)
    client.set_model_version_tag(name, version, "promotion", "forced")
