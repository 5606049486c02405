"""The real flow against real MLflow and Prefect servers: registry, tags, aliases, the gate."""

from __future__ import annotations

import re

import httpx
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.servers import flow_env, flow_result, prefect_auth, run_flow

pytestmark = pytest.mark.integration
NAME = "flipkart-sentiment"


@pytest.fixture(scope="module")
def client(mlflow_server):
    return MlflowClient(tracking_uri=mlflow_server["url"], registry_uri=mlflow_server["url"])


def test_flow_registers_tags_and_sets_both_aliases(champion, client, data_path):
    import hashlib

    version = client.get_model_version(NAME, champion["version"])
    assert champion["promoted"] is True
    assert client.get_model_version_by_alias(NAME, "staging").version == version.version
    assert client.get_model_version_by_alias(NAME, "production").version == version.version
    tags = version.tags
    assert tags["algorithm"] == "tfidf+logistic_regression"
    assert "porter-stem" in tags["preprocessing"]
    assert tags["data_sha256"] == hashlib.sha256(data_path.read_bytes()).hexdigest()
    assert len(tags["git_commit"]) in (40, len("unknown"))
    assert tags["promotion"] == "promoted"


def test_every_search_run_is_a_nested_run_with_params_metrics_plots_and_model(champion, client):
    parent = client.get_run(champion["run_id"])
    assert parent.data.params["search_profile"] == "quick"
    assert parent.data.metrics["test/f1_weighted"] == pytest.approx(champion["test_f1_weighted"], abs=1e-4)
    assert "baseline/f1_weighted" in parent.data.metrics
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    roles = sorted(c.data.tags.get("role") for c in children)
    assert roles.count("candidate") >= 1 and roles.count("final") == 1
    for child in children:
        if child.data.tags.get("role") == "candidate":
            assert {"C", "class_weight", "ngram_max", "min_df", "fields", "stemmer"} <= set(
                child.data.params)
            assert "cv/f1_macro" in child.data.metrics and "cv/f1_negative" in child.data.metrics
            assert "timing/fit_seconds" in child.data.metrics
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "search_comparison.png" in artifacts
    final = next(c for c in children if c.data.tags.get("role") == "final")
    assert final.info.run_id == client.get_model_version(NAME, champion["version"]).run_id
    assert {"confusion_matrix.png", "confusion_matrix_test.png"} <= {
        a.path for a in client.list_artifacts(final.info.run_id)}
    assert "test/f1_weighted" in final.data.metrics


def test_logged_model_has_signature_and_input_example(champion, mlflow_server):
    import mlflow

    mlflow.set_tracking_uri(mlflow_server["url"])
    info = mlflow.models.get_model_info(f"models:/{NAME}/{champion['version']}")
    assert info.signature is not None
    assert info.saved_input_example_info is not None


def test_flow_run_is_recorded_by_prefect_with_a_summary_artifact(champion, prefect_server):
    api = prefect_server["api"]
    runs = httpx.post(f"{api}/flow_runs/filter", auth=prefect_auth(), json={
        "flows": {"name": {"any_": ["train-sentiment"]}}}, timeout=30).json()
    assert any(r["state_type"] == "COMPLETED" for r in runs)
    artifacts = httpx.post(f"{api}/artifacts/filter", auth=prefect_auth(), json={
        "artifacts": {"key": {"any_": ["training-summary"]}}}, timeout=30).json()
    assert artifacts and "Held-out test set" in artifacts[0]["data"]


def test_worse_challenger_does_not_take_production(champion, client, mlflow_server,
                                                   prefect_server, data_path):
    proc = run_flow(flow_env(mlflow_server, prefect_server), data_path=str(data_path),
                    search="seed")
    result = flow_result(proc)
    assert result["promoted"] is False
    assert "kept production" in result["reason"]
    challenger = client.get_model_version(NAME, result["version"])
    assert challenger.tags["promotion"] == "rejected"
    assert "vs production v" in challenger.tags["promotion_reason"]
    assert client.get_model_version_by_alias(NAME, "production").version == champion["version"]
    assert client.get_model_version_by_alias(NAME, "staging").version == result["version"]
    assert result["test_f1_weighted"] < champion["test_f1_weighted"]


def test_bad_data_fails_validation_and_registers_nothing(client, mlflow_server, prefect_server,
                                                         tmp_path, champion):
    before = {v.version for v in client.search_model_versions(f"name='{NAME}'")}
    bad = tmp_path / "bad.csv"
    bad.write_text("Review text,Ratings\ngood,5\nstrange,7\n")
    proc = run_flow(flow_env(mlflow_server, prefect_server), data_path=str(bad), search="quick")
    assert proc.returncode != 0
    assert "rating(s) outside [1, 2, 3, 4, 5], e.g. 7" in proc.stderr + proc.stdout
    after = {v.version for v in client.search_model_versions(f"name='{NAME}'")}
    assert after == before
    assert client.get_model_version_by_alias(NAME, "production").version == champion["version"]


def test_an_operator_finds_the_story_in_mlflow_and_prefect(champion, client, prefect_server):
    """docs/dashboards.md: what the UIs show after one flow run."""
    parent = client.get_run(champion["run_id"])
    experiment = client.get_experiment(parent.info.experiment_id)
    # A machine-learning experiment to MLflow 3 (its UI view is a link parameter: docs/dashboards.md).
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
    assert "`cv/`" in experiment.tags.get("mlflow.note.content", "")
    name = parent.info.run_name
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d · data [0-9a-f]{8} · quick", name), name
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    for run in (parent, *children):
        assert run.data.tags["mlflow.source.name"] == "flows/train_flow.py", run.data.tags
        # model metrics and run statistics apart: every name has its group's prefix
        groups = {key.split("/")[0] for key in run.data.metrics}
        assert "/" in "".join(run.data.metrics) and all("/" in k for k in run.data.metrics), (
            sorted(run.data.metrics))
        assert groups <= {"cv", "test", "baseline", "data", "text", "timing"}, groups
    assert {"data", "text", "test", "baseline"} <= {k.split("/")[0] for k in parent.data.metrics}

    model = client.get_registered_model(NAME)
    assert "**Intended use**" in model.description and "**Limits**" in model.description
    version = client.get_model_version(NAME, champion["version"])
    assert "Held-out test split" in version.description and name in version.description

    api, auth = prefect_server["api"], prefect_auth()
    [flow_run] = [r for r in httpx.post(f"{api}/flow_runs/filter", auth=auth, json={
        "flow_runs": {"name": {"any_": [name]}}}, timeout=30).json()]
    logs = httpx.post(f"{api}/logs/filter", auth=auth, json={
        "logs": {"flow_run_id": {"any_": [flow_run["id"]]}}, "limit": 200}, timeout=30).json()
    said = "\n".join(entry["message"] for entry in logs)
    for line in ("rows in,", "training rows,", "candidate ", "winner of ",
                 f"registered {NAME} version {champion['version']}", "gate: promoted",
                 f"MLflow run '{name}'"):
        assert line in said, f"no {line!r} in the flow run's logs:\n{said}"
    task_logs = [entry for entry in logs if entry.get("task_run_id")]
    assert any("winner of " in entry["message"] for entry in task_logs), "not under the task"

    [artifact] = httpx.post(f"{api}/artifacts/filter", auth=auth, json={
        "artifacts": {"key": {"any_": ["training-summary"]},
                      "flow_run_id": {"any_": [flow_run["id"]]}}}, timeout=30).json()
    assert f"/#/runs/{champion['run_id']})" in artifact["data"]
    assert f"/#/models/{NAME}/versions/{champion['version']})" in artifact["data"]
    assert "| label | reviews | share |" in artifact["data"]

