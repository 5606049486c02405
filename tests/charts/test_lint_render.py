"""helm lint / template / dependency build of the umbrella chart and its parts, and the values
schemas."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from sentiment_testkit.charts import (
    CHART,
    KIND_VALUES,
    NAMESPACE,
    PARTS,
    RELEASE,
    VALUES,
    docs,
    part_values,
    part_values_file,
    render,
)

pytestmark = pytest.mark.charts


@pytest.mark.parametrize("values", sorted(VALUES))
def test_umbrella_lints(helm, values):
    args = ["lint", str(CHART), "--strict", "--namespace", NAMESPACE]
    for f in VALUES[values]:
        args += ["-f", str(f)]
    out = helm(*args, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("values", ["default", "kind"])
@pytest.mark.parametrize("part", PARTS)
def test_part_lints_standalone(helm, part, values, tmp_path):
    """Each part alone, with its defaults and with its section of the umbrella's kind values."""
    path = CHART / "charts" / part
    args = ["lint", str(path), "--strict"]
    if values == "kind":
        args += ["-f", str(part_values_file(part, tmp_path))]
    out = helm(*args, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dependency_build_is_offline(tools, chart_copy, tmp_path):
    """`helm dependency build` needs no repository: the parts are local subcharts."""
    (chart_copy / "Chart.lock").unlink(missing_ok=True)
    home = tmp_path / "helm-home"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
        # any network access would fail
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    out = subprocess.run(
        [str(tools["helm"]), "dependency", "build", str(chart_copy)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lock = yaml.safe_load((chart_copy / "Chart.lock").read_text())
    assert [d["name"] for d in lock["dependencies"]] == PARTS
    assert all(d["repository"] == "" for d in lock["dependencies"])
    # and the committed lock matches Chart.yaml
    committed = yaml.safe_load((CHART / "Chart.lock").read_text())
    assert committed["digest"] == lock["digest"]


def test_every_part_is_a_dependency():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert list(deps) == PARTS
    for name, dep in deps.items():
        # prometheus renders Prometheus with .enabled and the Operator's resources with
        # .operator.*, so the part itself is always included.
        assert dep.get("condition") == (None if name == "prometheus" else f"{name}.enabled")
        assert not dep.get("repository"), "parts are local subcharts"
        sub = yaml.safe_load((CHART / "charts" / name / "Chart.yaml").read_text())
        assert sub["version"] == dep["version"]


@pytest.mark.parametrize("part", PARTS)
def test_part_has_docs_schema_and_notes(part):
    path = CHART / "charts" / part
    for f in ("values.yaml", "values.schema.json", "templates/NOTES.txt"):
        assert (path / f).is_file(), f"{part}: {f} missing"
    values_text = (path / "values.yaml").read_text()
    assert values_text.count("# --") >= 5, f"{part}: values.yaml keys are not documented"


def test_kind_values_have_one_source():
    """The umbrella's values-kind.yaml has every part's kind settings; no part restates them."""
    umbrella = yaml.safe_load(KIND_VALUES.read_text())
    # every part, plus the umbrella's own settings (its network policies)
    assert set(umbrella) == set(PARTS) | {"networkPolicy"}
    assert not sorted(CHART.glob("charts/*/values-kind*.yaml"))
    for part in PARTS:
        assert part_values(part) == umbrella[part]


def test_part_values_are_the_section_plus_the_globals(tmp_path):
    umbrella = tmp_path / "values-x.yaml"
    umbrella.write_text(
        "global:\n  model:\n    name: other\n"
        "mlflow:\n  workers: 3\n"
        "model-server:\n  replicas: 2\n"
    )
    assert part_values("mlflow", umbrella) == {"workers": 3, "global": {"model": {"name": "other"}}}
    assert part_values("postgresql", umbrella) == {"global": {"model": {"name": "other"}}}
    written = part_values_file("model-server", tmp_path, umbrella)
    assert written.name == "model-server-values-x.yaml"
    assert yaml.safe_load(written.read_text())["replicas"] == 2
    with pytest.raises(ValueError):
        part_values("no-such-part", umbrella)


@pytest.mark.parametrize(
    "bad",
    [
        "model-server.replicas=two",
        "mlflow.service.type=Ingress",
        "mlflow.tpyo=1",
        "prefect-worker.workPool.limit=0",
        "postgresql.persistence.size=lots",
        "global.objectstore.bucket=Not_A_Bucket",
        "objectstore.image.pullPolicy=Sometimes",
        "model-server.service.nodePort=80",
        # moved to global.rollout.annotation, which the prefect-worker part reads too
        "model-server.rollout.annotation=flipkart-sentiment/model-version",
        "global.rollout.annotation=not an annotation",
        "tpyo=1",
    ],
)
def test_schema_rejects_bad_values(helm, bad):
    out = helm("template", RELEASE, str(CHART), "--set", bad, check=False)
    assert out.returncode != 0
    assert "schema" in out.stderr, out.stderr


@pytest.mark.parametrize("replicas,pdb", [(1, False), (2, True), (3, True)])
def test_model_server_budget_only_with_two_or_more_replicas(helm, replicas, pdb):
    """A PodDisruptionBudget with one replica would block every node drain."""
    out = docs(render(helm, "--set", f"model-server.replicas={replicas}"))
    budgets = [d for d in out if d["kind"] == "PodDisruptionBudget"]
    assert bool(budgets) is pdb
    if pdb:
        assert budgets[0]["spec"]["maxUnavailable"] == 1
        assert budgets[0]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "model-server"


def test_model_server_autoscaling_leaves_replicas_to_the_autoscaler(helm):
    out = docs(render(helm, "--set", "model-server.autoscaling.enabled=true"))
    deployment = next(d for d in out if d["kind"] == "Deployment"
                      and d["metadata"]["name"].endswith("model-server"))
    assert "replicas" not in deployment["spec"], "helm upgrade would reset the autoscaler"
    (hpa,) = [d for d in out if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    # the HPA's percentages are of the request: there must be one
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"]
    assert any(d["kind"] == "PodDisruptionBudget" for d in out)  # minReplicas 2


def test_parts_can_be_disabled(helm):
    out = render(helm, "--set", "model-server.enabled=false", "--set", "objectstore.enabled=false")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs(out)}
    assert ("Deployment", "sentiment-model-server") not in names
    assert ("Deployment", "sentiment-objectstore") not in names
    assert ("Deployment", "sentiment-mlflow") in names


def _notes(helm, chart_dir: Path, *args: str) -> str:
    """Render a chart's NOTES.txt offline (`helm install --dry-run` needs a cluster): a copy of
    the chart gets a ConfigMap template that includes NOTES.txt."""
    name = yaml.safe_load((chart_dir / "Chart.yaml").read_text())["name"]
    probe = chart_dir / "templates" / "zz-notes-probe.yaml"
    probe.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-probe\ndata:\n"
        f'  notes: {{{{ include "{name}/templates/NOTES.txt" . | quote }}}}\n'
    )
    try:
        out = helm(
            "template",
            RELEASE,
            str(chart_dir),
            "-n",
            NAMESPACE,
            *args,
            "--show-only",
            "templates/zz-notes-probe.yaml",
        ).stdout
    finally:
        probe.unlink()
    return yaml.safe_load(out)["data"]["notes"]


def test_umbrella_notes_say_how_to_reach_the_uis_and_curl_the_model(helm, chart_copy):
    default = _notes(helm, chart_copy)
    kind = _notes(helm, chart_copy, "-f", str(CHART / "values-kind.yaml"))
    for notes in (default, kind):
        assert "http://localhost:5000" in notes  # MLflow UI
        assert "http://localhost:4200" in notes  # Prefect UI
        assert "curl" in notes and "http://localhost:5001/invocations" in notes
        assert "X-Model-Version" in notes and "/invocations answers 503" in notes
    assert "port-forward svc/sentiment-mlflow 5000" in default
    assert "port-forward svc/sentiment-model-server 5001" in default
    assert "nodePort 30500" in kind and "nodePort 30501" in kind and "nodePort 30420" in kind


@pytest.mark.parametrize("part", PARTS)
def test_part_notes_render(helm, chart_copy, part):
    notes = _notes(helm, chart_copy / "charts" / part)
    assert "sentiment-platform" in notes or "http://localhost" in notes
    if part == "model-server":
        assert "curl" in notes and "/invocations" in notes
    if part in ("mlflow", "prefect-server"):
        assert "UI" in notes and "http://localhost" in notes
