"""Session fixtures: real MLflow and Prefect servers, a trained model, a model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from servers import (
    VENV_BIN, free_port, mlflow_server_cmd, model_server_cmd, process, wait_http,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "flipkart_reviews_badminton.csv"
sys.path.insert(0, str(Path(__file__).resolve().parent))


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
    env = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cmd = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process(cmd, log, env) as proc:
        api = f"http://127.0.0.1:{port}/api"
        wait_http(f"{api}/health", 240, proc, log)
        yield {"api": api, "home": home, "log": log}


def flow_env(mlflow_server, prefect_server, **extra: str) -> dict[str, str]:
    return os.environ | {
        "MLFLOW_TRACKING_URI": mlflow_server["url"],
        "PREFECT_API_URL": prefect_server["api"],
        "PREFECT_HOME": str(prefect_server["home"]),
        "SENTIMENT_RETRY_DELAY_SECONDS": "1",
        **extra,
    }


def run_flow(env: dict[str, str], timeout: float = 900, **params) -> subprocess.CompletedProcess:
    """Run the real flow in a fresh interpreter, recorded by the Prefect server in `env`."""
    code = (
        "import json, sys; sys.path.insert(0, 'flows');"
        "from train_flow import train_sentiment;"
        f"print('RESULT ' + json.dumps(train_sentiment(**{params!r})))"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def flow_result(proc: subprocess.CompletedProcess) -> dict:
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"flow failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


@pytest.fixture(scope="session")
def champion(mlflow_server, prefect_server, data_path):
    """One real flow run (quick search): registers a version and makes it production."""
    proc = run_flow(flow_env(mlflow_server, prefect_server), data_path=str(data_path),
                    search="quick")
    return flow_result(proc)


@pytest.fixture(scope="session")
def model_server(mlflow_server, champion, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    env = os.environ | {"MLFLOW_TRACKING_URI": mlflow_server["url"]}
    with process(model_server_cmd("models:/flipkart-sentiment@production", port), log, env) as p:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/ping", 240, p, log)
        yield {"url": url, "log": log}
