"""Prefect flows `promote-sentiment` and `rollback-sentiment`: the operator's promote and rollback,
run by the same workers as training (on Kubernetes: a Job with the trainer's identity), under
the same promotion lock, through the same delivery path as `flipkart-sentiment promote|rollback`:
move `production`, roll the model server onto the exact version, wait, revert on failure.
"""

from __future__ import annotations

from typing import Any

from mlflow.tracking import MlflowClient
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from promotion_lock import promotion_lock

from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows import delivery


def _report(settings: Settings, result: delivery.Delivery, action: str) -> dict[str, Any]:
    create_markdown_artifact(
        key=f"{action}-summary",
        markdown=f"# {action}: {settings.model_name}\n\n- {result.describe()}\n",
        description=f"{settings.model_name} v{result.version}",
    )
    return {"version": result.version, "previous": result.previous,
            "rollout_seconds": result.rollout_seconds}


@flow(name="promote-sentiment", log_prints=True)
def promote_sentiment(version: int) -> dict[str, Any]:
    """Make `version` production and roll the model server onto it (no gate: an operator's call)."""
    # A registered version is a number (the UI shows a number field; `--param version=4` parses
    # as one); the registry takes it as a string.
    version = str(version)
    settings = Settings()
    get_run_logger().info("promoting %s version %s", settings.model_name, version)
    client = MlflowClient(settings.tracking_uri)
    with promotion_lock(settings)():
        result = delivery.deliver(settings, client, version, "forced", "promoted by an operator",
                                  delivery.target_from(settings))
    get_run_logger().info(result.describe())
    return _report(settings, result, "promote")


@flow(name="rollback-sentiment", log_prints=True)
def rollback_sentiment() -> dict[str, Any]:
    """Back to the version the current production replaced, and the server with it."""
    settings = Settings()
    client = MlflowClient(settings.tracking_uri)
    with promotion_lock(settings)():
        result = delivery.rollback(settings, client, delivery.target_from(settings))
    get_run_logger().info(result.describe())
    return _report(settings, result, "rollback")
