"""Session fixtures: real MLflow and Prefect servers, a trained model, a model server."""

from __future__ import annotations

from pathlib import Path

import pytest
from testlib_servers import (
    ROOT,
    flow_env,
    flow_result,
    free_port,
    mlflow_server_cmd,
    prefect_server_cmd,
    prefect_server_env,
    process,
    run_flow,
    served_model,
    wait_http,
)

DATA = ROOT.parent / "shared" / "data" / "flipkart_reviews_badminton.csv"


@pytest.fixture(scope="session")
def data_path() -> Path:
    if not DATA.exists():
        pytest.fail(f"the project's data is missing: expected {DATA} (see ../shared/data/README.md)")
    return DATA


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = workdir / "server.log"
    with process(mlflow_server_cmd(workdir, port), log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", 240, proc, log)
        yield {"url": url, "workdir": workdir, "log": log, "proc": proc, "port": port}


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect")
    port = free_port()
    log = home / "server.log"
    with process(prefect_server_cmd(port), log, prefect_server_env(home)) as proc:
        api = f"http://127.0.0.1:{port}/api"
        wait_http(f"{api}/health", 240, proc, log)
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
