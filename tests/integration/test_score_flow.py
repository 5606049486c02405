"""The `score-reviews` flow for real: real MLflow and Prefect servers, a real trained model
registered as production, a few thousand real reviews as CSV and as Parquet, scored in parallel
shard processes. The output keeps every row, in order, with every input column, and its labels
are what one in-process `predict` of the same model gives; a malformed file fails saying why
and writes nothing."""

from __future__ import annotations

import httpx
import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.models import register_trained
from sentiment_testkit.servers import flow_env, flow_result, prefect_auth, run_flow

from flipkart_sentiment.adapters import batch_files

pytestmark = pytest.mark.integration
NAME = "score-tests"
SCORE = "score_flow:score_reviews"
ROWS = 3000
OUTPUT = ["predicted_label", "prob_Negative", "prob_Neutral", "prob_Positive", "model_version"]


@pytest.fixture(scope="module")
def production(mlflow_server):
    mlflow.set_tracking_uri(mlflow_server["url"])
    version = register_trained(NAME, rows=1500, seed=3)
    MlflowClient(mlflow_server["url"]).set_registered_model_alias(NAME, "production", version)
    return version


@pytest.fixture(scope="module")
def reviews(data_path) -> pd.DataFrame:
    return pd.read_csv(data_path, dtype=str, keep_default_na=False).head(ROWS)


@pytest.fixture(scope="module")
def expected(production, reviews, mlflow_server) -> list[str | None]:
    """One in-process predict of the same version: the single-process reference."""
    model = mlflow.pyfunc.load_model(f"models:/{NAME}/{production}")
    has_text = reviews["Review text"].str.strip() != ""
    rows = [{"title": t, "text": x} for t, x in
            zip(reviews["Review Title"][has_text], reviews["Review text"][has_text], strict=True)]
    labels = iter(p["label"] for p in model.predict(rows))
    return [next(labels) if ok else None for ok in has_text]


def score(mlflow_server, prefect_server, **params) -> dict:
    env = flow_env(mlflow_server, prefect_server, SENTIMENT_MODEL_NAME=NAME)
    return flow_result(run_flow(env, timeout=600, flow=SCORE, **params))


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_the_flow_scores_every_row_in_order_like_one_process(
        source, reviews, expected, production, mlflow_server, prefect_server, tmp_path):
    path = tmp_path / f"reviews.{source}"
    if source == "csv":
        reviews.to_csv(path, index=False)
    else:  # small row groups, so the three shards cut between them
        pq.write_table(pa.Table.from_pandas(reviews, preserve_index=False), path, row_group_size=500)
    result = score(mlflow_server, prefect_server, input_uri=str(path), shards=3, workers=2)
    assert result["rows"] == ROWS and result["version"] == production and result["shards"] == 3
    assert result["output"] == str(tmp_path / "reviews.scored.parquet")

    out = batch_files.read_table(result["output"]).to_pandas()
    assert list(out.columns) == [*reviews.columns, *OUTPUT]
    pd.testing.assert_frame_equal(out[list(reviews.columns)], reviews)  # every row, in order
    assert set(out["model_version"]) == {production}
    scored = [(got, want) for got, want in zip(out["predicted_label"], expected, strict=True)
              if want is not None]
    assert all(got == want for got, want in scored), sum(g != w for g, w in scored)
    assert ((out[OUTPUT[1:4]].sum(axis=1) - 1).abs() < 1e-6).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "reviews.scored.parquet"])

    artifacts = httpx.post(f"{prefect_server['api']}/artifacts/filter", auth=prefect_auth(), json={
        "artifacts": {"key": {"any_": ["scoring-summary"]}}}, timeout=30).json()
    assert any(f"| {ROWS:,} " in a["data"] or f"rows: {ROWS:,}" in a["data"] for a in artifacts)
    assert any("most negative" in a["data"] and "By Review Title" in a["data"] for a in artifacts)


def test_a_malformed_file_fails_saying_why_and_writes_nothing(production, mlflow_server,
                                                             prefect_server, tmp_path):
    path = tmp_path / "no_text.csv"
    path.write_text("Review Title,Ratings\nNice,5\nBad,1\n", encoding="utf-8")
    env = flow_env(mlflow_server, prefect_server, SENTIMENT_MODEL_NAME=NAME)
    proc = run_flow(env, timeout=600, flow=SCORE, input_uri=str(path))
    assert "RESULT " not in proc.stdout
    assert "no review text column" in proc.stderr + proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["no_text.csv"]
