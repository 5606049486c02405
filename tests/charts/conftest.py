"""Fixtures for the chart tests: pinned tools from ./bin, rendered manifests, kubeconform.

Everything runs offline: helm renders the local subcharts, kubeconform validates against the
schemas `make tool-schemas` unpacked into .cache (no cluster, no schema download).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sentiment_testkit.charts import BIN, CHART, ROOT, VALUES, docs, pin, render


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.charts)


@pytest.fixture(scope="session")
def k8s_version() -> str:
    return pin("K8S_SCHEMA_VERSION")


@pytest.fixture(scope="session")
def tools(k8s_version: str) -> dict[str, Path]:
    """helm, kubeconform and the offline schemas; installed with make if missing."""
    schema_dir = ROOT / ".cache" / "kubernetes-json-schema" / f"v{k8s_version}-local-strict"
    need = {"helm": BIN / "helm", "kubeconform": BIN / "kubeconform"}
    missing = [name for name, path in need.items() if not path.exists()]
    if missing or not (schema_dir / "deployment-apps-v1.json").exists():
        subprocess.run(
            ["make", "-C", str(ROOT), "tool-helm", "tool-kubeconform", "tool-schemas"], check=True
        )
    return {**need, "schemas": schema_dir.parent}


@pytest.fixture(scope="session")
def helm(tools) -> Callable[..., subprocess.CompletedProcess]:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(tools["helm"]), *args], capture_output=True, text=True, check=check, cwd=ROOT
        )

    return run


@pytest.fixture(scope="session")
def rendered_text(helm) -> dict[str, str]:
    return {name: render(helm, values=files) for name, files in VALUES.items()}


@pytest.fixture(scope="session", params=sorted(VALUES))
def manifests(request, rendered_text) -> list[dict]:
    """The rendered umbrella chart (hooks included), once with default and once with kind values."""
    return docs(rendered_text[request.param])


@pytest.fixture(scope="session")
def kubeconform(tools, k8s_version) -> Callable[[str], dict]:
    location = (
        f"{tools['schemas']}/{{{{ .NormalizedKubernetesVersion }}}}-local-strict/"
        "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )

    def run(text: str) -> dict:
        out = subprocess.run(
            [
                str(tools["kubeconform"]),
                "-strict",
                "-summary",
                "-output",
                "json",
                "-kubernetes-version",
                k8s_version,
                "-schema-location",
                location,
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            report = json.loads(out.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"kubeconform output is not JSON:\n{out.stdout}\n{out.stderr}")
        report["returncode"] = out.returncode
        return report

    return run


@pytest.fixture(scope="session")
def chart_copy(tmp_path_factory) -> Path:
    """A copy of the umbrella chart, for tests that write (helm dependency build)."""
    dest = tmp_path_factory.mktemp("chart") / "sentiment-platform"
    shutil.copytree(CHART, dest, symlinks=False)
    return dest
