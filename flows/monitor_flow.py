"""Prefect flow `monitor-sentiment`: the monitoring job of `flipkart_sentiment.workflows.monitoring`,
its report as a markdown artifact, and one Prefect event per kind of threshold crossed (drift,
quality), which the automation of flows/deploy.py answers with a training run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows.monitoring import run_monitoring


@flow(name="monitor-sentiment", log_prints=True)
def monitor_sentiment() -> dict[str, Any]:
    """Compare recent predictions and labeled reviews with production's training data."""
    settings = Settings()
    logger = get_run_logger()
    report = run_monitoring(settings)
    create_markdown_artifact(key="monitoring-report", markdown=report.markdown(),
                             description=f"{report.model_name} v{report.version}")
    emitted = []
    for name, resource, payload in report.events():
        emit_event(event=name, resource=resource, payload=payload)
        emitted.append(name)
        logger.warning("%s: %s", name, ", ".join(payload["checks"]))
    for check in report.checks:
        logger.info(check.describe())
    return {"version": report.version, "run_id": report.run_id, "events": emitted,
            "crossed": [c.name for c in report.crossed],
            "values": {c.name: c.value for c in report.checks}}


if __name__ == "__main__":
    monitor_sentiment()
