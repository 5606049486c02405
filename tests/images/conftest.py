"""Fixtures of the image smoke tests (tests/images, marker ``images``).

Everything real, nothing mocked:
- dockerd is started by scripts/docker/dockerd-up.sh (Debian docker.io is installed if missing);
- each image (the target of the same name in images/Dockerfile) is built once per session by
  scripts/docker/build-image.sh (layer cache makes rebuilds quick; the base is python:3.11-slim,
  or the debootstrapped base with no registry);
- an MLflow server and a Prefect server run on the host from this virtualenv, on free ports;
- containers run with ``--network host`` against them and are removed at the end.

Env: IMAGE_TAG (0.1.0), RUN_DIR (.run), and whatever build-image.sh reads (BASE_IMAGE, DATA_DIR,
CACERT). Logs of the host servers and containers: $RUN_DIR/images/tests/. The helpers live in
the test kit (sentiment_testkit.images, sentiment_testkit.servers).
"""

from __future__ import annotations

import os
import time

import pytest
from sentiment_testkit.images import (
    DOCKERD_TIMEOUT,
    LOG_DIR,
    MODEL_NAME,
    ROOT,
    RUN_DIR,
    TRAIN_COMMAND,
    Containers,
    Images,
    TrainedModel,
    create_flow_run,
    run,
)
from sentiment_testkit.servers import CREDENTIALS, served_mlflow, served_prefect


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RUN_DIR": str(RUN_DIR)}
    run([str(ROOT / "scripts/docker/dockerd-up.sh")], timeout=DOCKERD_TIMEOUT, env=env)


@pytest.fixture(scope="session")
def images(docker_daemon) -> Images:
    return Images()


@pytest.fixture(scope="session")
def containers(docker_daemon):
    c = Containers()
    yield c
    c.remove_all()


# --------------------------------------------------------------------------- host servers
# These override the root conftest's fixtures of the same names: here they yield the URL only.


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """A real MLflow tracking server + registry (sqlite, proxied artifacts) on the host."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with served_mlflow(tmp_path_factory.mktemp("mlflow"), LOG_DIR / "host-mlflow.log") as (url, _):
        yield url


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> str:
    """A real Prefect server (sqlite) on the host; yields its API URL."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with served_prefect(tmp_path_factory.mktemp("prefect"), LOG_DIR / "host-prefect.log") as (api, _):
        yield api


@pytest.fixture(scope="session")
def trained_model(images, containers, mlflow_server, prefect_server) -> TrainedModel:
    """Runs a flow run in the trainer container; it must register a version aliased production."""
    image = images.get("trainer")
    flow_run_id = create_flow_run(prefect_server)
    start = time.monotonic()
    code, logs = containers.run_to_end(
        image,
        *TRAIN_COMMAND,
        docker_args=(
            "--network",
            "host",
            "-e",
            f"MLFLOW_TRACKING_URI={mlflow_server}",
            "-e",
            f"PREFECT_API_URL={prefect_server}",
            "-e",
            f"PREFECT__FLOW_RUN_ID={flow_run_id}",
            # the flow run's identity on both control planes, as the chart's job template gives it
            *[arg for key, value in (CREDENTIALS.mlflow_as("trainer")
                                     | {"PREFECT_API_AUTH_STRING": CREDENTIALS.prefect}).items()
              for arg in ("-e", f"{key}={value}")],
        ),
        timeout=1500,
        prefix="sentiment-test-trainer",
    )
    seconds = time.monotonic() - start
    assert code == 0, f"trainer container exited {code}:\n{logs[-8000:]}"

    import mlflow  # the host virtualenv's client

    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    mv = client.get_model_version_by_alias(MODEL_NAME, "production")
    return TrainedModel(mlflow_server, prefect_server, flow_run_id, mv.version, logs, seconds)


def pytest_terminal_summary(terminalreporter):  # noqa: D103 - pytest hook
    path = RUN_DIR / "images" / "build-times.log"
    if path.exists() and any(
        "images" in r.keywords
        for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
    ):
        terminalreporter.write_sep("-", "image builds (last 4, " + str(path) + ")")
        for line in path.read_text().splitlines()[-4:]:
            terminalreporter.write_line(line)
