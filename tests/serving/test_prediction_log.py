"""The prediction log of the real `mlflow models serve` with two uvicorn workers: every review
scored is recorded exactly once, without its text unless asked, and a store that cannot be
written never fails or slows a request."""

from __future__ import annotations

import hashlib
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flipkart_sentiment.adapters.prediction_log import read_predictions


def read_prediction_log(uri: str):
    """Every record of the last day, as the monitoring flow reads them."""
    log = read_predictions(uri, datetime.now(UTC) - timedelta(days=1))
    assert log.malformed == 0
    return log.frame

pytestmark = pytest.mark.serving
URI = "models:/flipkart-sentiment@production"
REVIEWS = [{"title": "Loved it", "text": "Excellent shuttle, very durable and flies straight"},
           "Superb quality, genuine product, fast delivery",
           "Worst product ever, feathers broke in one game. Waste of money"]
TEXTS = [r["text"] if isinstance(r, dict) else r for r in REVIEWS]


def post(url: str) -> httpx.Response:
    return httpx.post(f"{url}/invocations", json={"inputs": REVIEWS}, timeout=60)


def load_both_workers(url: str, until_pids, requests: int = 20) -> int:
    """Requests from several connections until both workers answered some; returns how many."""
    sent = 0
    with ThreadPoolExecutor(4) as pool:
        while sent < 400:
            assert {r.status_code for r in pool.map(lambda _: post(url), range(requests))} == {200}
            sent += requests
            if until_pids():
                break
    return sent


def stop_and_wait(proc, timeout: float = 30) -> None:
    """The normal stop (SIGTERM to the group), then wait for uvicorn's workers too: the mlflow
    CLI exits at once, its workers drain after it."""
    from sentiment_testkit.servers import stop

    stop(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError("the model server's workers did not exit")


def metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and s.labels == labels)


def test_every_prediction_of_both_workers_is_logged_once(mlflow_server, champion, tmp_path):
    from sentiment_testkit.servers import served_model

    log = tmp_path / "prediction-log"
    # Flushes only every 7 records: what is queued at shutdown must be written by the exit.
    env = {"SENTIMENT_PREDICTION_LOG": str(log), "SENTIMENT_SERVE_PREDICTION_LOG_BATCH": "7",
           "SENTIMENT_SERVE_PREDICTION_LOG_FLUSH_SECONDS": "3600", "TMPDIR": str(tmp_path)}
    pids = lambda: {f.name.split("-")[-2] for f in log.rglob("*.jsonl")}  # noqa: E731
    with served_model(URI, mlflow_server["url"], tmp_path / "server.log", workers=2,
                      **env) as (url, proc):
        sent = load_both_workers(url, lambda: len(pids()) == 2)
        written = metric(url, "sentiment_prediction_log_written_total")
        stop_and_wait(proc)
    assert len(pids()) == 2, "both workers wrote"
    frame = read_prediction_log(str(log))
    assert len(frame) == 3 * sent > written
    assert frame["title"].isna().all() and frame["text"].isna().all()
    assert (frame["model_name"] == "flipkart-sentiment").all()
    assert (frame["model_version"] == str(champion["version"])).all()
    hashes = {hashlib.sha256(t.encode()).hexdigest(): len(t) for t in TEXTS}
    assert frame["text_sha256"].value_counts().to_dict() == dict.fromkeys(hashes, sent)
    assert all(hashes[h] == n for h, n in zip(frame["text_sha256"], frame["text_length"], strict=True))
    assert set(frame["label"]) <= {"Negative", "Neutral", "Positive"}
    for label, probabilities in zip(frame["label"], frame["probabilities"], strict=True):
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-5)
        assert max(probabilities, key=probabilities.get) == label
    assert frame["text_length"].dtype.kind == "i"
    assert str(frame["ts"].dt.tz) == "UTC"
    for f in log.rglob("*.jsonl"):  # each file sits under the date of its records
        day = f.parent.name.removeprefix("date=")
        assert f.read_text().count(f'"timestamp": "{day}T') == len(f.read_text().splitlines())
    everything = "".join(f.read_text() for f in log.rglob("*.jsonl"))
    assert not any(t in everything for t in TEXTS) and "Loved it" not in everything


def test_raw_text_is_logged_when_turned_on(mlflow_server, champion, tmp_path):
    from sentiment_testkit.servers import served_model

    log = tmp_path / "prediction-log"
    env = {"SENTIMENT_PREDICTION_LOG": f"file://{log}",
           "SENTIMENT_SERVE_PREDICTION_LOG_RAW_TEXT": "true",
           "SENTIMENT_SERVE_PREDICTION_LOG_FLUSH_SECONDS": "0.2"}
    with served_model(URI, mlflow_server["url"], tmp_path / "server.log", **env) as (url, _):
        assert post(url).status_code == 200
        deadline = time.monotonic() + 20
        while len(read_prediction_log(str(log))) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)  # written by the timer, not at exit
        frame = read_prediction_log(str(log))
    assert list(frame["text"]) == TEXTS
    assert list(frame["title"]) == ["Loved it", "", ""]


@pytest.fixture(params=["unwritable-directory", "unreachable-s3"])
def failing_store(request, tmp_path):
    if request.param == "unwritable-directory":
        (tmp_path / "a-file").write_text("")
        return {"SENTIMENT_PREDICTION_LOG": str(tmp_path / "a-file" / "log")}
    return {"SENTIMENT_PREDICTION_LOG": "s3://nowhere/log",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "MLFLOW_S3_ENDPOINT_URL": "",
            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}


def test_a_store_that_cannot_be_written_never_fails_a_request(mlflow_server, champion, tmp_path,
                                                               failing_store):
    from sentiment_testkit.servers import served_model

    server_log = tmp_path / "server.log"
    env = failing_store | {"SENTIMENT_SERVE_PREDICTION_LOG_FLUSH_SECONDS": "0.3",
                           "TMPDIR": str(tmp_path)}
    counter_files = lambda: list(tmp_path.glob("sentiment-metrics-*/counter_*.db"))  # noqa: E731
    with served_model(URI, mlflow_server["url"], server_log, workers=2, **env) as (url, _):
        slowest = 0.0
        for _ in range(30):
            started = time.perf_counter()
            assert post(url).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
        sent = 30 + load_both_workers(url, lambda: len(counter_files()) == 2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dropped = metric(url, "sentiment_prediction_log_dropped_total", reason="error")
            if dropped == 3 * sent:
                break
            time.sleep(0.5)
        assert dropped == 3 * sent
        assert metric(url, "sentiment_prediction_log_written_total") == 0
    # The writes fail in the writer thread, a request waits for none of them.
    assert slowest < 1.0
    # Logged when it starts failing (once per worker), not per record.
    assert 1 <= server_log.read_text().count("prediction log: cannot write") <= 2
