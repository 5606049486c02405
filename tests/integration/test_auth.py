"""Both control planes require credentials, and each identity can do only its job: real servers
started the way the platform starts them (MLflow's basic-auth app with the chart's user sync,
Prefect's API auth string)."""

from __future__ import annotations

import httpx
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sentiment_testkit.servers import CREDENTIALS, prefect_auth

pytestmark = pytest.mark.integration


def test_mlflow_without_credentials_is_401_and_health_stays_open(mlflow_server):
    url = mlflow_server["url"]
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(search, timeout=30).status_code == 401
    assert httpx.get(search, auth=("trainer", "wrong-password"), timeout=30).status_code == 401
    assert httpx.get(search, auth=("trainer", CREDENTIALS.trainer), timeout=30).status_code == 200
    assert httpx.get(f"{url}/", timeout=30).status_code == 401  # the UI too
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200  # probes need no login


def test_prefect_without_the_auth_string_is_401(prefect_server):
    api = prefect_server["api"]
    assert httpx.post(f"{api}/flows/filter", json={}, timeout=30).status_code == 401
    assert httpx.post(f"{api}/flows/filter", json={}, auth=prefect_auth(), timeout=30).status_code == 200
    assert httpx.get(f"{api}/health", timeout=30).status_code == 200
    # its metrics (on in the chart) are behind the same login
    assert httpx.get(f"{api}/metrics", timeout=30).status_code == 401
    metrics = httpx.get(f"{api}/metrics", auth=prefect_auth(), timeout=30)
    assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text


def test_the_model_server_user_reads_but_cannot_change_production(mlflow_server, champion,
                                                                   monkeypatch):
    for key, value in CREDENTIALS.mlflow_as("model-server").items():
        monkeypatch.setenv(key, value)
    reader = MlflowClient(mlflow_server["url"])
    production = reader.get_model_version_by_alias("flipkart-sentiment", "production")
    assert production.version == champion["version"]
    with pytest.raises(MlflowException, match="403"):
        reader.set_registered_model_alias("flipkart-sentiment", "production", production.version)
    with pytest.raises(MlflowException, match="403"):
        reader.set_model_version_tag("flipkart-sentiment", production.version, "x", "y")
