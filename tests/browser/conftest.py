"""A headless Chromium (Debian's package) and pages logged in to the session's MLflow and Prefect
servers (tests/conftest.py), as the platform's operator sees them."""

from __future__ import annotations

import pytest
from sentiment_testkit import browser as ui
from sentiment_testkit.servers import CREDENTIALS


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the web UIs in Chromium (Debian's package)")


@pytest.fixture(scope="session")
def chromium():
    try:
        ui.chromium_path()
    except ui.BrowserMissing as exc:
        pytest.fail(str(exc))
    with ui.chromium() as browser:
        yield browser


@pytest.fixture
def mlflow_page(chromium, mlflow_server):
    """MLflow's UI as its admin. Wide, so that the runs table draws every column it shows."""
    context = ui.mlflow_context(chromium, "admin", CREDENTIALS.admin,
                                viewport={"width": 2400, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.fixture
def prefect_page(chromium, prefect_server):
    """Prefect's UI past its login (the server's API auth string)."""
    context = ui.prefect_context(chromium, CREDENTIALS.prefect)
    yield context.new_page()
    context.close()
