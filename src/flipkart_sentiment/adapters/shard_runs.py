"""Shard flow runs on a Prefect deployment: start one, read its state, cancel it.

Batch scoring with executor "deployments" (workflows/scoring.py) starts one flow run of the
deployment `score-reviews-shard/manual` per shard; on Kubernetes the Prefect worker turns each
into a Job of its own. This module is the only Prefect the scoring job touches, so the workflow
stays testable without a server (tests replace `run_deployment` and `read_flow_run`).

A run is started with `run_deployment(..., timeout=0, as_subflow=True)`: it returns as soon as
the run exists, and, called inside a flow run, links it as a child of that run (the Prefect UI
shows the shards under the parent). The runs are started one after another from the caller's
thread (the parent flow run's context is needed for the link, and its dynamic task keys are
not thread-safe), then waited for together by polling their states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelling

# Seconds between two reads of the shard runs' states.
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class RunState:
    final: bool  # no further change: completed, failed, crashed, cancelled
    completed: bool
    name: str  # the state's name, as the Prefect UI shows it ("Completed", "Crashed", ...)


def start(deployment: str, parameters: dict[str, Any], flow_run_name: str) -> UUID:
    """Create a flow run of `deployment` ("flow/deployment") now; do not wait for it."""
    run = run_deployment(deployment, parameters=parameters, flow_run_name=flow_run_name,
                         timeout=0, as_subflow=True)
    return run.id


def read_flow_run(run_id: UUID):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def state(run_id: UUID) -> RunState:
    current = read_flow_run(run_id).state
    if current is None:
        return RunState(False, False, "Pending")
    return RunState(current.is_final(), current.is_completed(), current.name or current.type.value)


def cancel(run_id: UUID) -> None:
    """Ask for the run to be cancelled (the worker stops its Job); best effort, never raises."""
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run_id, Cancelling(), force=True)
    except Exception:  # cleanup of a run that is being given up anyway
        pass
