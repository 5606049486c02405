"""Helpers of the image smoke tests (tests/images): build the images (the targets of
images/Dockerfile, through scripts/docker/build-image.sh), run containers and host processes, and
start a training flow run the way the Prefect Kubernetes worker does."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .paths import ROOT, RUN_DIR

LOG_DIR = RUN_DIR / "images" / "tests"
TAG = os.environ.get("IMAGE_TAG", "0.1.0")
MODEL_NAME = "flipkart-sentiment"
NAMES = ("trainer", "mlflow", "prefect", "model-server")  # the targets of images/Dockerfile

BUILD_TIMEOUT = 2400  # one image, cold, on two shared cores
DOCKERD_TIMEOUT = 900  # includes a possible apt-get install of docker.io


def image_ref(name: str) -> str:
    return f"sentiment-{name}:{TAG}"


def run(cmd: list[str], timeout: float, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command with a hard timeout; on failure raise with its output."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"")[-3000:] if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise AssertionError(f"timed out after {timeout}s: {' '.join(cmd)}\n{out}") from None
    if check and res.returncode != 0:
        raise AssertionError(
            f"exit {res.returncode}: {' '.join(cmd)}\n--- stdout\n{res.stdout[-4000:]}"
            f"\n--- stderr\n{res.stderr[-4000:]}"
        )
    return res


def http(method: str, url: str, body: dict | None = None, timeout: float = 60,
         auth: tuple[str, str] | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_http_ok(url: str, timeout: float, alive=lambda: True, what: str = "") -> float:
    """Poll GET url until 200; returns the seconds it took. ``alive`` aborts early."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout:
        if not alive():
            raise AssertionError(f"{what or url} exited before answering (last: {last})")
        try:
            code, text = http("GET", url, timeout=15)
            if code == 200:
                return time.monotonic() - start
            last = f"HTTP {code} {text[:200]}"
        except (OSError, urllib.error.URLError) as exc:
            last = repr(exc)
        time.sleep(1)
    raise AssertionError(f"{what or url} did not answer 200 within {timeout}s (last: {last})")


# --------------------------------------------------------------------------- docker + images


class Images:
    """Builds each image at most once per session (a failed build fails fast the second time)."""

    def __init__(self) -> None:
        self.results: dict[str, str | AssertionError] = {}
        self.seconds: dict[str, int] = {}

    def get(self, name: str) -> str:
        if name not in self.results:
            start = time.monotonic()
            env = {**os.environ, "RUN_DIR": str(RUN_DIR), "IMAGE_TAG": TAG}
            try:
                run(
                    [str(ROOT / "scripts/docker/build-image.sh"), name],
                    timeout=BUILD_TIMEOUT,
                    env=env,
                )
                self.results[name] = image_ref(name)
            except AssertionError as exc:
                self.results[name] = exc
            self.seconds[name] = round(time.monotonic() - start)
        result = self.results[name]
        if isinstance(result, AssertionError):
            pytest.fail(f"building {image_ref(name)} failed:\n{result}", pytrace=False)
        return result


@dataclass
class Containers:
    """docker run helper that removes every container it started at the end of the session."""

    started: list[str] = field(default_factory=list)

    def start(
        self,
        image: str,
        *args: str,
        docker_args: tuple[str, ...] = (),
        prefix: str = "sentiment-test",
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.started.append(name)
        run(["docker", "run", "-d", "--name", name, *docker_args, image, *args], timeout=120)
        return name

    def run_to_end(
        self,
        image: str,
        *args: str,
        docker_args: tuple[str, ...] = (),
        timeout: float = 600,
        prefix: str = "sentiment-test",
    ):
        """Run a container to completion; returns (exit code, logs). Logs land in LOG_DIR."""
        name = self.start(image, *args, docker_args=docker_args, prefix=prefix)
        try:
            code = run(["docker", "wait", name], timeout=timeout).stdout.strip()
        except AssertionError:
            run(["docker", "kill", name], timeout=60, check=False)
            raise AssertionError(
                f"{name} ({image}) did not finish within {timeout}s:\n{self.logs(name)[-6000:]}"
            ) from None
        return int(code), self.logs(name)

    def running(self, name: str) -> bool:
        res = run(["docker", "inspect", "-f", "{{.State.Running}}", name], timeout=30, check=False)
        return res.stdout.strip() == "true"

    def logs(self, name: str) -> str:
        res = run(["docker", "logs", name], timeout=60, check=False)
        text = res.stdout + res.stderr
        (LOG_DIR / f"{name}.log").write_text(text)
        return text

    def remove_all(self) -> None:
        for name in self.started:
            self.logs(name)
            run(["docker", "rm", "-f", name], timeout=60, check=False)


# --------------------------------------------------------------------------- host servers


class HostProcess:
    """A server started from this virtualenv in its own process group, logged to LOG_DIR."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOG_DIR / f"{name}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group we created (workers included)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._log.close()


# The trainer runs a flow run the way the Prefect Kubernetes worker's Job does: a deployment whose
# entrypoint is relative to the image's WORKDIR (/app, as `python flows/deploy.py kubernetes` run
# from the repository root records it), a flow run of it, and in the container
# `prefect flow-run execute` with PREFECT__FLOW_RUN_ID set. search="quick" = 2 runs.
FLOW_ENTRYPOINT = "flows/train_flow.py:train_sentiment"
FLOW_PARAMETERS = {"search": "quick"}
TRAIN_COMMAND = ("prefect", "flow-run", "execute")

# Run on the host (this virtualenv) with PREFECT_API_URL set; prints the new flow run's id.
CREATE_FLOW_RUN = f"""
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    flow_id = client.create_flow_from_name("train-sentiment")
    deployment_id = client.create_deployment(
        flow_id=flow_id, name="images-smoke", entrypoint={FLOW_ENTRYPOINT!r},
        parameters={FLOW_PARAMETERS!r}, enforce_parameter_schema=False)
    print(client.create_flow_run_from_deployment(deployment_id).id)
"""


def create_flow_run(prefect_api: str) -> str:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    res = run([sys.executable, "-c", CREATE_FLOW_RUN], timeout=120, env=env)
    return res.stdout.strip().splitlines()[-1]


@dataclass
class TrainedModel:
    tracking_uri: str
    prefect_api: str
    flow_run_id: str
    version: str
    logs: str
    seconds: float
