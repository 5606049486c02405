"""Shared constants and helpers of the chart tests (tests/charts) and mk/kind.mk.

`python -m sentiment_testkit.charts part-values <part> [<umbrella values>]` prints one part's
section of the umbrella's values-kind.yaml (the only kind values file) for `helm -f -`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from .paths import BIN as BIN  # re-exported for the tests
from .paths import ROOT

CHART = ROOT / "charts" / "sentiment-platform"
PARTS = [
    "postgresql", "objectstore", "mlflow", "prefect-server", "prefect-worker", "model-server",
    "prometheus",
]
RELEASE = "sentiment"
NAMESPACE = "sentiment"
KIND_VALUES = CHART / "values-kind.yaml"
VALUES = {"default": [], "kind": [KIND_VALUES]}


def pin(name: str) -> str:
    """A pin from mk/tools.mk (versions live in one place)."""
    text = (ROOT / "mk" / "tools.mk").read_text()
    m = re.search(rf"^{name}\s*\?=\s*(\S+)", text, re.M)
    assert m, f"{name} not found in mk/tools.mk"
    return m.group(1)


def part_values(part: str, umbrella_values: Path = KIND_VALUES) -> dict:
    """A part's own values: its section of an umbrella values file, plus the `global:` block."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; parts: {' '.join(PARTS)}")
    values = yaml.safe_load(Path(umbrella_values).read_text()) or {}
    own = dict(values.get(part) or {})
    if values.get("global"):
        own["global"] = values["global"]
    return own


def part_values_file(part: str, dest: Path, umbrella_values: Path = KIND_VALUES) -> Path:
    path = Path(dest) / f"{part}-{Path(umbrella_values).name}"
    path.write_text(yaml.safe_dump(part_values(part, umbrella_values), sort_keys=False))
    return path


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


# The Job a Prefect worker builds for a flow run of deployment `daily` of flow `train-sentiment`,
# by prefect-kubernetes itself, offline (the API URL is never called), in a child process so the
# test session's Prefect settings stay untouched.
_WORKER_RENDER = """
import asyncio, json, sys, uuid
from prefect.client.schemas.objects import Flow, FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

async def render(template):
    cfg = await KubernetesWorkerJobConfiguration.from_template_and_values(
        template, {"env": {"SENTIMENT_SEARCH": "quick"}}
    )
    flow = Flow(id=uuid.uuid4(), name="train-sentiment")
    deployment = DeploymentResponse(id=uuid.uuid4(), name="daily", flow_id=flow.id)
    run = FlowRun(id=uuid.uuid4(), name="silly-fox", flow_id=flow.id, deployment_id=deployment.id)
    cfg.prepare_for_flow_run(run, deployment=deployment, flow=flow, worker_name="worker-0")
    return cfg.job_manifest

async def main():
    templates = json.load(sys.stdin)
    json.dump({k: await render(t) for k, t in templates.items()}, sys.stdout)

asyncio.run(main())
"""


def base_job_template(manifests: list[dict]) -> dict:
    cm = next(d for d in manifests
              if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("base-job-template"))
    return json.loads(cm["data"]["base-job-template.json"])


def flow_run_jobs(templates: dict[str, dict], prefect_home: Path) -> dict[str, dict]:
    """{key: base job template} -> {key: the flow-run Job the Prefect worker creates from it}."""
    env = {**os.environ, "PREFECT_API_URL": "http://sentiment-prefect-server:4200/api",
           "PREFECT_HOME": str(prefect_home)}
    out = subprocess.run([sys.executable, "-c", _WORKER_RENDER], input=json.dumps(templates),
                         capture_output=True, text=True, env=env, check=False, timeout=300)
    if out.returncode != 0:
        raise AssertionError("the worker rejects the base job template:\n" + out.stderr[-3000:])
    return json.loads(out.stdout)


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3) or argv[0] != "part-values":
        raise SystemExit(__doc__)
    sys.stdout.write(yaml.safe_dump(part_values(*argv[1:]), sort_keys=False))


if __name__ == "__main__":
    main(sys.argv[1:])
