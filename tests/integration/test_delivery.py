"""Delivery on the local platform, for real: `production` moves, the local model server is
restarted on the exact version (scripts/local/platform.sh serve), a version that cannot load is
reverted, and rollback walks back one promotion. A real MLflow server and real model servers."""

from __future__ import annotations

import subprocess

import httpx
import mlflow
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.models import register_broken, register_trained
from sentiment_testkit.servers import CREDENTIALS, free_port, write_platform_credentials

from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows import delivery

pytestmark = pytest.mark.integration
NAME = "delivery-local"


@pytest.fixture(scope="module")
def platform(mlflow_server, tmp_path_factory):
    """Three versions (two good, one broken) and the local target on a free port."""
    run_dir = tmp_path_factory.mktemp("local-platform")
    write_platform_credentials(run_dir)  # what platform.sh uses to start the model server
    mlflow.set_tracking_uri(mlflow_server["url"])
    # Registered as the trainer, who owns models it creates (the flows below run as the trainer).
    with pytest.MonkeyPatch.context() as as_trainer:
        for key, value in CREDENTIALS.mlflow_as("trainer").items():
            as_trainer.setenv(key, value)
        versions = {"a": register_trained(NAME, seed=1), "b": register_trained(NAME, seed=2),
                    "broken": register_broken(NAME)}
    port = free_port()
    mp = pytest.MonkeyPatch()
    for key, value in {"RUN_DIR": str(run_dir), "MLFLOW_TRACKING_URI": mlflow_server["url"],
                       "MLFLOW_PORT": str(mlflow_server["port"])}.items():
        mp.setenv(key, value)
    settings = Settings(model_name=NAME, rollout_target="local", local_model_port=port,
                        rollout_timeout_seconds=120, tracking_uri=mlflow_server["url"])
    target = delivery.target_from(settings)
    yield {"settings": settings, "target": target, "versions": versions, "port": port,
           "client": MlflowClient(mlflow_server["url"]), "run_dir": run_dir}
    subprocess.run([str(settings.local_platform_script), "stop-model-server"], check=False,
                   timeout=60)
    mp.undo()


def answered_by(port: int) -> str:
    response = httpx.post(f"http://127.0.0.1:{port}/invocations", timeout=30,
                          json={"inputs": ["fine shuttle"]})
    assert response.status_code == 200, response.text
    return response.headers["X-Model-Version"]


def test_promote_rolls_the_server_onto_the_exact_version(platform):
    s, target, v, client = platform["settings"], platform["target"], platform["versions"], platform["client"]
    first = delivery.deliver(s, client, v["a"], "forced", "test", target)
    assert answered_by(platform["port"]) == v["a"] and first.previous is None
    second = delivery.deliver(s, client, v["b"], "forced", "test", target)
    assert second.previous == v["a"] and second.served_before == v["a"]
    assert answered_by(platform["port"]) == v["b"]
    tags = client.get_model_version(NAME, v["b"]).tags
    assert tags["rollout"] == "succeeded" and tags["previous_production"] == v["a"]
    assert client.get_model_version_by_alias(NAME, "production").version == v["b"]


def test_a_version_that_cannot_load_is_reverted(platform):
    s, target, v, client = platform["settings"], platform["target"], platform["versions"], platform["client"]
    with pytest.raises(delivery.RolloutFailed) as failed:
        delivery.deliver(s, client, v["broken"], "forced", "test", target)
    message = str(failed.value)
    assert f"version {v['broken']} was not rolled out" in message
    assert f"production is back on version {v['b']}" in message
    assert "exited before answering" in message  # what happened, from platform.sh
    assert "cannot be unpickled" in message  # and why: the model's own error
    assert client.get_model_version_by_alias(NAME, "production").version == v["b"]
    assert answered_by(platform["port"]) == v["b"]
    tags = client.get_model_version(NAME, v["broken"]).tags
    assert tags["rollout"] == "failed" and "exited before answering" in tags["rollout_reason"]


def test_rollback_walks_back_one_promotion(platform):
    s, target, v, client = platform["settings"], platform["target"], platform["versions"], platform["client"]
    back = delivery.rollback(s, client, target)
    assert (back.previous, back.version) == (v["b"], v["a"])
    assert answered_by(platform["port"]) == v["a"]
    assert client.get_model_version_by_alias(NAME, "production").version == v["a"]
    with pytest.raises(ValueError, match="records no version it replaced"):
        delivery.rollback(s, client, target)  # v[a] was the first production


def test_the_cli_promotes_through_the_same_path(platform, monkeypatch):
    from flipkart_sentiment.cli import main

    s, v = platform["settings"], platform["versions"]
    for key, value in {"SENTIMENT_MODEL_NAME": NAME, "SENTIMENT_ROLLOUT_TARGET": "local",
                       "SENTIMENT_LOCAL_MODEL_PORT": str(platform["port"]),
                       "MLFLOW_TRACKING_URI": s.tracking_uri}.items():
        monkeypatch.setenv(key, value)
    assert main(["promote", "--version", v["b"]]) == 0
    assert answered_by(platform["port"]) == v["b"]
    assert main(["promote", "--version", v["broken"]]) == 1
    assert answered_by(platform["port"]) == v["b"]
    assert main(["promote", "--version", "999"]) == 2


def test_the_promote_and_rollback_flows_deliver_under_the_lock(platform, prefect_server,
                                                              mlflow_server):
    """The Prefect flows operators run from the UI: same path, a failed rollout fails the run."""
    from sentiment_testkit.servers import PROMOTE, ROLLBACK, flow_env, flow_result, run_flow

    v, port = platform["versions"], platform["port"]
    env = flow_env(mlflow_server, prefect_server, SENTIMENT_MODEL_NAME=NAME,
                   SENTIMENT_ROLLOUT_TARGET="local", SENTIMENT_LOCAL_MODEL_PORT=str(port),
                   SENTIMENT_ROLLOUT_TIMEOUT_SECONDS="120", RUN_DIR=str(platform["run_dir"]))
    promoted = flow_result(run_flow(env, flow=PROMOTE, version=v["a"]))
    assert promoted["version"] == v["a"] and answered_by(port) == v["a"]
    failed = run_flow(env, flow=PROMOTE, version=v["broken"])
    assert failed.returncode != 0
    assert f"version {v['broken']} was not rolled out" in failed.stderr + failed.stdout
    assert answered_by(port) == v["a"]
    back = flow_result(run_flow(env, flow=ROLLBACK))
    assert back["previous"] == v["a"] and answered_by(port) == back["version"]
