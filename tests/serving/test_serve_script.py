"""The model-server container's entry point (the chart's files/serve.py), run for real: stand-by
before the first promotion, and a model that cannot load ends the server with an error (so a pod
crash-loops and its rollout is reverted) even with several uvicorn workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import joblib
import mlflow.pyfunc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sentiment_testkit.paths import ROOT, VENV_BIN
from sentiment_testkit.servers import free_port, wait_http

from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.core.estimators import build_pipeline
from flipkart_sentiment.core.profiles import PROFILES
from flipkart_sentiment.serving.packaging import MODEL_CODE

pytestmark = pytest.mark.serving
SERVE = ROOT / "charts" / "sentiment-platform" / "charts" / "model-server" / "files" / "serve.py"


def start(tmp_path, **env):
    port = free_port()
    log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    environment = os.environ | {"PORT": str(port), "HOST": "127.0.0.1",
                                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **env}
    if "SERVED_MODEL_URI" not in env:
        environment.pop("SERVED_MODEL_URI", None)
    proc = subprocess.Popen([sys.executable, str(SERVE)], env=environment, stdout=log,
                            stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}", tmp_path / f"serve-{port}.log"


def test_without_a_model_it_stands_by_ready_and_answers_503(tmp_path):
    proc, url, log = start(tmp_path, MODEL_NAME="flipkart-sentiment")
    try:
        wait_http(f"{url}/ping", 30, proc, log)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        response = httpx.post(f"{url}/invocations", json={"inputs": ["nice"]}, timeout=5)
        assert response.status_code == 503
        assert response.json()["error_code"] == "MODEL_NOT_READY"
        assert "flipkart-sentiment" in response.json()["message"]
        assert response.headers["Retry-After"] and response.headers["X-Model-Version"] == "none"
        # /metrics says it stands by, and counts the 503 like the model's own server would.
        metrics = httpx.get(f"{url}/metrics", timeout=5)
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(metrics.text) for s in f.samples}
        assert samples[("sentiment_model_standby", ())] == 1
        assert samples[("sentiment_http_requests_total",
                        (("path", "/invocations"), ("status", "503")))] == 1
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_a_model_that_cannot_load_ends_the_server_with_an_error(tmp_path, data_path):
    frame = from_bytes(data_path.read_bytes(), str(data_path)).frame.sample(n=800, random_state=4)
    joblib.dump(build_pipeline(PROFILES["quick"][1]).fit(frame, frame["label"]), tmp_path / "p.joblib")
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(MODEL_CODE),
                             artifacts={"pipeline": str(tmp_path / "p.joblib")})
    (tmp_path / "model" / "artifacts" / "p.joblib").write_bytes(b"not a pipeline")
    termination_log = tmp_path / "termination-log"
    proc, url, log = start(tmp_path, SERVED_MODEL_URI=str(tmp_path / "model"), WORKERS="2",
                           TERMINATION_LOG=str(termination_log))
    started = time.monotonic()
    try:
        code = proc.wait(timeout=180)
    finally:
        proc.kill()
    output = log.read_text(errors="replace")
    assert code != 0, output[-2000:]
    assert "the model cannot be served" in output
    assert "ended on its own" in output
    assert time.monotonic() - started < 120, "it should fail fast, not wait for a deadline"
    # The termination message Kubernetes keeps starts with the cause.
    cause = termination_log.read_text().splitlines()[0]
    assert cause.startswith("flipkart_sentiment.serving.pyfunc.ModelNotServable: the pipeline "
                            "artifact cannot be unpickled"), cause
