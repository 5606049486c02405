"""Fixtures and hooks of the end-to-end test: ordered steps, timing summary, cluster check.

The e2e test runs against whatever kubeconfig is current (``KUBECONFIG`` or ~/.kube/config):
a kind cluster (``make kind-up``; CI's is built from the node image of ``make kind-node-image``)
or any other.
"""

from __future__ import annotations

import json
import os

import pytest
from sentiment_testkit.e2e import LOG, RUN_DIR, Config, Kube, StepLog


@pytest.fixture(scope="session")
def steplog() -> StepLog:
    return LOG


def pytest_terminal_summary(terminalreporter):  # noqa: D103 - pytest hook
    if LOG.rows:
        text = LOG.summary()
        terminalreporter.write_line(text)
        (RUN_DIR / "e2e" / "summary.txt").write_text(text + "\n")


# Steps depend on each other: after a failure the later steps are skipped, not run.
_failed: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed and "e2e" in item.keywords:
        _failed.append(item.name)


def pytest_runtest_setup(item):
    if "e2e" in item.keywords and _failed and not item.get_closest_marker("always"):
        pytest.skip(f"an earlier step failed: {_failed[0]}")


def pytest_configure(config):
    config.addinivalue_line("markers", "always: e2e step that runs even after a failure")


@pytest.fixture(scope="session")
def cfg() -> Config:
    return Config()


@pytest.fixture(scope="session")
def kube(cfg: Config) -> Kube:
    k = Kube(cfg)
    res = k.run("version", "-o", "json", check=False, namespaced=False, timeout=30)
    if res.returncode != 0:
        pytest.fail(f"no reachable Kubernetes cluster on the current kubeconfig:\n{res.stderr}")
    server = json.loads(res.stdout).get("serverVersion", {}).get("gitVersion")
    ctx = k.run("config", "current-context", check=False, namespaced=False).stdout.strip()
    LOG.say(
        f"cluster: context {ctx or '?'}, server {server}, "
        f"KUBECONFIG={os.environ.get('KUBECONFIG', '~/.kube/config')}"
    )
    return k


@pytest.fixture(scope="session")
def state() -> dict:
    """What one step hands to the next (versions, run ids, port-forwards)."""
    return {}
