"""Retraining on evidence: labeled reviews that arrived after a version was trained
(SENTIMENT_LABELED_DATA) join the next training run, and its version goes through the same
champion/challenger gate. A model name of its own, so the session's production is untouched."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.servers import flow_env, flow_result, run_flow

pytestmark = pytest.mark.integration
NAME = "retrain-on-evidence"


def test_labeled_reviews_join_training_and_pass_the_gate(mlflow_server, prefect_server, data_path,
                                                        tmp_path):
    raw = pd.read_csv(data_path, dtype=str, keep_default_na=False)
    arrived = raw.sample(frac=0.3, random_state=3)
    shipped = tmp_path / "shipped.csv"
    raw.drop(arrived.index).to_csv(shipped, index=False)
    env = flow_env(mlflow_server, prefect_server, SENTIMENT_MODEL_NAME=NAME)
    champion = flow_result(run_flow(env, data_path=str(shipped), search="quick"))
    assert champion["promoted"] is True

    labeled = tmp_path / "labeled"
    labeled.mkdir()
    arrived.to_csv(labeled / "2026-05-01.csv", index=False)
    env["SENTIMENT_LABELED_DATA"] = str(labeled)
    challenger = flow_result(run_flow(env, data_path=str(shipped), search="quick"))
    print("gate:", challenger["reason"])

    client = MlflowClient(mlflow_server["url"])
    run = client.get_run(challenger["run_id"])
    used = run.data.metrics
    assert used["data/labeled_rows_used"] == len(arrived[arrived["Review text"].str.strip() != ""])
    assert used["data/rows_used"] > used["data/labeled_rows_used"] > 2000
    assert run.data.params["data_source"] == f"{shipped} + {labeled}"
    version = client.get_model_version(NAME, challenger["version"])
    assert version.tags["data_sha256"] != hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert f"vs production v{champion['version']}" in version.tags["promotion_reason"]
    assert challenger["promoted"] is True, challenger["reason"]
    assert client.get_model_version_by_alias(NAME, "production").version == challenger["version"]
