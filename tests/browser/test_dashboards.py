"""What an operator sees, in a real browser: the MLflow and Prefect UIs after one real training
flow run (the session's `champion`), read from the pages the way a user reads them."""

from __future__ import annotations

import re

import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit import browser as ui

pytestmark = [pytest.mark.integration, pytest.mark.browser]
NAME = "flipkart-sentiment"  # the experiment and the registered model
METRICS = ("test/f1_weighted", "cv/f1_weighted")


@pytest.fixture(scope="module")
def client(mlflow_server):
    return MlflowClient(tracking_uri=mlflow_server["url"], registry_uri=mlflow_server["url"])


@pytest.fixture(scope="module")
def training_runs(champion, client):
    """The champion's training run and its nested candidate runs, by name."""
    parent = client.get_run(champion["run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{champion['run_id']}'")
    assert children, "the training run has no nested runs in MLflow"
    return parent.info.run_name, sorted(r.info.run_name for r in children)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def test_runs_table_nests_the_candidates_under_the_training_run(mlflow_page, mlflow_server,
                                                                 training_runs):
    parent, children = training_runs
    ui.open_runs_table(mlflow_page, mlflow_server["url"], NAME)
    shown = [row.get("Run Name") for row in ui.runs_table(mlflow_page)]
    assert parent in shown
    assert not set(children) & set(shown), f"candidate runs {children} are not nested: {shown}"

    ui.expand_run(mlflow_page, parent)
    shown = [row.get("Run Name") for row in ui.runs_table(mlflow_page)]
    assert set(children) <= set(shown), f"expanding {parent} shows {shown}, not {children}"
    assert shown.index(parent) < min(shown.index(c) for c in children)


def test_runs_table_shows_test_and_cv_metric_columns_with_values(mlflow_page, mlflow_server,
                                                                 champion, training_runs):
    parent, children = training_runs
    ui.open_runs_table(mlflow_page, mlflow_server["url"], NAME)
    chosen = ui.show_columns(mlflow_page, METRICS)
    assert chosen == list(METRICS), (
        f"the Columns menu offers only {chosen} of {list(METRICS)}: the runs do not log them")
    ui.expand_run(mlflow_page, parent)
    rows = {row.get("Run Name"): row for row in ui.runs_table(mlflow_page)}

    test_f1 = _number(rows[parent].get("test/f1_weighted"))
    assert test_f1 == pytest.approx(champion["test_f1_weighted"], abs=1e-3), rows[parent]
    for child in children:
        cv_f1 = _number(rows[child].get("cv/f1_weighted"))
        assert cv_f1 is not None and 0 < cv_f1 <= 1, f"candidate {child}: {rows[child]}"


def test_model_page_shows_production_alias_on_the_production_version(mlflow_page, mlflow_server,
                                                                      champion, client):
    production = client.get_model_version_by_alias(NAME, "production").version
    ui.open_registered_model(mlflow_page, mlflow_server["url"], NAME)
    assert "production" in ui.version_aliases(mlflow_page, production)
    others = [v.version for v in client.search_model_versions(f"name = '{NAME}'")
              if v.version != production]
    for version in others:
        assert "production" not in ui.version_aliases(mlflow_page, version)


def test_training_summary_artifact_shows_its_tables(prefect_page, prefect_server, champion):
    ui_url = prefect_server["api"].removesuffix("/api")
    ui.open_artifact(prefect_page, ui_url, "training-summary")
    headers = ui.table_headers(prefect_page)
    assert {"candidate", "cv f1_weighted"} <= set(headers), headers
    candidates = prefect_page.get_by_role("row").filter(
        has=prefect_page.get_by_role("cell", name=re.compile(r"^0\.\d{4}$")))
    assert candidates.count() >= 2, "the artifact's tables have no rows of scores"
