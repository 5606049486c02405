"""The real `mlflow models serve` of models:/flipkart-sentiment@production."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.serving
JSON = {"Content-Type": "application/json"}


def post(server, body, headers=JSON):
    data = body if isinstance(body, (bytes, str)) else None
    kwargs = {"content": data} if data is not None else {"json": body}
    return httpx.post(f"{server['url']}/invocations", headers=headers, timeout=60, **kwargs)


def test_health_endpoints(model_server):
    for path in ("/ping", "/health"):
        assert httpx.get(model_server["url"] + path, timeout=10).status_code == 200


def test_predicts_labels_with_probabilities(model_server):
    response = post(model_server, {"inputs": [
        "Excellent shuttle, very durable and flies straight. Loved it",
        "Worst product ever, fake shuttles, feathers broke in one game. Waste of money",
        {"title": "Terrific purchase", "text": "Genuine Yonex, fast delivery"},
    ]})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["Positive", "Negative", "Positive"]
    for p in predictions:
        assert set(p["probabilities"]) == {"Negative", "Neutral", "Positive"}
        assert p["probability"] == max(p["probabilities"].values())
        assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-4)


BAD_BODIES = [
    ('{"inputs": [null]}', "'text' is null"),
    ('{"inputs": [42]}', "must be a string, got int"),
    ('{"inputs": [""]}', "'text' is empty"),
    ('{"inputs": [{"title": "only a title"}]}', "'text' is null"),
    ('{"inputs": []}', "no reviews"),
    ('{"inputs": "a bare string"}', "Expected list"),
    ('{"reviews": ["wrong key"]}', "'inputs' key"),
    ('{"dataframe_records": [{"text": "old format"}]}', "'inputs' key"),
    ("not json at all", "valid JSON"),
    ("[1, 2]", "JSON dictionary"),
    ("", "valid JSON"),
]


@pytest.mark.parametrize("body,reason", BAD_BODIES)
def test_bad_bodies_get_a_clean_400(model_server, body, reason):
    response = post(model_server, body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["message"]
    assert "Traceback" not in response.text and "stack_trace" not in response.text


def test_wrong_content_type_is_415_without_a_trace(model_server):
    response = post(model_server, "text=hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "Traceback" not in response.text


def test_a_bad_request_does_not_break_the_next_one(model_server):
    assert post(model_server, '{"inputs": [null]}').status_code == 400
    assert post(model_server, {"inputs": ["good"]}).status_code == 200


def test_deeply_nested_json_is_a_400_not_a_500(model_server):
    depth = 100_000
    response = post(model_server, '{"inputs": ' + "[" * depth + "]" * depth + "}")
    assert response.status_code == 400, response.text[:300]
    assert "nested too deeply" in response.json()["message"]


def test_huge_review_is_rejected_with_a_reason(model_server):
    response = post(model_server, {"inputs": ["good " * 200_000]})
    assert response.status_code == 400
    assert "longer than" in response.json()["message"]
    assert "Traceback" not in response.text


def test_non_utf8_body_is_a_400(model_server):
    response = post(model_server, b'{"inputs": ["\xff\xfe bad bytes"]}')
    assert response.status_code == 400
    assert "Traceback" not in response.text


@pytest.fixture(scope="module")
def sklearn_path_server(mlflow_server, champion, tmp_path_factory):
    """The same production model served with the compiled path switched off (the kill switch)."""
    from sentiment_testkit.servers import served_model

    log = tmp_path_factory.mktemp("model-server-sklearn") / "server.log"
    with served_model("models:/flipkart-sentiment@production", mlflow_server["url"], log,
                     SENTIMENT_SERVE_COMPILED="false") as (url, _):
        yield {"url": url, "log": log}


def test_compiled_path_answers_like_the_sklearn_pipeline(model_server, sklearn_path_server,
                                                        data_path):
    import pandas as pd

    frame = pd.read_csv(data_path).dropna(subset=["Review text"]).sample(300, random_state=5)
    reviews = [{"title": t if isinstance(t, str) else "", "text": x}
               for t, x in zip(frame["Review Title"], frame["Review text"], strict=True)]
    reviews += ["nyc 👍", "not good at all, bakwas", "Okay product, nothing special"]
    fast = post(model_server, {"inputs": reviews})
    slow = post(sklearn_path_server, {"inputs": reviews})
    assert fast.status_code == slow.status_code == 200, (fast.text[:300], slow.text[:300])
    for a, b in zip(fast.json()["predictions"], slow.json()["predictions"], strict=True):
        assert a["label"] == b["label"]
        for label, p in a["probabilities"].items():
            assert p == pytest.approx(b["probabilities"][label], abs=1e-5)
    assert "predict path: compiled" in model_server["log"].read_text()
    assert "predict path: sklearn pipeline (SENTIMENT_SERVE_COMPILED=false)" in \
        sklearn_path_server["log"].read_text()


def test_every_answer_names_the_version_that_gave_it(model_server, champion):
    """The server was started on @production; MLflow resolves the alias when it downloads the
    model, and every response, error or not, says which version answered."""
    for response in (post(model_server, {"inputs": ["nice shuttle"]}),
                     post(model_server, {"inputs": [None]}),
                     httpx.get(model_server["url"] + "/ping", timeout=10)):
        assert response.headers["X-Model-Version"] == str(champion["version"]), response.headers
        assert response.headers["X-Model-Name"] == "flipkart-sentiment"


def test_the_review_bound_is_per_http_request(model_server):
    too_many = post(model_server, {"inputs": ["ok"] * 10_001})
    assert too_many.status_code == 400
    assert "send at most 10000 per request" in too_many.json()["message"]
    assert post(model_server, {"inputs": ["ok"] * 10_000}).status_code == 200
