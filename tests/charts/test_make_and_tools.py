"""The make targets of mk/tools.mk and mk/kind.mk, and the pinned tools in ./bin."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from sentiment_testkit.charts import CHART, PARTS, ROOT, part_values, pin

pytestmark = pytest.mark.charts

MK = [ROOT / "mk" / "tools.mk", ROOT / "mk" / "kind.mk", ROOT / "mk" / "backup.mk"]
TARGET = re.compile(r"^([a-zA-Z0-9_.-]+):(?!=)(.*)$", re.M)


@pytest.mark.parametrize("path", MK, ids=lambda p: p.name)
def test_every_target_is_phony_and_documented(path):
    text = path.read_text()
    assert re.search(r"^##@ ", text, re.M), "no ##@ section header"
    phony = set()
    for line in re.findall(r"^\.PHONY:(.*)$", text, re.M):
        phony.update(line.split())
    targets = [
        (name, rest)
        for name, rest in TARGET.findall(text)
        if not name.startswith(".") and "$(" not in name
    ]
    assert targets
    for name, rest in targets:
        assert name in phony, f"{name} is not .PHONY"
        assert "## " in rest, f"{name} has no ## help text"


def test_versions_are_pinned():
    for name in ("HELM_VERSION", "KIND_VERSION", "KUBECTL_VERSION", "KUBECONFORM_VERSION"):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", pin(name)), name
    assert pin("HELM_VERSION").startswith("v3.")
    assert re.fullmatch(r"\d+\.\d+\.\d+", pin("KUBERNETES_VALIDATE_VERSION"))


def test_installed_tools_match_the_pins(tools):
    helm = subprocess.run(
        [str(tools["helm"]), "version", "--short"], capture_output=True, text=True
    )
    assert helm.stdout.strip().startswith(pin("HELM_VERSION"))
    kc = subprocess.run([str(tools["kubeconform"]), "-v"], capture_output=True, text=True)
    assert kc.stdout.strip() == pin("KUBECONFORM_VERSION")


def test_make_help_lists_the_targets():
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, check=True
    ).stdout
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    for target in ("tools", "kind-up", "kind-down", "train", "predict", "helm-lint", "chart-test"):
        assert re.search(rf"^\s+{target}\s", out, re.M), target



def _module(*args: str) -> subprocess.CompletedProcess:
    """`python -m <args>` with this interpreter (the venv where the test kit is installed)."""
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


def test_helm_lint_gives_each_part_its_section_of_the_kind_values():
    """mk/kind.mk lints each part with `python -m sentiment_testkit.charts part-values <part>`,
    which prints the part's section of the umbrella's values-kind.yaml."""
    recipe = (ROOT / "mk" / "kind.mk").read_text().split("helm-lint:", 1)[1].split("\n.PHONY", 1)[0]
    assert "sentiment_testkit.charts part-values" in recipe and "-f -" in recipe
    assert "pipefail" in recipe  # a failing extraction must fail the lint
    kind_values = str(CHART / "values-kind.yaml")
    for part in PARTS:
        out = _module("sentiment_testkit.charts", "part-values", part, kind_values)
        assert out.returncode == 0, out.stderr
        assert yaml.safe_load(out.stdout) == part_values(part)
    assert _module("sentiment_testkit.charts", "part-values", "nope").returncode != 0


def test_schemas_are_built_by_the_test_kit_module():
    assert "$(PY) -m sentiment_testkit.k8s_schemas " in (ROOT / "mk" / "tools.mk").read_text()
    usage = _module("sentiment_testkit.k8s_schemas")
    assert usage.returncode != 0 and "python -m sentiment_testkit.k8s_schemas" in usage.stderr
