"""Prometheus metrics of the model server: `GET /metrics` on the scoring server's own port.

MLflow's scoring server has no metrics endpoint (mlflow/mlflow#3290 and its successors), so the
model adds one when it loads in a scoring-server worker (serving/server_fixes.py installs the
middleware). prometheus-client writes the exposition format and, with several uvicorn workers,
merges the workers' values (its multiprocess mode): without that, each scrape would see one
worker's counters, picked by the kernel's accept queue.

Multiprocess mode needs a directory shared by the workers of one server and by nobody else,
set before prometheus-client is imported. The model picks it itself, so any `mlflow models
serve` of it is correct with no extra configuration: ``<tmp>/sentiment-metrics-<supervisor pid>-
<supervisor start time>``. The start time keeps a restarted container (same pid, same emptyDir
/tmp) from adding the previous server's counts to its own.

Names and labels (docs/serving.md, "Metrics"): requests by path and status, latency by path,
reviews per request, predictions by label and model version, model load time,
``sentiment_model_info{model_name, model_version}`` = 1, and the prediction log's records written
and dropped (serving/prediction_log.py).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Paths the scoring server answers; anything else is counted as "other" so that a scanner
# cannot create a label value per URL it tries.
PATHS = frozenset({"/invocations", "/ping", "/health", "/version", "/metrics"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REVIEW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def _start_time(pid: int) -> str:
    try:  # field 22 of /proc/<pid>/stat, after the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def shared_directory() -> Path | None:
    """The multiprocess directory of this server, or None for a single-process server (uvicorn
    runs one worker in its own process: the default registry is then exact)."""
    if os.environ.get(MULTIPROC_ENV):
        return Path(os.environ[MULTIPROC_ENV])
    if multiprocessing.parent_process() is None:
        return None
    supervisor = os.getppid()
    return Path(tempfile.gettempdir()) / f"sentiment-metrics-{supervisor}-{_start_time(supervisor)}"


class ServerMetrics:
    """The metrics of one scoring-server worker (``for_this_server``)."""

    def __init__(self, directory: Path | None):
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            os.environ[MULTIPROC_ENV] = str(directory)
        from prometheus_client import (
            REGISTRY,
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            make_asgi_app,
            multiprocess,
            values,
        )

        if directory is not None and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus-client was imported before the directory was set (it decides at
            # import): switch it as its import would have; metrics look the class up at creation.
            values.ValueClass = values.MultiProcessValue()
        self.multiprocess = directory is not None
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        self.app = make_asgi_app(registry)
        self.requests = Counter("sentiment_http_requests", "HTTP requests answered, by path and "
                                "status code", ["path", "status"])
        self.latency = Histogram("sentiment_http_request_duration_seconds", "Time from request "
                                 "to the end of the response, by path", ["path"],
                                 buckets=LATENCY_BUCKETS)
        self.reviews = Histogram("sentiment_reviews_per_request", "Reviews scored per "
                                 "successful /invocations request", buckets=REVIEW_BUCKETS)
        self.predictions = Counter("sentiment_predictions", "Reviews scored, by predicted label "
                                   "and model version", ["label", "model_version"])
        self.load_seconds = Gauge("sentiment_model_load_seconds", "Seconds the last worker took "
                                  "to load and warm up the model", ["model_version"],
                                  multiprocess_mode="mostrecent")
        self.info = Gauge("sentiment_model_info", "The model this server answers with (value 1)",
                          ["model_name", "model_version"], multiprocess_mode="max")

        self.log_written = Counter("sentiment_prediction_log_written", "Prediction-log "
                                   "records written to the store")
        self.log_dropped = Counter("sentiment_prediction_log_dropped", "Prediction-log records "
                                   "lost: full (the queue was full) or error (the write failed)",
                                   ["reason"])

    def prediction_log_written(self, n: int) -> None:
        self.log_written.inc(n)

    def prediction_log_dropped(self, reason: str, n: int) -> None:
        self.log_dropped.labels(reason).inc(n)

    def model_loaded(self, name: str, version: str, seconds: float) -> None:
        self.info.labels(name, version).set(1)
        self.load_seconds.labels(version).set(seconds)

    def scored(self, version: str, labels: Iterable[str]) -> None:
        counts = collections.Counter(labels)
        self.reviews.observe(sum(counts.values()))
        for label, n in counts.items():
            self.predictions.labels(label, version).inc(n)

    def answered(self, path: str, status: int, seconds: float) -> None:
        path = path if path in PATHS else "other"
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)


_metrics: ServerMetrics | None = None


def for_this_server() -> ServerMetrics:
    """This worker's metrics, created on first use."""
    global _metrics
    if _metrics is None:
        _metrics = ServerMetrics(shared_directory())
    return _metrics


class MetricsMiddleware:
    """ASGI middleware: answers GET /metrics, and times and counts every other response."""

    def __init__(self, app, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/metrics":
            return await self.metrics.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # if the app fails before it starts a response

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.answered(scope["path"], status, time.perf_counter() - started)
