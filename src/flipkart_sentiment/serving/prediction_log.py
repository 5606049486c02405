"""The prediction log: every review the model server scores, as JSON Lines in an object store or
a local directory, for the monitoring flow to read back (adapters/prediction_log.py).

Layout (docs/serving.md, "Prediction log"): ``<uri>/date=YYYY-MM-DD/<HHMMSS>-<host>-<pid>-<uuid>.jsonl``,
one file per flush of one worker, the date (UTC) of the records in it. One record per review::

    {"timestamp": "2026-11-30T22:50:01.123+00:00", "model_name": "flipkart-sentiment",
     "model_version": "3", "label": "Positive", "probabilities": {"Negative": 0.01, ...},
     "text_length": 42, "text_sha256": "<hex>"}          (+ "title", "text" when raw text is on)

The request path only appends the request's reviews and predictions to a bounded in-memory queue
(one ``put_nowait``); a daemon thread per worker, woken every ``batch`` records or
``flush_seconds``, builds the records and writes what is queued as one file. Logging must never
fail nor slow a request, so: a full queue drops the request's records, and a failed write drops
its batch; both are counted
(``sentiment_prediction_log_dropped_total{reason}``) and logged once until writes succeed again.
What is queued when a worker shuts down is written first (``close``: the server calls it at its
ASGI lifespan shutdown, see server_fixes; atexit covers other exits).

Local paths are written with the standard library (write, then rename: a reader never sees half
a file); s3:// with pyarrow's S3 filesystem, which MLflow already depends on (boto3 is not part
of the model's runtime). Both sit behind the same ``put(key, data)``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ..config import prediction_log_location, s3_endpoint

_log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
# Every record's fields (plus "title" and "text" with raw text on): the contract with the reader
# (adapters/prediction_log.py).
FIELDS = ("timestamp", "model_name", "model_version", "label", "probabilities", "text_length",
          "text_sha256")


class Destination(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (a relative path with '/'), whole or not at all."""


class LocalDirectory:
    def __init__(self, root: Path):
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name("." + path.name + ".part")  # readers skip dot files
        partial.write_bytes(data)
        os.replace(partial, path)


class ArrowFileSystem:
    """Any pyarrow filesystem (S3 in the server; the local one in tests, for the same code)."""

    def __init__(self, filesystem, base: str):
        self.filesystem, self.base = filesystem, base.rstrip("/")

    def put(self, key: str, data: bytes) -> None:
        path = f"{self.base}/{key}"
        try:
            stream = self.filesystem.open_output_stream(path)
        except FileNotFoundError:  # S3 has no directories; a file system needs them made
            self.filesystem.create_dir(path.rpartition("/")[0], recursive=True)
            stream = self.filesystem.open_output_stream(path)
        with stream:
            stream.write(data)


def s3_filesystem():
    from pyarrow import fs

    endpoint = s3_endpoint()
    options: dict[str, Any] = {"connect_timeout": 5, "request_timeout": 30,
                               "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=3)}
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        options |= {"endpoint_override": parsed.netloc, "scheme": parsed.scheme}
    return fs.S3FileSystem(**options)


def destination(uri: str) -> Destination:
    kind, where = prediction_log_location(uri)
    if kind == "local":
        return LocalDirectory(Path(where))
    return ArrowFileSystem(s3_filesystem(), where)


_json_string = json.JSONEncoder(ensure_ascii=False).encode


def _lines(stamp: float, model_name: str, version: str, titles: Sequence[str],
           texts: Sequence[str], predictions: Sequence[dict], raw_text: bool) -> tuple[str, list[str]]:
    """(UTC date, JSON lines) of one request. Formatted here rather than by json.dumps per record
    (2 us instead of 5 us a record, in the worker's interpreter): the fields are fixed, strings
    go through json's own escaping, and a non-finite probability falls back to json.dumps."""
    when = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")
    head = (f'{{"timestamp": "{when}", "model_name": {_json_string(model_name)}, '
            f'"model_version": {_json_string(version)}, "label": ')
    lines = []
    for title, text, p in zip(titles, texts, predictions, strict=True):
        probabilities = p["probabilities"]
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if all(math.isfinite(v) for v in probabilities.values()):
            line = (head + _json_string(p["label"]) + ', "probabilities": {'
                    + ", ".join([f"{_json_string(k)}: {float(v)!r}" for k, v in probabilities.items()])
                    + f'}}, "text_length": {len(text)}, "text_sha256": "{digest}"')
            if raw_text:
                line += f', "title": {_json_string(title)}, "text": {_json_string(text)}'
            lines.append(line + "}")
        else:
            record = {"timestamp": when, "model_name": model_name, "model_version": version,
                      "label": p["label"], "probabilities": probabilities,
                      "text_length": len(text), "text_sha256": digest}
            if raw_text:
                record |= {"title": title, "text": text}
            lines.append(json.dumps(record, ensure_ascii=False))
    return when[:10], lines


class PredictionLog:
    """One worker's prediction log: ``add`` on the request path, a writer thread behind it."""

    def __init__(self, dest: Destination, *, model_name: str = "", version: str = "",
                 raw_text: bool = False, batch: int = 1000, flush_seconds: float = 60.0,
                 capacity: int = 20_000, on_written: Callable[[int], None] | None = None,
                 on_dropped: Callable[[str, int], None] | None = None):
        self.dest, self.model_name, self.version, self.raw_text = dest, model_name, version, raw_text
        self.batch, self.flush_seconds, self.capacity = batch, flush_seconds, capacity
        self.on_written = on_written or (lambda n: None)
        self.on_dropped = on_dropped or (lambda reason, n: None)
        # The bound is counted here in records, not queue items: one request (one item) may
        # carry up to 10,000 reviews.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._failing = False
        self._full = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._name = f"{socket.gethostname()}-{os.getpid()}"
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    # -- request path ------------------------------------------------------------------------

    def add(self, titles: Sequence[str], texts: Sequence[str], predictions: Sequence[dict]) -> None:
        n = len(predictions)
        with self._lock:  # with close(): nothing is queued behind the stop marker
            full = self._stop.is_set() or self._pending + n > self.capacity
            if not full:
                self._pending += n
                self._queue.put_nowait((time.time(), titles, texts, predictions))
                # Wake the writer once per batch, not per request: each wake-up is a thread
                # switch that the request threads pay for (about 20 % of in-process throughput
                # when it woke per request).
                wake = self._pending >= self.batch and not self._wake.is_set()
        if full:
            self._dropped("full", n)
        elif wake:
            self._wake.set()

    # -- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            records: dict[str, list[str]] = {}  # lines by date
            stopping = False
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                stamp, titles, texts, predictions = item
                with self._lock:
                    self._pending -= len(predictions)
                try:
                    day, lines = _lines(stamp, self.model_name, self.version, titles, texts,
                                        predictions, self.raw_text)
                    records.setdefault(day, []).extend(lines)
                except Exception:  # a bug here must not stop the thread
                    _log.exception("prediction log: cannot build records")
                    self._dropped("error", len(predictions))
            if records:
                self._write(records)
            if stopping:
                return

    def _write(self, by_day: dict[str, list[str]]) -> None:
        for day, lines in by_day.items():
            key = (f"date={day}/{datetime.now(UTC):%H%M%S}-{self._name}-{uuid.uuid4().hex[:12]}"
                   f"{SUFFIX}")
            data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
            try:
                self.dest.put(key, data)
            except Exception as exc:
                self._dropped("error", len(lines))
                if not self._failing:
                    _log.error("prediction log: cannot write (%s: %s); dropping records until "
                               "it can (counted in sentiment_prediction_log_dropped_total)",
                               type(exc).__name__, exc)
                self._failing = True
                continue
            self.on_written(len(lines))
            if self._failing:
                _log.info("prediction log: writing again")
            self._failing = False

    def _dropped(self, reason: str, n: int) -> None:
        self.on_dropped(reason, n)
        if reason == "full" and not self._full:
            self._full = True  # once per worker: a stuck store would otherwise log per request
            _log.warning("prediction log: queue full (%d records); dropping records (counted "
                         "in sentiment_prediction_log_dropped_total)", self.capacity)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop; later records are dropped (counted as full)."""
        if self._stop.is_set():
            return
        with self._lock:
            self._stop.set()
            self._queue.put_nowait(_STOP)
        self._wake.set()
        self._thread.join(timeout)


_STOP = object()
_log_of_this_worker: PredictionLog | None = None


def for_this_server(settings, model_name: str, version: str, metrics=None) -> PredictionLog:
    """This worker's prediction log, created on first use."""
    global _log_of_this_worker
    if _log_of_this_worker is None:
        _log_of_this_worker = PredictionLog(
            destination(settings.prediction_log), model_name=model_name, version=version,
            raw_text=settings.prediction_log_raw_text, batch=settings.prediction_log_batch,
            flush_seconds=settings.prediction_log_flush_seconds,
            capacity=settings.prediction_log_queue,
            on_written=metrics.prediction_log_written if metrics else None,
            on_dropped=metrics.prediction_log_dropped if metrics else None)
        # For exits without a lifespan shutdown. Registered after pyarrow's S3 finalizer
        # (imported by destination()), so it runs before it.
        atexit.register(_log_of_this_worker.close)
    return _log_of_this_worker
