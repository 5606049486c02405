"""GET /metrics of the real `mlflow models serve`, with two uvicorn workers: every scrape, whichever
worker answers it, counts what both workers did."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.serving
JSON = {"Content-Type": "application/json"}
GOOD = {"inputs": ["Excellent shuttle, very durable and flies straight. Loved it",
                   "Superb quality, genuine product, fast delivery",
                   "Worst product ever, fake shuttles, feathers broke in one game. Waste of money"]}


@pytest.fixture(scope="module")
def two_workers(mlflow_server, champion, tmp_path_factory):
    from sentiment_testkit.servers import served_model

    tmp = tmp_path_factory.mktemp("model-server-2-workers")
    with served_model("models:/flipkart-sentiment@production", mlflow_server["url"],
                      tmp / "server.log", workers=2, TMPDIR=str(tmp)) as (url, _):
        yield {"url": url, "tmp": tmp, "version": str(champion["version"])}


def samples(url: str) -> dict[tuple[str, frozenset], float]:
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_every_request_of_both_workers(two_workers):
    url, version = two_workers["url"], two_workers["version"]
    counter_files = lambda: list(two_workers["tmp"].glob("sentiment-metrics-*/counter_*.db"))  # noqa: E731

    def good(_):  # a connection per request, several at once: both workers take some
        return httpx.post(f"{url}/invocations", json=GOOD, timeout=60).status_code

    sent = 0
    with ThreadPoolExecutor(4) as pool:
        while len(counter_files()) < 2 and sent < 400:
            assert set(pool.map(good, range(20))) == {200}
            sent += 20
    # Both workers answered (each keeps its own file; a scrape merges them).
    assert len(counter_files()) == 2, counter_files()
    with httpx.Client(timeout=60) as client:
        for _ in range(7):
            assert client.post(f"{url}/invocations", json={"inputs": [None]}).status_code == 400
        for _ in range(3):
            no_type = client.post(f"{url}/invocations", content=b'{"inputs": ["ok"]}')
            assert no_type.status_code == 415
        client.get(f"{url}/nowhere/{version}")

    for _ in range(6):  # whichever worker answers the scrape
        m = samples(url)
        assert value(m, "sentiment_http_requests_total", path="/invocations", status="200") == sent
        assert value(m, "sentiment_http_requests_total", path="/invocations", status="400") == 7
        assert value(m, "sentiment_http_requests_total", path="/invocations", status="415") == 3
        assert value(m, "sentiment_http_requests_total", path="other", status="404") == 1
        assert value(m, "sentiment_predictions_total", label="Positive", model_version=version) == 2 * sent
        assert value(m, "sentiment_predictions_total", label="Negative", model_version=version) == sent
        assert value(m, "sentiment_reviews_per_request_count") == sent
        assert value(m, "sentiment_reviews_per_request_sum") == 3 * sent
        assert value(m, "sentiment_http_request_duration_seconds_count",
                     path="/invocations") == sent + 10
        assert value(m, "sentiment_model_info", model_name="flipkart-sentiment",
                     model_version=version) == 1
        assert value(m, "sentiment_model_load_seconds", model_version=version) > 0


def test_one_worker_serves_metrics_from_its_own_registry(model_server, champion):
    before = value(samples(model_server["url"]), "sentiment_predictions_total", label="Positive",
                   model_version=str(champion["version"]))
    response = httpx.post(model_server["url"] + "/invocations", json={"inputs": GOOD["inputs"][:2]},
                          headers=JSON, timeout=60)
    assert response.status_code == 200
    after = value(samples(model_server["url"]), "sentiment_predictions_total", label="Positive",
                  model_version=str(champion["version"]))
    assert after - before == 2
