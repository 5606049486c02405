"""Shared constants and helpers of the chart tests (imported by conftest and the tests)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "bin"
CHART = ROOT / "charts" / "sentiment-platform"
PARTS = ["postgresql", "objectstore", "mlflow", "prefect-server", "prefect-worker", "model-server"]
RELEASE = "sentiment"
NAMESPACE = "sentiment"
VALUES = {"default": [], "kind": [CHART / "values-kind.yaml"]}


def pin(name: str) -> str:
    """A pin from mk/tools.mk (versions live in one place)."""
    text = (ROOT / "mk" / "tools.mk").read_text()
    m = re.search(rf"^{name}\s*\?=\s*(\S+)", text, re.M)
    assert m, f"{name} not found in mk/tools.mk"
    return m.group(1)


def render(helm, *extra: str, values: list[Path] | tuple = ()) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for v in values:
        args += ["-f", str(v)]
    return helm(*args, *extra).stdout


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def find(manifests: list[dict], kind: str, name: str) -> dict:
    for m in manifests:
        if m["kind"] == kind and m["metadata"]["name"] == name:
            return m
    raise AssertionError(f"{kind}/{name} not rendered")


def pod_spec(obj: dict) -> dict:
    if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
        return obj["spec"]["template"]["spec"]
    raise AssertionError(f"{obj['kind']} has no pod template")


def workloads(manifests: list[dict]) -> list[dict]:
    return [m for m in manifests if m["kind"] in ("Deployment", "StatefulSet", "Job")]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}
