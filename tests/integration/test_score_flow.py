"""The `score-reviews` flow for real: real MLflow and Prefect servers, a real trained model
registered as production, a few thousand real reviews as CSV and as Parquet, scored in parallel
shard processes. The output keeps every row, in order, with every input column, and its labels
are what one in-process `predict` of the same model gives; a malformed file fails saying why
and writes nothing."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import time
import uuid

import httpx
import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.models import register_trained
from sentiment_testkit.paths import ROOT, VENV_BIN
from sentiment_testkit.servers import (
    flow_env,
    flow_result,
    free_port,
    prefect_auth,
    process,
    run_flow,
    tail,
)

from flipkart_sentiment.adapters import batch_files
from flipkart_sentiment.adapters.data import s3_client

pytestmark = pytest.mark.integration
NAME = "score-tests"
SCORE = "score_flow:score_reviews"
ROWS = 3000
OUTPUT = ["predicted_label", "prob_Negative", "prob_Neutral", "prob_Positive", "model_version",
          "has_content"]


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


MINIO = next((c for c in (os.environ.get("MINIO_BIN"), shutil.which("minio"),
                          str(ROOT / ".cache" / "stand-ins" / "bin" / "minio"))
              if c and os.access(c, os.X_OK)), None)


@pytest.fixture
def s3(tmp_path, monkeypatch):
    """A MinIO server (make stand-in-binaries) with a bucket; the package's S3 settings on it."""
    if MINIO is None:
        pytest.fail("minio is missing: run make stand-in-binaries (or set MINIO_BIN)")
    port = free_port()
    creds = {"MINIO_ROOT_USER": "score-test", "MINIO_ROOT_PASSWORD": "score-test-password"}
    with process([MINIO, "server", str(tmp_path / "s3"), "--address", f"127.0.0.1:{port}",
                  "--console-address", f"127.0.0.1:{free_port()}"], tmp_path / "minio.log",
                 os.environ | creds):
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["MINIO_ROOT_USER"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["MINIO_ROOT_PASSWORD"])
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        client = s3_client()
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket="reviews")
                break
            except Exception:
                assert time.monotonic() < deadline, tail(tmp_path / "minio.log", 30)
                time.sleep(0.5)
        yield client


def test_an_s3_file_is_scored_next_to_itself(s3, reviews, expected, production, mlflow_server,
                                             monkeypatch):
    """In this process (one worker): s3:// in, s3:// out, the same labels as one predict."""
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.workflows.scoring import run_scoring

    s3.put_object(Bucket="reviews", Key="batch/nov.csv", Body=reviews.to_csv(index=False).encode())
    monkeypatch.setenv("SENTIMENT_MODEL_NAME", NAME)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server["url"])
    summary = run_scoring(Settings(), "s3://reviews/batch/nov.csv", output_format="csv",
                          shards=2, workers=1)
    assert summary.output_uri == "s3://reviews/batch/nov.scored.csv" and summary.rows == ROWS
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reviews")["Contents"])
    assert keys == ["batch/nov.csv", "batch/nov.scored.csv"]
    out = pd.read_csv(io.BytesIO(s3.get_object(Bucket="reviews", Key="batch/nov.scored.csv")[
        "Body"].read()), dtype=str, keep_default_na=False)
    assert list(out.columns) == [*reviews.columns, *OUTPUT]
    pd.testing.assert_frame_equal(out[list(reviews.columns)], reviews)
    assert all(got == want for got, want in zip(out["predicted_label"], expected, strict=True)
               if want is not None)


def test_deploy_registers_score_reviews_on_demand(mlflow_server, prefect_server):
    env = flow_env(mlflow_server, prefect_server)
    subprocess.run([str(VENV_BIN / "prefect"), "work-pool", "create", "score-test-pool", "--type",
                    "process"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.run([str(VENV_BIN / "python"), "deploy.py", "local", "--pool",
                           "score-test-pool"], cwd=ROOT / "flows", env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "deployment score-reviews/manual on pool score-test-pool, run on demand" in proc.stdout
    got = httpx.get(f"{prefect_server['api']}/deployments/name/score-reviews/manual",
                    auth=prefect_auth(), timeout=30).json()
    assert got["entrypoint"] == "score_flow.py:score_reviews" and got["schedules"] == []
    assert set(got["parameter_openapi_schema"]["properties"]) >= {"input_uri", "version",
                                                                   "output_format", "shards"}


@pytest.fixture
def shard_worker(mlflow_server, prefect_server, tmp_path):
    """A real process worker on its own pool, with `score-reviews-shard/manual` deployed to it
    from flows/ (only that deployment: the others' schedules must not fire meanwhile). Yields a
    function that starts the worker with the given extra env (the S3 settings of the test)."""
    pool = f"fanout-{uuid.uuid4().hex[:6]}"
    env = flow_env(mlflow_server, prefect_server, PYTHONPATH=str(ROOT / "src"))
    subprocess.run([str(VENV_BIN / "prefect"), "work-pool", "create", pool, "--type", "process"],
                   env=env, check=True, capture_output=True, timeout=120)
    code = ("from score_flow import score_reviews_shard as f;"
            f"f.from_source(source={str(ROOT / 'flows')!r}, "
            "entrypoint='score_flow.py:score_reviews_shard')"
            f".deploy(name='manual', work_pool_name={pool!r}, print_next_steps=False)")
    proc = subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=ROOT / "flows", env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with contextlib.ExitStack() as stack:
        def start(**extra: str) -> dict[str, str]:
            # now, not at setup: the s3 fixture's AWS_* variables are in os.environ by then
            worker_env = flow_env(mlflow_server, prefect_server, PYTHONPATH=str(ROOT / "src"),
                                  **extra)
            stack.enter_context(process([str(VENV_BIN / "prefect"), "worker", "start", "--pool",
                                         pool, "--type", "process"], tmp_path / "worker.log",
                                        worker_env))
            return worker_env

        yield start


@pytest.mark.parametrize("where", ["s3", "local"])
def test_the_fan_out_scores_each_shard_as_its_own_flow_run(
        where, request, shard_worker, reviews, expected, production, mlflow_server,
        prefect_server, tmp_path):
    """executor=deployments for real: the parent flow starts 2 shard runs of
    score-reviews-shard/manual, a real process worker runs them (each its own process and flow
    run, a child of the parent), the parts meet on MinIO (or a shared local folder); the output
    is the one-process result, and the work folder is gone."""
    if where == "s3":
        s3 = request.getfixturevalue("s3")
        s3.put_object(Bucket="reviews", Key="batch/fan.csv", Body=reviews.to_csv(index=False).encode())
        input_uri, work = "s3://reviews/batch/fan.csv", "s3://reviews/batch/_scoring"
    else:
        reviews.to_csv(tmp_path / "fan.csv", index=False)
        input_uri, work = str(tmp_path / "fan.csv"), str(tmp_path / "work")
    settings = {"SENTIMENT_SCORING_WORK_URI": work, "SENTIMENT_SCORING_SHARD_TIMEOUT_SECONDS": "600"}
    shard_worker(**settings)
    env = flow_env(mlflow_server, prefect_server, SENTIMENT_MODEL_NAME=NAME,
                   PYTHONPATH=str(ROOT / "src"), **settings)
    result = flow_result(run_flow(env, timeout=900, flow=SCORE, input_uri=input_uri, shards=2,
                                  executor="deployments"))
    assert result["rows"] == ROWS and result["shards"] == 2 and result["version"] == production
    assert result["output"] == input_uri.replace("fan.csv", "fan.scored.parquet")

    out = batch_files.read_table(result["output"]).to_pandas()
    assert list(out.columns) == [*reviews.columns, *OUTPUT]
    pd.testing.assert_frame_equal(out[list(reviews.columns)], reviews)
    assert all(got == want for got, want in zip(out["predicted_label"], expected, strict=True)
               if want is not None)
    if where == "s3":
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reviews")["Contents"])
        assert keys == ["batch/fan.csv", "batch/fan.scored.parquet"]  # no work folder left
    else:
        assert list((tmp_path / "work").iterdir()) == []

    runs = httpx.post(f"{prefect_server['api']}/flow_runs/filter", auth=prefect_auth(), json={
        "deployments": {"name": {"any_": ["manual"]}},
        "flows": {"name": {"any_": ["score-reviews-shard"]}}}, timeout=30).json()
    ours = [r for r in runs if r["parameters"]["input_path"].startswith(work)]
    assert len(ours) == 2 and all(r["state_type"] == "COMPLETED" for r in ours)
    assert all(r["parent_task_run_id"] for r in ours)  # children of the parent run
    assert {r["parameters"]["model_uri"] for r in ours} == {f"models:/{NAME}/{production}"}
