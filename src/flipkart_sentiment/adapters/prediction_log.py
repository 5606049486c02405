"""Reading the model server's prediction log: JSON Lines files under
``<uri>/date=YYYY-MM-DD/*.jsonl`` (a folder or an ``s3://bucket/prefix``), one record per review:
``{"timestamp", "model_name", "model_version", "label", "probabilities": {class: p},
"text_length", "text_sha256"}`` and ``"title"``/``"text"`` when the operator logs raw text: the
records serving/prediction_log.py writes (docs/serving.md, "Prediction log").

A missing or empty log is an empty frame (the server may not log, or nothing was scored); a line
that is not such a record is skipped and counted, never fatal: one torn write must not blind the
monitor to the rest of the hour.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import prediction_log_location
from .data import DataValidationError, s3_client

COLUMNS = ["ts", "model_name", "model_version", "label", "confidence", "probabilities",
           "text_length", "text_sha256", "title", "text"]


@dataclass
class PredictionLog:
    frame: pd.DataFrame  # COLUMNS; confidence is the top probability, text is None when not logged
    files: int
    malformed: int


def _partitions(since: dt.datetime, until: dt.datetime) -> list[str]:
    day, days = since.date(), []
    while day <= until.date():
        days.append(f"date={day.isoformat()}")
        day += dt.timedelta(days=1)
    return days


def _read_files(uri: str, partitions: list[str]) -> list[tuple[str, str]]:
    """(name, text) of every .jsonl file in the given date partitions."""
    found: list[tuple[str, str]] = []
    # The URI forms the server accepts (a path, file://, s3://), parsed by the same function.
    kind, where = prediction_log_location(uri)
    if kind == "s3":
        bucket, _, prefix = where.partition("/")
        client = s3_client()
        try:
            for part in partitions:
                key_prefix = f"{prefix.rstrip('/')}/{part}/".lstrip("/")
                pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                         Prefix=key_prefix)
                for obj in (o for page in pages for o in page.get("Contents", [])):
                    if obj["Key"].endswith(".jsonl"):
                        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                        found.append((obj["Key"], body.decode("utf-8", errors="replace")))
        except Exception as exc:  # boto raises many types; the caller needs one clear message
            raise DataValidationError(f"cannot read the prediction log at {uri}: {exc}") from exc
        return found
    root = Path(where)
    for part in partitions:
        for path in sorted((root / part).glob("*.jsonl")):
            found.append((str(path), path.read_text(encoding="utf-8", errors="replace")))
    return found


def _record(line: str, since: dt.datetime) -> dict | None | bool:
    """The record as a row, False when it is older than `since`, None when malformed."""
    try:
        item = json.loads(line)
        ts = dt.datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=dt.UTC)
        probabilities = {str(k): float(v) for k, v in item["probabilities"].items()}
        label = str(item["label"])
        if label not in probabilities:
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if ts < since:
        return False
    text, title = item.get("text"), item.get("title")
    return {"ts": ts, "model_name": str(item.get("model_name", "")),
            "model_version": str(item.get("model_version", "")), "label": label,
            "confidence": max(probabilities.values()), "probabilities": probabilities,
            "text_length": item.get("text_length"), "text_sha256": item.get("text_sha256"),
            "title": title if isinstance(title, str) else None,
            "text": text if isinstance(text, str) else None}


def read_predictions(uri: str, since: dt.datetime, until: dt.datetime | None = None) -> PredictionLog:
    """The records logged at or after `since` (UTC)."""
    until = until or dt.datetime.now(dt.UTC)
    files = _read_files(uri, _partitions(since, until))
    rows, malformed = [], 0
    for _, text in files:
        for line in text.splitlines():
            if not line.strip():
                continue
            row = _record(line, since)
            if row is None:
                malformed += 1
            elif row is not False:
                rows.append(row)
    return PredictionLog(pd.DataFrame(rows, columns=COLUMNS), len(files), malformed)
