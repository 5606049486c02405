"""The promotion lock: a global concurrency limit of 1 on the Prefect server, shared by every
flow that moves `production` or rolls the model server (training, promote, rollback)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists

from flipkart_sentiment.config import Settings


def promotion_lock(settings: Settings) -> Callable[[], AbstractContextManager]:
    name = f"{settings.model_name}-promotion"
    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)
        except ObjectAlreadyExists:  # another run created it between our read and create
            pass
    # A rollout takes minutes: wait up to twice its deadline for another run's to finish.
    wait = 2 * settings.rollout_timeout_seconds + 300
    return lambda: concurrency(name, occupy=1, strict=True, timeout_seconds=wait)
