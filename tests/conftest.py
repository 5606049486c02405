"""Session fixtures: real MLflow and Prefect servers, a trained model, a model server."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentiment_testkit.paths import DATA
from sentiment_testkit.servers import (
    flow_env,
    flow_result,
    run_flow,
    served_mlflow,
    served_model,
    served_prefect,
)


@pytest.fixture(scope="session")
def data_path() -> Path:
    if not DATA.exists():
        pytest.fail(f"the project's data is missing: expected {DATA} (see ../shared/data/README.md)")
    return DATA


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mlflow")
    log = workdir / "server.log"
    with served_mlflow(workdir, log) as (url, proc):
        yield {"url": url, "workdir": workdir, "log": log, "proc": proc,
               "port": int(url.rsplit(":", 1)[1])}


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect")
    log = home / "server.log"
    with served_prefect(home, log) as (api, _):
        yield {"api": api, "home": home, "log": log}


@pytest.fixture(scope="session")
def champion(mlflow_server, prefect_server, data_path):
    """One real flow run (quick search): registers a version and makes it production."""
    proc = run_flow(flow_env(mlflow_server, prefect_server), data_path=str(data_path),
                    search="quick")
    return flow_result(proc)


PRODUCTION_URI = "models:/flipkart-sentiment@production"


@pytest.fixture(scope="session")
def model_server(mlflow_server, champion, tmp_path_factory):
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    with served_model(PRODUCTION_URI, mlflow_server["url"], log) as (url, _):
        yield {"url": url, "log": log}
