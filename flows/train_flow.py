"""Prefect flow `train-sentiment`: the package's training workflow, one task per step.

The steps, their order and their retry policies live in `flipkart_sentiment.workflows.training`;
this file only turns each step into a Prefect task, gives the workflow the promotion lock and
publishes the run summary as an artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from uuid import UUID

from package_logs import send_package_logs_to_prefect
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from promotion_lock import promotion_lock

from flipkart_sentiment.config import Settings
from flipkart_sentiment.core.profiles import ProfileName
from flipkart_sentiment.workflows.summary import summary_markdown
from flipkart_sentiment.workflows.training import POLICIES, run_training

send_package_logs_to_prefect()


def as_task(settings: Settings) -> Callable[[str, Callable[..., Any]], Callable[..., Any]]:
    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        policy = POLICIES[name]
        return task(
            fn,
            name=name.replace("_", "-"),
            retries=policy.retries,
            retry_delay_seconds=settings.retry_delay_seconds if policy.retries else 0,
            # Results are big frames and models: keep them in memory, not in Prefect storage.
            persist_result=False,
            cache_policy=None,
        )

    return wrap


def provisional_name() -> str:
    """The flow run's name until the data is read: its file and the time. Then it takes the MLflow
    run's name (`rename_flow_run`), which has the data's sha256 in it."""
    path = runtime.flow_run.parameters.get("data_path") or Settings().data_path
    stem = PurePosixPath(path.rstrip("/")).stem or "data"
    return f"train {stem} {datetime.now(UTC):%Y-%m-%d %H:%M}"


def rename_flow_run(name: str) -> None:
    """A name is for people: a failure to set it is logged, and the training goes on."""
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(runtime.flow_run.id), name=name)
    except Exception as exc:  # noqa: BLE001 - any API or transport error alike
        get_run_logger().warning("could not rename the flow run to %r: %s", name, exc)


@flow(name="train-sentiment", flow_run_name=provisional_name, log_prints=True)
def train_sentiment(data_path: str | None = None, search: ProfileName | None = None) -> dict[str, Any]:
    """Load, validate, split, preprocess, search, evaluate, register, promote and deliver.

    Args:
        data_path: The reviews CSV (a path or an s3:// URI). Empty: SENTIMENT_DATA_PATH.
        search: The search profile: `full` (every candidate), `quick` (two), `seed` (the seed
            recipe only). Empty: SENTIMENT_SEARCH.
    """
    logger = get_run_logger()
    settings = Settings()
    logger.info("training from %s with search profile %s; MLflow at %s",
                data_path or settings.data_path, search or settings.search, settings.tracking_uri)
    result = run_training(settings, data_path, search, step=as_task(settings),
                          exclusive=promotion_lock(settings), named=rename_flow_run)
    create_markdown_artifact(
        key="training-summary",
        markdown=summary_markdown(result, settings.mlflow_ui, settings.model_name),
        description=f"{settings.model_name} v{result.version}: "
                    + ("now production" if result.decision.promote else "production unchanged"),
    )
    return {
        "version": result.version,
        "promoted": result.decision.promote,
        "reason": result.decision.reason,
        "run_id": result.parent_run_id,
        "test_f1_weighted": result.final.test_metrics["f1_weighted"],
        "test_f1_macro": result.final.test_metrics["f1_macro"],
        "rollout_seconds": result.delivery.rollout_seconds if result.delivery else None,
    }


if __name__ == "__main__":
    train_sentiment()
