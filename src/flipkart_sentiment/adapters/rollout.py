"""Rolling the model server onto an exact model version, and watching it get there.

Two targets, one interface (``Target``): the model-server Deployment on Kubernetes, and the
local platform's `mlflow models serve` process. ``roll`` points the server at
``models:/<name>/<version>`` (or, with no version, back to stand-by), ``wait`` returns when every
replica answers with that version or raises ``RolloutFailed`` naming why. Deciding what to roll
and reverting on failure is the caller's (workflows/delivery.py).

On Kubernetes the version lives in the pod template, which the chart never renders: the
container env ``SERVED_MODEL_URI`` and the annotation ``Settings.rollout_annotation``. So each
ReplicaSet serves one version, ``kubectl rollout undo`` brings the previous one back, and
``helm upgrade`` leaves both alone.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

MODEL_URI_ENV = "SERVED_MODEL_URI"
ROLLED_AT = "flipkart-sentiment/rolled-at"
CONTAINER = "model-server"
_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# Container states that will not get better by waiting.
_STUCK = {"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
          "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


class RolloutFailed(RuntimeError):
    """The server did not come up on the version within the deadline; the message says why."""


def model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def version_of(uri: str | None) -> str | None:
    """'7' from 'models:/<name>/7'; None for anything else (stand-by, an alias)."""
    if not uri or not uri.startswith("models:/"):
        return None
    tail = uri.rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None


class Target(Protocol):
    def describe(self) -> str: ...

    def served_version(self) -> str | None:
        """The version the server is set to serve (None: stand-by or unknown)."""

    def roll(self, name: str, version: str | None) -> None:
        """Point the server at models:/<name>/<version>; None: back to stand-by."""

    def wait(self, version: str | None, timeout: float) -> float:
        """Seconds until every replica serves `version`; RolloutFailed with the cause if not."""


# ---------------------------------------------------------------------------------------------
# Kubernetes


@dataclass
class KubernetesTarget:
    deployment: str
    annotation: str
    namespace: str | None = None
    poll_seconds: float = 2.0

    def __post_init__(self) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
            self.namespace = self.namespace or _NAMESPACE_FILE.read_text().strip()
        except config.ConfigException:  # a person's machine: their kubeconfig
            config.load_kube_config()
            if not self.namespace:
                _, context = config.list_kube_config_contexts()
                self.namespace = context.get("context", {}).get("namespace", "default")
        self._apps = client.AppsV1Api()
        self._core = client.CoreV1Api()

    def describe(self) -> str:
        return f"deployment {self.namespace}/{self.deployment}"

    def _read(self):
        return self._apps.read_namespaced_deployment(self.deployment, self.namespace)

    def _container(self, dep):
        containers = dep.spec.template.spec.containers
        return next((c for c in containers if c.name == CONTAINER), containers[0])

    def served_version(self) -> str | None:
        env = {e.name: e.value for e in (self._container(self._read()).env or [])}
        return version_of(env.get(MODEL_URI_ENV))

    def roll(self, name: str, version: str | None) -> None:
        container = self._container(self._read()).name
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if version is None:  # stand-by: the env var and the annotation go
            env = [{"name": MODEL_URI_ENV, "$patch": "delete"}]
            annotations = {self.annotation: None, ROLLED_AT: now}
        else:
            env = [{"name": MODEL_URI_ENV, "value": model_uri(name, version)}]
            annotations = {self.annotation: str(version), ROLLED_AT: now}
        patch = {"spec": {"template": {
            "metadata": {"annotations": annotations},
            "spec": {"containers": [{"name": container, "env": env}]},
        }}}
        for attempt in range(3):
            try:
                self._apps.patch_namespaced_deployment(self.deployment, self.namespace, patch)
                break
            except Exception as exc:
                if not _transient(exc) or attempt == 2:
                    raise
                log.warning("%s: patch failed (%s); retrying", self.describe(), exc)
                time.sleep(2 * (attempt + 1))
        log.info("%s: pod template set to %s", self.describe(),
                 model_uri(name, version) if version else "stand-by")

    def _pods(self, dep):
        selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
        return self._core.list_namespaced_pod(self.namespace, label_selector=selector).items

    @staticmethod
    def _version_of_pod(pod) -> str | None:
        container = next((c for c in pod.spec.containers if c.name == CONTAINER),
                         pod.spec.containers[0])
        env = {e.name: e.value for e in (container.env or [])}
        return version_of(env.get(MODEL_URI_ENV))

    def _other_versions(self, dep, version: str | None) -> set[str]:
        try:
            return {str(self._version_of_pod(p)) for p in self._pods(dep)
                    if self._version_of_pod(p) != version and p.status.phase in ("Pending", "Running")}
        except Exception as exc:
            if not _transient(exc):
                raise
            return {"unknown"}

    def _new_pod_problem(self, dep, version: str | None) -> str | None:
        """The first new pod (one on `version`) that is stuck, and why; None if none is."""
        for pod in self._pods(dep):
            if self._version_of_pod(pod) != version:
                continue
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                last = status.last_state.terminated if status.last_state else None
                cause = (last.message or last.reason or f"exit code {last.exit_code}").strip() \
                    if last else ""
                if waiting and waiting.reason in _STUCK:
                    return (f"pod {pod.metadata.name}: {waiting.reason} after {status.restart_count} "
                            f"restart(s)" + (f"; last error: {_tail(cause)}" if cause else ""))
                if status.restart_count >= 2 and cause:
                    return f"pod {pod.metadata.name} restarted {status.restart_count} times; " \
                           f"last error: {_tail(cause)}"
        return None

    def wait(self, version: str | None, timeout: float) -> float:
        started = time.monotonic()
        deadline = started + timeout
        last_report = 0.0
        while True:
            try:
                dep = self._read()
            except Exception as exc:  # the API server restarting, a dropped connection
                if not _transient(exc) or time.monotonic() > deadline:
                    raise
                log.warning("%s: reading the Deployment failed (%s); retrying", self.describe(), exc)
                time.sleep(self.poll_seconds)
                continue
            spec, status = dep.spec, dep.status
            want = spec.replicas if spec.replicas is not None else 1
            updated, available = status.updated_replicas or 0, status.available_replicas or 0
            total = status.replicas or 0
            if (status.observed_generation or 0) >= dep.metadata.generation and \
                    updated >= want and available >= want and total == updated:
                # The Deployment counts a terminating pod as gone while it still drains (and the
                # Service may route a last request to it): done once no other version is left.
                others = self._other_versions(dep, version)
                if not others:
                    took = time.monotonic() - started
                    log.info("%s: %d/%d pods serve %s (%.0fs)", self.describe(), available, want,
                             version or "stand-by", took)
                    return took
            for cond in status.conditions or []:
                if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
                    problem = self._new_pod_problem(dep, version) or cond.message
                    raise RolloutFailed(f"{self.describe()}: no progress within the Deployment's "
                                        f"deadline: {problem}")
            try:
                problem = self._new_pod_problem(dep, version)
            except Exception as exc:
                if not _transient(exc):
                    raise
                problem = None
            if problem:
                raise RolloutFailed(f"{self.describe()}: version {version} does not start: {problem}")
            if time.monotonic() > deadline:
                raise RolloutFailed(f"{self.describe()}: {updated}/{want} pods updated and "
                                    f"{available}/{want} available after {timeout:.0f}s")
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                log.info("%s: rolling out %s: %d/%d updated, %d available, %d total",
                         self.describe(), version or "stand-by", updated, want, available, total)
            time.sleep(self.poll_seconds)


def _transient(exc: Exception) -> bool:
    """An API error worth retrying: a server-side status (5xx, 429) or no answer at all."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        return exc.status in (429, 500, 502, 503, 504)
    return isinstance(exc, (HTTPError, ConnectionError, TimeoutError))


# A traceback's last line: an exception class (dotted path, CamelCase name), a colon, the message.
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z][a-z]\w*: ")
# What the serving wrappers print when the server below them failed: not the cause.
_WRAPPER = ("returned non zero return code", "ended on its own", "Traceback")


def _tail(message: str, limit: int = 400) -> str:
    """The cause in a crash's log tail: the last exception line that is not a wrapper's, else
    the last lines."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    causes = [line for line in lines
              if _EXCEPTION.match(line) and not any(w in line for w in _WRAPPER)]
    text = causes[-1] if causes else " | ".join(lines[-3:])
    return text[-limit:]


# ---------------------------------------------------------------------------------------------
# The local platform (scripts/local/platform.sh)


@dataclass
class LocalTarget:
    """The local platform's model server, restarted by `platform.sh serve` on the version."""

    script: Path
    port: int
    host: str = "127.0.0.1"

    def describe(self) -> str:
        return f"local model server on {self.host}:{self.port}"

    def served_version(self) -> str | None:
        import httpx

        try:
            response = httpx.get(f"http://{self.host}:{self.port}/ping", timeout=3)
        except httpx.HTTPError:
            return None
        version = response.headers.get("X-Model-Version")
        return version if version and version.isdigit() else None

    def roll(self, name: str, version: str | None) -> None:
        env = os.environ | {"MODEL_URI": model_uri(name, version) if version else "",
                            "MODEL_PORT": str(self.port)}
        command = [str(self.script), "serve" if version else "stop-model-server"]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            output = proc.stderr or proc.stdout
            last = (output.strip().splitlines() or ["no output"])[-1]
            cause = _tail(output)
            raise RolloutFailed(f"{self.describe()}: {' '.join(command)} failed: {last}"
                                + (f"; cause: {cause}" if cause not in last else ""))

    def wait(self, version: str | None, timeout: float) -> float:
        import httpx

        started = time.monotonic()
        body = {"inputs": ["warm-up: great product"]}
        while True:
            try:
                response = httpx.post(f"http://{self.host}:{self.port}/invocations", json=body,
                                      timeout=10)
                served = response.headers.get("X-Model-Version")
                if version is None or (response.status_code == 200 and served == str(version)):
                    return time.monotonic() - started
                seen = f"HTTP {response.status_code}, version {served}"
            except httpx.HTTPError as exc:
                if version is None:
                    return time.monotonic() - started
                seen = type(exc).__name__
            if time.monotonic() - started > timeout:
                raise RolloutFailed(f"{self.describe()} does not answer with version {version} "
                                    f"after {timeout:.0f}s (last: {seen})")
            time.sleep(1)
