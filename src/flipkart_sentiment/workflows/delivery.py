"""Delivering a model version: move `production`, roll the server onto that exact version, wait
until every replica serves it, and put everything back if it does not get there in time.

One path for everyone who changes what is served: the training flow after the gate promotes,
`flipkart-sentiment promote --version N` and `flipkart-sentiment rollback`, and the
`promote-sentiment` / `rollback-sentiment` flows. On a failed rollout the server goes back to
what it served before, `production` back to the version it pointed to, the version is tagged
`rollout: failed` with the reason, and ``RolloutFailed`` carries the cause to the caller (a
failed flow run, or exit code 1).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from ..adapters import registry
from ..adapters.rollout import KubernetesTarget, LocalTarget, RolloutFailed, Target
from ..config import Settings

log = logging.getLogger(__name__)

__all__ = ["Delivery", "RolloutFailed", "deliver", "rollback", "target_from"]


@dataclass
class Delivery:
    version: str
    previous: str | None            # production before
    target: str | None              # what was rolled (None: the alias only)
    served_before: str | None = None
    rollout_seconds: float | None = None

    def describe(self) -> str:
        where = (f"; {self.target} serves it after {self.rollout_seconds:.0f}s"
                 if self.target else "; no server to roll (SENTIMENT_ROLLOUT_TARGET=none)")
        return f"production: version {self.previous or 'none'} -> {self.version}{where}"


def target_from(settings: Settings) -> Target | None:
    kind = settings.rollout_kind
    if kind == "kubernetes":
        if not settings.rollout_deployment:
            raise ValueError("SENTIMENT_ROLLOUT_TARGET=kubernetes needs SENTIMENT_ROLLOUT_DEPLOYMENT")
        return KubernetesTarget(settings.rollout_deployment, settings.rollout_annotation,
                                settings.rollout_namespace)
    if kind == "local":
        return LocalTarget(settings.local_platform_script, settings.local_model_port)
    return None


def deliver(settings: Settings, client: MlflowClient, version: str, how: str, reason: str,
            target: Target | None = None, record_previous: bool = True) -> Delivery:
    """`production` -> `version`, then roll `target` onto it and wait (revert on failure)."""
    name = settings.model_name
    version = str(version)
    client.get_model_version(name, version)  # fails clearly if it does not exist
    previous = registry.production_version(client, name)
    served_before = target.served_version() if target is not None else None
    registry.set_production(client, name, version, how, reason,
                            previous if record_previous else None)
    delivery = Delivery(version, previous, target.describe() if target else None, served_before)
    if target is None:
        return delivery
    log.info("rolling %s from version %s to %s (deadline %.0fs)", target.describe(),
             served_before or "stand-by", version, settings.rollout_timeout_seconds)
    started = time.monotonic()
    try:
        target.roll(name, version)
        delivery.rollout_seconds = target.wait(version, settings.rollout_timeout_seconds)
    except RolloutFailed as failure:
        raise _revert(settings, client, target, delivery, failure,
                      time.monotonic() - started) from failure
    registry.record_rollout(client, name, version, True,
                            f"{target.describe()} served it after {delivery.rollout_seconds:.0f}s")
    log.info("%s", delivery.describe())
    return delivery


def _revert(settings: Settings, client: MlflowClient, target: Target, delivery: Delivery,
            failure: RolloutFailed, detected_after: float) -> RolloutFailed:
    """Put the server and `production` back; the returned error says what happened."""
    name, version = settings.model_name, delivery.version
    log.error("rollout of version %s failed after %.0fs: %s; reverting", version, detected_after,
              failure)
    started = time.monotonic()
    outcome = f"{target.describe()} is back on version {delivery.served_before or 'stand-by'}"
    try:
        target.roll(name, delivery.served_before)
        target.wait(delivery.served_before, settings.rollout_timeout_seconds)
    except RolloutFailed as again:
        outcome = f"the revert did not finish either: {again}"
    registry.restore_production(client, name, delivery.previous)
    registry.record_rollout(client, name, version, False, str(failure))
    return RolloutFailed(
        f"version {version} was not rolled out: {failure}. Reverted: production is back on "
        f"version {delivery.previous or 'none'}; {outcome} (failure seen after "
        f"{detected_after:.0f}s, reverted in {time.monotonic() - started:.0f}s)")


def rollback(settings: Settings, client: MlflowClient, target: Target | None = None) -> Delivery:
    """Back to the version the current production replaced (recorded when it was promoted).
    Walks back one promotion per call; the history itself is left as it is."""
    name = settings.model_name
    current = registry.production_version(client, name)
    if current is None:
        raise ValueError(f"{name} has no production version to roll back from")
    previous = registry.previous_production(client, name, current)
    if previous is None:
        raise ValueError(f"version {current} of {name} records no version it replaced; "
                         "use `promote --version N` to choose one")
    return deliver(settings, client, previous, "rollback", f"rollback from version {current}",
                   target, record_previous=False)
