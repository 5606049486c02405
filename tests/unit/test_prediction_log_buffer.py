"""The prediction log without a server: records, files, the bound, failures and the reader."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from flipkart_sentiment.adapters.prediction_log import read_predictions
from flipkart_sentiment.config import ServingSettings, prediction_log_location
from flipkart_sentiment.serving import prediction_log as plog

SINCE = datetime.now(UTC) - timedelta(days=1)

CLASSES = ["Negative", "Neutral", "Positive"]


def prediction(label="Positive"):
    probabilities = dict.fromkeys(CLASSES, 0.1) | {label: 0.8}
    return {"label": label, "probability": 0.8, "probabilities": probabilities}


def files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def lines(root):
    return [json.loads(line) for f in files(root) for line in f.read_text().splitlines()]


class Counts:
    def __init__(self):
        self.written, self.dropped = 0, {}

    def on_written(self, n):
        self.written += n

    def on_dropped(self, reason, n):
        self.dropped[reason] = self.dropped.get(reason, 0) + n


def test_records_carry_a_hash_not_the_text_and_land_under_their_date(tmp_path):
    log = plog.PredictionLog(plog.LocalDirectory(tmp_path), model_name="m", version="7",
                             batch=3, flush_seconds=30)
    texts = ["bon produit", "héllo wörld 🏸", "bad"]
    log.add(["t1", "", "t3"], texts, [prediction(), prediction("Negative"), prediction()])
    log.close()
    out = lines(tmp_path)
    assert [r["text_sha256"] for r in out] == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    assert [r["text_length"] for r in out] == [len(t) for t in texts]
    assert [r["label"] for r in out] == ["Positive", "Negative", "Positive"]
    assert all(set(r) == set(plog.FIELDS) for r in out)
    assert all(r["model_version"] == "7" and r["model_name"] == "m" for r in out)
    (day,) = {f.parent.name for f in files(tmp_path)}
    assert day == f"date={out[0]['timestamp'][:10]}"
    assert "bon produit" not in "".join(f.read_text() for f in files(tmp_path))


def test_raw_text_only_when_turned_on(tmp_path):
    log = plog.PredictionLog(plog.LocalDirectory(tmp_path), raw_text=True)
    log.add(["title"], ["the text"], [prediction()])
    log.close()
    (record,) = lines(tmp_path)
    assert record["text"] == "the text" and record["title"] == "title"


def test_written_once_a_batch_is_queued_or_after_flush_seconds(tmp_path):
    counts = Counts()
    log = plog.PredictionLog(plog.LocalDirectory(tmp_path), batch=4, flush_seconds=2.0,
                             on_written=counts.on_written)

    def written_within(n, seconds):
        deadline = time.monotonic() + seconds
        while counts.written < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return counts.written

    for _ in range(3):
        log.add([""], ["x"], [prediction()])
    assert written_within(3, 0.5) == 0  # below the batch and before the flush
    log.add([""], ["x"], [prediction()])  # the batch is full: written now, not in 2 s
    assert written_within(4, 1.0) == 4 and len(files(tmp_path)) == 1
    log.add([""], ["y"], [prediction()])  # below the batch: written by the timer
    assert written_within(5, 0.5) == 4
    assert written_within(5, 4.0) == 5 and len(files(tmp_path)) == 2
    log.close()
    assert all(f.name.endswith(".jsonl") and not f.name.startswith(".") for f in files(tmp_path))


class Stuck:
    def __init__(self):
        self.release = threading.Event()

    def put(self, key, data):
        self.release.wait(10)


def test_a_stuck_store_never_blocks_add_and_the_overflow_is_counted(tmp_path):
    counts, store = Counts(), Stuck()
    log = plog.PredictionLog(store, batch=1, flush_seconds=0.05, capacity=10,
                             on_dropped=counts.on_dropped)
    log.add([""], ["first"], [prediction()])  # taken by the writer, which then hangs
    time.sleep(0.2)
    started = time.perf_counter()
    for _ in range(100):
        log.add(["", ""], ["a", "b"], [prediction(), prediction()])
    assert time.perf_counter() - started < 0.05
    assert counts.dropped == {"full": 200 - 10}
    store.release.set()
    log.close()


class Broken:
    def put(self, key, data):
        raise ConnectionError("store is down")


def test_failed_writes_drop_count_and_log_once(caplog):
    counts = Counts()
    log = plog.PredictionLog(Broken(), batch=2, on_dropped=counts.on_dropped,
                             on_written=counts.on_written)
    with caplog.at_level("ERROR", logger=plog.__name__):
        for _ in range(10):
            log.add([""], ["x"], [prediction()])
        log.close()
    assert counts.dropped == {"error": 10} and counts.written == 0
    assert len([r for r in caplog.records if "cannot write" in r.message]) == 1


def test_close_writes_what_is_queued(tmp_path):
    log = plog.PredictionLog(plog.LocalDirectory(tmp_path), batch=1000, flush_seconds=3600)
    for _ in range(5):
        log.add([""], ["x"], [prediction()])
    log.close()
    assert len(lines(tmp_path)) == 5
    log.add([""], ["late"], [prediction()])  # after close: dropped, not queued forever
    assert len(lines(tmp_path)) == 5


def test_the_arrow_destination_writes_the_same_layout(tmp_path):
    """The s3:// code path (pyarrow filesystem), on pyarrow's local filesystem: no MinIO here."""
    from pyarrow import fs

    log = plog.PredictionLog(plog.ArrowFileSystem(fs.LocalFileSystem(), str(tmp_path)), batch=2)
    log.add(["", ""], ["a", "b"], [prediction(), prediction()])
    log.close()
    frame = read_predictions(str(tmp_path), SINCE).frame
    assert len(frame) == 2 and frame["text_sha256"][0] == hashlib.sha256(b"a").hexdigest()


def test_an_unreachable_s3_store_drops_and_counts(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    counts = Counts()
    log = plog.PredictionLog(plog.destination("s3://bucket/log"), batch=1,
                             on_dropped=counts.on_dropped)
    started = time.perf_counter()
    log.add([""], ["x"], [prediction()])
    assert time.perf_counter() - started < 0.05
    log.close(timeout=60)
    assert counts.dropped == {"error": 1}


@pytest.mark.parametrize("uri, expected", [
    ("s3://bucket/a/b/", ("s3", "bucket/a/b")),
    ("s3://bucket", ("s3", "bucket")),
    ("file:///var/log/p", ("local", "/var/log/p")),
    ("/var/log/p", ("local", "/var/log/p")),
])
def test_uris(uri, expected):
    assert prediction_log_location(uri) == expected


@pytest.mark.parametrize("env, message", [
    ({"SENTIMENT_PREDICTION_LOG": "gs://b/p"}, "use a local path, file:///path or s3://"),
    ({"SENTIMENT_PREDICTION_LOG": "s3:///p"}, "needs a bucket"),
    ({"SENTIMENT_SERVE_PREDICTION_LOG_BATCH": "0"}, "prediction_log_batch"),
    ({"SENTIMENT_SERVE_PREDICTION_LOG_FLUSH_SECONDS": "-1"}, "prediction_log_flush_seconds"),
    ({"SENTIMENT_SERVE_PREDICTION_LOG_QUEUE": "lots"}, "prediction_log_queue"),
    ({"SENTIMENT_SERVE_PREDICTION_LOG_RAW_TEXT": "maybe"}, "prediction_log_raw_text"),
])
def test_bad_settings_say_which_and_why(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        ServingSettings()


def test_settings_default_to_off():
    assert ServingSettings().prediction_log == ""


def test_lines_are_the_json_of_the_records():
    tricky = ['quote " backslash \\ newline \n tab \t', "ünïcødé 🏸 \u2028", "\x00\x1f"]
    probabilities = [{"Neg\"ative": 0.25, "Posi\\tive": 0.75}, {"a": 1e-07, "b": 0.9999999},
                     {"a": float("nan"), "b": 1.0}]  # not finite: the json.dumps fallback
    predictions = [{"label": max(p, key=p.get), "probabilities": p} for p in probabilities]
    day, out = plog._lines(0.0, 'name "q"', "1\n", tricky, tricky, predictions, raw_text=True)
    assert day == "1970-01-01"
    for line, text, p in zip(out, tricky, predictions, strict=True):
        record = json.loads(line)
        assert record.pop("probabilities").keys() == p["probabilities"].keys()
        assert record == {"timestamp": "1970-01-01T00:00:00.000+00:00", "model_name": 'name "q"',
                          "model_version": "1\n", "label": p["label"], "text_length": len(text),
                          "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
                          "title": text, "text": text}
    assert json.loads(out[0])["probabilities"] == probabilities[0]
    assert json.loads(out[1])["probabilities"] == probabilities[1]
