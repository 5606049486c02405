"""Start real MLflow / Prefect / model servers for tests, each on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from .paths import ROOT, VENV_BIN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {tail(log)}")
        try:
            if httpx.get(url, timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {tail(log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def process(cmd: list[str], log: Path, env: dict[str, str] | None = None):
    """Run a server in its own process group; stop the whole group afterwards."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def mlflow_server_cmd(workdir: Path, port: int) -> list[str]:
    return [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
            "--artifacts-destination", str(workdir / "artifacts")]


def prefect_server_cmd(port: int) -> list[str]:
    return [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]


def prefect_server_env(home: Path) -> dict[str, str]:
    return os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def model_server_cmd(model_uri: str, port: int, workers: int = 1) -> list[str]:
    return [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
            "local", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


@contextmanager
def served_mlflow(workdir: Path, log: Path):
    """A real MLflow tracking server (SQLite, proxied artifacts in workdir) on a free port,
    answering /health; yields (url, process)."""
    port = free_port()
    with process(mlflow_server_cmd(workdir, port), log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", 240, proc, log)
        yield url, proc


@contextmanager
def served_prefect(home: Path, log: Path):
    """A real Prefect server (PREFECT_HOME=home) on a free port, answering /api/health; yields
    (api url, process)."""
    port = free_port()
    with process(prefect_server_cmd(port), log, prefect_server_env(home)) as proc:
        api = f"http://127.0.0.1:{port}/api"
        wait_http(f"{api}/health", 240, proc, log)
        yield api, proc


@contextmanager
def served_model(model_uri: str, tracking_uri: str, log: Path, workers: int = 1,
                 **extra_env: str):
    """A real `mlflow models serve` on a free port, answering /ping; yields (url, process)."""
    port = free_port()
    # `mlflow models serve` execs `uvicorn` from PATH: make it the one next to this Python.
    env = os.environ | {"MLFLOW_TRACKING_URI": tracking_uri,
                        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra_env}
    with process(model_server_cmd(model_uri, port, workers), log, env) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/ping", 240, proc, log)
        yield url, proc


def flow_env(mlflow_server, prefect_server, **extra: str) -> dict[str, str]:
    return os.environ | {
        "MLFLOW_TRACKING_URI": mlflow_server["url"],
        "PREFECT_API_URL": prefect_server["api"],
        "PREFECT_HOME": str(prefect_server["home"]),
        "SENTIMENT_RETRY_DELAY_SECONDS": "1",
        **extra,
    }


TRAIN = "train_flow:train_sentiment"
PROMOTE = "delivery_flow:promote_sentiment"
ROLLBACK = "delivery_flow:rollback_sentiment"


def _flow_cmd(params: dict, flow: str = TRAIN) -> list[str]:
    module, function = flow.split(":")
    code = (
        "import json, sys; sys.path.insert(0, 'flows');"
        f"from {module} import {function};"
        f"print('RESULT ' + json.dumps({function}(**{params!r})))"
    )
    return [sys.executable, "-c", code]


def run_flow(env: dict[str, str], timeout: float = 900, flow: str = TRAIN,
             **params) -> subprocess.CompletedProcess:
    """Run a real flow (default: training) in a fresh interpreter, recorded by the Prefect
    server in `env`."""
    return subprocess.run(_flow_cmd(params, flow), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def start_flow(env: dict[str, str], log: Path, **params) -> subprocess.Popen:
    """Start the flow in the background; stdout and stderr go to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(_flow_cmd(params), cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def result_from_log(log: Path) -> dict:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"flow failed:\n{tail(log, 60)}")


def flow_result(proc: subprocess.CompletedProcess) -> dict:
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"flow failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
