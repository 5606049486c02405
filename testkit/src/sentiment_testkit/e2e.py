"""Helpers of the Kubernetes end-to-end test (tests/e2e): configuration, step timing log,
kubectl/helm, port-forwards.

The e2e test runs against whatever kubeconfig is current (``KUBECONFIG`` or ~/.kube/config):
a kind cluster (``make kind-up``; CI's is built from the node image of ``make kind-node-image``)
or any other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from .paths import ROOT, RUN_DIR

T0 = time.monotonic()


def _tool(name: str) -> str:
    env = os.environ.get(name.upper().replace("-", "_"))
    if env:
        return env
    local = ROOT / "bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: run `make tools` (the e2e needs helm and kubectl)")
    return found


def _semver(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("-")[0].split("."))


def _previous_release() -> Path | None:
    """The newest packaged release in releases/ (E2E_PREVIOUS_CHART: another package, or `none`
    to install this checkout directly)."""
    chosen = os.environ.get("E2E_PREVIOUS_CHART")
    if chosen is not None:
        return None if chosen in ("", "none") else Path(chosen)
    packages = sorted((ROOT / "releases").glob("sentiment-platform-*.tgz"), key=lambda p: _semver(
        p.name.removeprefix("sentiment-platform-").removesuffix(".tgz")))
    return packages[-1] if packages else None


def sets_known_to(package: Path, sets: list[str]) -> list[str]:
    """The `--set key=value`s whose key the packaged chart has (a release's values schema
    refuses keys it does not know, such as a value added since)."""
    with tarfile.open(package) as tar:
        values = {m.name: yaml.safe_load(tar.extractfile(m).read()) or {}
                  for m in tar.getmembers() if m.name.endswith("/values.yaml")}
    umbrella = next(v for k, v in values.items() if k.count("/") == 1)
    parts = {k.split("/")[2]: v for k, v in values.items() if k.count("/") == 3}

    def has(tree: dict, path: list[str]) -> bool:
        for key in path:
            if not isinstance(tree, dict) or key not in tree:
                return False
            tree = tree[key]
        return True

    def known(key: str) -> bool:
        head, *rest = key.split(".")
        return has(umbrella, [head, *rest]) or (head in parts and has(parts[head], rest))

    return [s for s in sets if known(s.split("=", 1)[0])]


@dataclass
class Config:
    release: str = os.environ.get("E2E_RELEASE", "sentiment")
    namespace: str = os.environ.get("E2E_NAMESPACE", "sentiment")
    chart: Path = Path(os.environ.get("E2E_CHART", ROOT / "charts" / "sentiment-platform"))
    values: list[str] = field(
        default_factory=lambda: [v for v in os.environ.get("E2E_VALUES", "").split() if v]
    )
    # Two model-server replicas: a rollout then has old and new pods side by side, which is what
    # the zero-downtime steps must show (and the PodDisruptionBudget gets rendered).
    # And prediction-log files every 5 s rather than every minute, so the monitor step finds the
    # curls of the steps before it.
    sets: list[str] = field(default_factory=lambda: [
        "model-server.replicas=2", "model-server.predictionLog.flushSeconds=5"] + [
        v for v in os.environ.get("E2E_SET", "").split() if v])
    # The last release, which step 1 installs and step 4a upgrades to this checkout.
    previous_chart: Path | None = field(default_factory=_previous_release)
    install_timeout: int = int(os.environ.get("E2E_INSTALL_TIMEOUT", "1200"))
    flow_timeout: int = int(os.environ.get("E2E_FLOW_TIMEOUT", "1800"))
    deployment: str = os.environ.get("E2E_DEPLOYMENT", "train-sentiment/daily")
    trainer_image: str = os.environ.get("E2E_TRAINER_IMAGE", "sentiment-trainer:0.1.0")
    model_name: str = os.environ.get("SENTIMENT_MODEL_NAME", "flipkart-sentiment")
    experiment: str = os.environ.get("SENTIMENT_EXPERIMENT", "flipkart-sentiment")
    keep: bool = os.environ.get("E2E_KEEP", "") not in ("", "0", "false")
    # Batch scoring's fan-out (step 11d; `make e2e-scale` measures with bigger numbers): the
    # grown data's scale (bench/grow_data.py), the shard counts, the runs per count (median).
    scale: int = int(os.environ.get("E2E_SCALE", "10"))
    scale_shards: list[int] = field(default_factory=lambda: [
        int(n) for n in os.environ.get("E2E_SCALE_SHARDS", "1,2").split(",") if n.strip()])
    scale_repeats: int = int(os.environ.get("E2E_SCALE_REPEATS", "1"))
    # The shard Jobs' CPU request (SENTIMENT_SCORING_SHARD_CPU_REQUEST): the platform already
    # requests about a core of the kind node's two.
    shard_cpu_request: str = os.environ.get("E2E_SHARD_CPU_REQUEST", "200m")


# ---------------------------------------------------------------------------------------------
# timing log


class StepLog:
    """Prints every step with its wall time, and a summary table at the end of the session."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []
        self.marks: dict[str, float] = {}
        self.path = RUN_DIR / "e2e" / "steps.log"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def say(self, msg: str) -> None:
        line = f"[e2e {time.strftime('%H:%M:%S')} +{time.monotonic() - T0:7.1f}s] {msg}"
        print(line, flush=True)
        with self.path.open("a") as fh:
            fh.write(line + "\n")

    @contextmanager
    def step(self, title: str):
        start = time.monotonic()
        self.say(f"=== {title}")
        status = "FAILED"
        try:
            yield
            status = "ok"
        except pytest.skip.Exception:
            status = "skipped"
            raise
        finally:
            took = time.monotonic() - start
            self.rows.append((title, start - T0, took, status))
            self.say(f"=== {title}: {status} in {took:.1f}s")

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic() - T0
        self.say(f"mark {name} at +{self.marks[name]:.1f}s")

    def summary(self) -> str:
        lines = ["", "e2e summary (seconds since the test session started)"]
        for title, at, took, status in self.rows:
            lines.append(f"  +{at:7.1f}  {took:7.1f}s  {status:8} {title}")
        for name, at in self.marks.items():
            lines.append(f"  mark {name}: +{at:.1f}s")
        lines.append(f"  total: {time.monotonic() - T0:.1f}s")
        return "\n".join(lines)


LOG = StepLog()


# ---------------------------------------------------------------------------------------------
# kubectl / helm


class Kube:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.kubectl = _tool("kubectl")
        self.helm = _tool("helm")

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 300,
        input: str | None = None,
        namespaced: bool = True,
    ) -> subprocess.CompletedProcess:
        cmd = [self.kubectl, *(["-n", self.cfg.namespace] if namespaced else []), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}{res.stdout}")
        return res

    def json(self, *args: str, namespaced: bool = True) -> dict:
        return json.loads(self.run(*args, "-o", "json", namespaced=namespaced).stdout)

    def helm_run(self, *args: str, timeout: float = 1800, check: bool = True):
        cmd = [self.helm, *args]
        LOG.say("$ " + " ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"helm failed ({res.returncode}):\n{res.stderr}{res.stdout}")
        return res

    def pods(self, selector: str | None = None) -> list[dict]:
        args = ["get", "pods"] + (["-l", selector] if selector else [])
        return self.json(*args)["items"]

    def describe_problems(self) -> str:
        """Pods that are not Ready/Succeeded, with their last events: for failure messages."""
        out = []
        for p in self.pods():
            phase = p["status"].get("phase")
            ready = all(c.get("ready") for c in p["status"].get("containerStatuses", []))
            if phase == "Succeeded" or (phase == "Running" and ready):
                continue
            states = [
                f"{c['name']}: {json.dumps(c.get('state'))}"
                for c in p["status"].get("initContainerStatuses", [])
                + p["status"].get("containerStatuses", [])
            ]
            out.append(f"pod {p['metadata']['name']} phase={phase}\n    " + "\n    ".join(states))
            logs = self.run(
                "logs", p["metadata"]["name"], "--all-containers", "--tail=30", check=False
            ).stdout
            out.append("    logs:\n      " + logs.replace("\n", "\n      "))
        ev = self.run("get", "events", "--sort-by=.lastTimestamp", check=False).stdout
        out.append("events (last 25):\n" + "\n".join(ev.splitlines()[-25:]))
        return "\n".join(out)


class PortForward:
    """`kubectl port-forward svc/NAME :PORT` on a free local port, for the test's lifetime."""

    def __init__(self, kube: Kube, service: str, port: int) -> None:
        self.kube, self.service, self.port = kube, service, port
        self.proc: subprocess.Popen | None = None
        self.local_port: int | None = None
        self.said: deque[str] = deque(maxlen=5)

    def start(self) -> int:
        self.stop()
        self.proc = subprocess.Popen(
            [
                self.kube.kubectl,
                "-n",
                self.kube.cfg.namespace,
                "port-forward",
                f"svc/{self.service}",
                # a restarted forward keeps its local port, so URLs handed out stay valid
                f"{self.local_port or ''}:{self.port}",
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line or "")
            if m:
                self.local_port = int(m.group(1))
                # kubectl prints a line per connection: unread, the pipe fills and the forward
                # blocks. Keep the last lines, to say why it ended.
                self.said.clear()
                threading.Thread(target=self.said.extend, args=(self.proc.stdout,),
                                 daemon=True).start()
                return self.local_port
            if self.proc.poll() is not None:
                break
        raise AssertionError(f"port-forward to svc/{self.service}:{self.port} failed")

    @property
    def url(self) -> str:
        if self.proc is not None and self.proc.poll() is not None:
            # Say why it ended (a replaced pod, a lost connection): a step that fails later on this
            # forward is then explained in the log.
            LOG.say(f"port-forward to svc/{self.service} had exited ({self.proc.returncode}): "
                    f"{[line.strip() for line in self.said]}; restarting it")
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        return f"http://127.0.0.1:{self.local_port}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
