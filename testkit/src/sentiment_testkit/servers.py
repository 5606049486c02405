"""Start real MLflow / Prefect / model servers for tests, each on a free loopback port."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
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


def mlflow_server_env() -> dict[str, str]:
    """As the chart runs it: without MLflow's job runner (seven huey consumers, ~1.2 GB, for
    GenAI features the platform does not use)."""
    return os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def prefect_server_cmd(port: int) -> list[str]:
    return [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]


def prefect_server_env(home: Path) -> dict[str, str]:
    return os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def model_server_cmd(model_uri: str, port: int, workers: int = 1) -> list[str]:
    return [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
            "local", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


@dataclass(frozen=True)
class Credentials:
    """What the platform's servers require, generated per test session: MLflow users (admin,
    trainer, the read-only model-server user) and Prefect's API auth string."""

    admin: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    trainer: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    reader: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    flask_secret: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    prefect: str = field(default_factory=lambda: f"admin:{secrets.token_urlsafe(18)}")

    def mlflow_as(self, user: str) -> dict[str, str]:
        """Client env of one MLflow user: admin, trainer or model-server."""
        password = {"admin": self.admin, "trainer": self.trainer, "model-server": self.reader}[user]
        return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}


CREDENTIALS = Credentials()


def write_platform_credentials(run_dir: Path, creds: Credentials = CREDENTIALS) -> Path:
    """The local platform's credentials file (scripts/local/platform.sh reads it), holding the
    ones these test servers require."""
    path = run_dir / "credentials.env"
    path.write_text(f"MLFLOW_ADMIN_PASSWORD={creds.admin}\nMLFLOW_TRAINER_PASSWORD={creds.trainer}\n"
                    f"MLFLOW_READER_PASSWORD={creds.reader}\n"
                    f"MLFLOW_FLASK_SERVER_SECRET_KEY={creds.flask_secret}\n"
                    f"PREFECT_AUTH_STRING={creds.prefect}\n")
    path.chmod(0o600)
    return path


def prefect_auth() -> tuple[str, str]:
    """httpx's auth for a Prefect API started by served_prefect."""
    user, _, password = CREDENTIALS.prefect.partition(":")
    return user, password
SYNC_USERS = ROOT / "charts" / "sentiment-platform" / "charts" / "mlflow" / "files" / "sync_users.py"


def mlflow_auth_env(workdir: Path, creds: Credentials = CREDENTIALS) -> dict[str, str]:
    """The basic-auth app's config (an ini in workdir, a SQLite user store) and admin secret."""
    ini = workdir / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\n"
                   f"database_uri = sqlite:///{workdir}/auth.db\nadmin_username = admin\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   "auth_cache_ttl_seconds = 60\n")
    return {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
            "MLFLOW_AUTH_ADMIN_PASSWORD": creds.admin, "MLFLOW_FLASK_SERVER_SECRET_KEY": creds.flask_secret}


@contextmanager
def _client_env(values: dict[str, str]):
    """Set client credentials in this process for the duration (clients read them per call)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def served_mlflow(workdir: Path, log: Path, creds: Credentials = CREDENTIALS):
    """A real MLflow tracking server (SQLite, proxied artifacts in workdir) on a free port with
    its basic-auth app and the platform's users (the chart's sync_users.py), answering /health;
    yields (url, process). This process is its admin meanwhile (MLFLOW_TRACKING_USERNAME/_PASSWORD)."""
    port = free_port()
    auth = mlflow_auth_env(workdir, creds)
    users = auth | {"MLFLOW_TRAINER_USERNAME": "trainer", "MLFLOW_TRAINER_PASSWORD": creds.trainer,
                    "MLFLOW_READER_USERNAME": "model-server", "MLFLOW_READER_PASSWORD": creds.reader,
                    "MODEL_NAME": "flipkart-sentiment", "EXPERIMENT_NAME": "flipkart-sentiment",
                    "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{workdir}/mlflow.db"}
    with open(log, "ab") as out:
        subprocess.run([sys.executable, str(SYNC_USERS)], env=os.environ | users, stdout=out,
                       stderr=subprocess.STDOUT, check=True, timeout=300)
    cmd = mlflow_server_cmd(workdir, port)
    cmd[2:2] = ["--app-name", "basic-auth"]  # after `mlflow server`
    with process(cmd, log, mlflow_server_env() | auth) as proc, _client_env(creds.mlflow_as("admin")):
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", 240, proc, log)
        yield url, proc


@contextmanager
def served_prefect(home: Path, log: Path, creds: Credentials = CREDENTIALS):
    """A real Prefect server (PREFECT_HOME=home) requiring its API auth string, with its
    Prometheus metrics on (GET /api/metrics), on a free port,
    answering /api/health; yields (api url, process). This process sends the auth string
    (PREFECT_API_AUTH_STRING) meanwhile."""
    port = free_port()
    env = prefect_server_env(home) | {"PREFECT_SERVER_API_AUTH_STRING": creds.prefect,
                                      "PREFECT_SERVER_METRICS_ENABLED": "true",  # as the chart
                                      # Its UI's API is this server (not the default :4200).
                                      "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}
    with process(prefect_server_cmd(port), log, env) as proc, \
            _client_env({"PREFECT_API_AUTH_STRING": creds.prefect}):
        api = f"http://127.0.0.1:{port}/api"
        wait_http(f"{api}/health", 240, proc, log)
        yield api, proc


@contextmanager
def served_model(model_uri: str, tracking_uri: str, log: Path, workers: int = 1,
                 **extra_env: str):
    """A real `mlflow models serve` on a free port, answering /ping; yields (url, process).
    It reads the registry as the read-only model-server user."""
    port = free_port()
    # `mlflow models serve` execs `uvicorn` from PATH: make it the one next to this Python.
    env = os.environ | CREDENTIALS.mlflow_as("model-server") | {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra_env}
    with process(model_server_cmd(model_uri, port, workers), log, env) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/ping", 240, proc, log)
        yield url, proc


def flow_env(mlflow_server, prefect_server, **extra: str) -> dict[str, str]:
    """What a flow run gets: the servers, and the trainer's credentials."""
    return os.environ | CREDENTIALS.mlflow_as("trainer") | {
        "PREFECT_API_AUTH_STRING": CREDENTIALS.prefect,
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


def postgres_bins() -> tuple[str, str] | None:
    """(initdb, postgres) of the host: on PATH, or Debian's /usr/lib/postgresql/<v>/bin."""
    import glob
    import shutil

    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for initdb, postgres in [(shutil.which("initdb"), shutil.which("postgres"))] + [
            (f"{d}/initdb", f"{d}/postgres") for d in reversed(dirs)]:
        if initdb and postgres and os.access(initdb, os.X_OK) and os.access(postgres, os.X_OK):
            return initdb, postgres
    return None


# PostgreSQL refuses to run as root: tests run a host PostgreSQL as nobody.
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def init_host_postgres(base: Path, initdb: str, superuser: str) -> Path:
    """A new PostgreSQL data directory `base/pg`, owned by nobody, with a trusted superuser."""
    base.chmod(0o755)
    pgdata = base / "pg"
    pgdata.mkdir()
    os.chown(pgdata, 65534, 65534)
    subprocess.run([*AS_NOBODY, initdb, "-D", str(pgdata), "-U", superuser, "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True, timeout=180)
    return pgdata


def host_postgres_cmd(postgres: str, pgdata: Path, port: int) -> list[str]:
    """The server on 127.0.0.1:port, its socket in the data directory, as nobody."""
    return [*AS_NOBODY, postgres, "-D", str(pgdata), "-p", str(port), "-k", str(pgdata),
            "-c", "listen_addresses=127.0.0.1"]

