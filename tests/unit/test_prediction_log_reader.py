"""Reading the prediction log layout: date partitions, the window, malformed lines."""

from __future__ import annotations

import datetime as dt
import json

from flipkart_sentiment.adapters.prediction_log import read_predictions

NOW = dt.datetime(2026, 5, 3, 12, 0, tzinfo=dt.UTC)


def record(ts: dt.datetime, label="Positive", version="3", **extra) -> str:
    probabilities = {"Negative": 0.1, "Neutral": 0.2, "Positive": 0.7}
    return json.dumps({"timestamp": ts.isoformat().replace("+00:00", "Z"), "model_version": version,
                       "label": label, "probabilities": probabilities, "text_length": 4,
                       "text_sha256": "0" * 64, **extra})


def write(root, day: str, name: str, lines: list[str]) -> None:
    folder = root / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


def test_reads_the_window_across_days_and_skips_malformed_lines(tmp_path):
    write(tmp_path, "2026-05-02", "a.jsonl", [
        record(NOW - dt.timedelta(hours=30)),  # before the window
        record(NOW - dt.timedelta(hours=20), text="good shuttle"),
    ])
    write(tmp_path, "2026-05-03", "b.jsonl", [
        record(NOW - dt.timedelta(hours=1), label="Negative", version="2"),
        "{not json",
        json.dumps({"timestamp": NOW.isoformat(), "label": "Positive"}),  # no probabilities
        record(NOW, label="Angry"),  # a label with no probability
        "",
    ])
    write(tmp_path, "2026-04-01", "old.jsonl", [record(NOW)])  # outside the partitions read
    log = read_predictions(str(tmp_path), NOW - dt.timedelta(hours=24), NOW)
    assert log.files == 2 and log.malformed == 3
    assert log.frame["label"].tolist() == ["Positive", "Negative"]
    assert log.frame["model_version"].tolist() == ["3", "2"]
    assert log.frame["confidence"].tolist() == [0.7, 0.7]
    assert log.frame["text"].tolist()[0] == "good shuttle" and log.frame["text"].isna().tolist()[1]


def test_a_missing_log_is_empty_not_an_error(tmp_path):
    log = read_predictions(str(tmp_path / "nothing-here"), NOW - dt.timedelta(hours=24), NOW)
    assert log.files == 0 and log.malformed == 0 and log.frame.empty


def test_reads_every_uri_form_the_server_writes_to(tmp_path):
    """A path, file:///path and a path with spaces around it: the server's settings accept all
    three (config.prediction_log_location), so the monitor must read all three."""
    write(tmp_path, "2026-05-03", "a.jsonl", [record(NOW)])
    since = NOW - dt.timedelta(hours=1)
    for uri in (str(tmp_path), f"file://{tmp_path}", f" {tmp_path} "):
        log = read_predictions(uri, since, NOW)
        assert log.files == 1 and len(log.frame) == 1, uri
