"""Faults a training run must survive or refuse cleanly: MLflow outages, concurrent runs,
bad data files."""

from __future__ import annotations

import time

import httpx
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.servers import (
    flow_env,
    free_port,
    mlflow_server_cmd,
    mlflow_server_env,
    process,
    result_from_log,
    run_flow,
    start_flow,
    tail,
    wait_http,
)

pytestmark = pytest.mark.integration
NAME = "flipkart-sentiment"


def wait_for_text(log, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(1)
    raise AssertionError(f"{text!r} not in the flow log within {timeout}s:\n{tail(log, 40)}")


def test_flow_rides_out_an_mlflow_outage_through_retries(prefect_server, data_path, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The window the retries give the server to come back: 3 retries x 45 s.
    env = flow_env({"url": url}, prefect_server, SENTIMENT_RETRY_DELAY_SECONDS="45")
    log = tmp_path / "flow.log"
    flow = start_flow(env, log, data_path=str(data_path), search="quick")
    try:
        wait_for_text(log, "is unreachable", timeout=300)  # it really met a dead server
        wait_for_text(log, "Retry 1/3 will start", timeout=60)  # ...and Prefect retries it
        server_log = tmp_path / "mlflow.log"
        with process(mlflow_server_cmd(tmp_path, port), server_log, mlflow_server_env()) as server:
            wait_http(f"{url}/health", 240, server, server_log)
            flow.wait(timeout=900)
            result = result_from_log(log)
            client = MlflowClient(url, url)
            assert client.get_model_version_by_alias(NAME, "production").version == result["version"]
    finally:
        if flow.poll() is None:
            flow.kill()


def test_flow_fails_clearly_when_mlflow_stays_down(prefect_server, data_path):
    url = f"http://127.0.0.1:{free_port()}"
    proc = run_flow(flow_env({"url": url}, prefect_server), data_path=str(data_path),
                    search="quick")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"MLflow tracking server at {url} is unreachable" in output
    assert "RESULT" not in proc.stdout


@pytest.fixture
def fresh_mlflow(tmp_path):
    port = free_port()
    log = tmp_path / "mlflow.log"
    with process(mlflow_server_cmd(tmp_path, port), log, mlflow_server_env()) as server:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health", 240, server, log)
        yield {"url": url}


def test_two_concurrent_runs_leave_production_on_the_better_version(
        prefect_server, fresh_mlflow, data_path, tmp_path):
    env = flow_env(fresh_mlflow, prefect_server)
    logs = {profile: tmp_path / f"{profile}.log" for profile in ("seed", "quick")}
    flows = {p: start_flow(env, log, data_path=str(data_path), search=p) for p, log in logs.items()}
    for flow in flows.values():
        flow.wait(timeout=1200)
    results = {p: result_from_log(log) for p, log in logs.items()}
    client = MlflowClient(fresh_mlflow["url"], fresh_mlflow["url"])
    versions = client.search_model_versions(f"name='{NAME}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    best = max(results.values(), key=lambda r: (r["test_f1_weighted"], r["test_f1_macro"]))
    assert client.get_model_version_by_alias(NAME, "production").version == best["version"]
    assert sum(r["promoted"] for r in results.values()) >= 1
    for v in versions:
        assert v.tags["promotion"] in ("promoted", "rejected")


BAD_FILES = {
    "wrong-schema.csv": ("name,when\nx,2020\n", "no review text and no rating column"),
    "empty.csv": ("", "the file is empty"),
    "all-empty-texts.csv": ("Review text,Ratings\n,5\n ,1\n", "no usable rows"),
    "rating-7.csv": ("Review text,Ratings\ngood,5\nbad,1\nodd,7\n", "e.g. 7 on data row 3"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_fails_validation_registers_nothing_and_production_keeps_serving(
        name, mlflow_server, prefect_server, champion, model_server, tmp_path):
    content, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(content)
    client = MlflowClient(mlflow_server["url"], mlflow_server["url"])
    before = {v.version for v in client.search_model_versions(f"name='{NAME}'")}
    production = client.get_model_version_by_alias(NAME, "production").version

    proc = run_flow(flow_env(mlflow_server, prefect_server), data_path=str(path), search="quick")
    assert proc.returncode != 0
    assert reason in proc.stdout + proc.stderr

    assert {v.version for v in client.search_model_versions(f"name='{NAME}'")} == before
    assert client.get_model_version_by_alias(NAME, "production").version == production
    response = httpx.post(f"{model_server['url']}/invocations", json={"inputs": ["good"]},
                          timeout=60)
    assert response.status_code == 200
