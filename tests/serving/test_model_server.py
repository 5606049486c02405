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


SHAPES = '"inputs", "dataframe_records", "dataframe_split" or "instances"'
BAD_BODIES = [
    ('{"inputs": [null]}', "'text' is null"),
    ('{"inputs": [42]}', "must be a string, got int"),
    ('{"inputs": [""]}', "'text' is empty"),
    ('{"inputs": [{"title": "only a title"}]}', "review 0: 'text' is missing"),
    ('{"inputs": []}', "no reviews"),
    ('{"inputs": "a bare string"}', '"inputs" must be a list, got str'),
    ('{"reviews": ["wrong key"]}', SHAPES),
    ('{"inputs": ["a"], "instances": ["b"]}', SHAPES),
    ('{"messages": [{"role": "user", "content": "hi"}]}', SHAPES),
    ("not json at all", "valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("", "valid JSON"),
    # Each shape with the wrong types or a missing column.
    ('{"instances": {"text": ["a"]}}', '"instances" must be a list, got dict'),
    ('{"instances": [["nested"]]}', "review 0: 'text' must be a string, got list"),
    ('{"dataframe_records": {"text": ["a"]}}', '"dataframe_records" must be a list, got dict'),
    ('{"dataframe_records": ["a string"]}', '"dataframe_records" row 0 must be an object'),
    ('{"dataframe_records": [{"text": "ok"}, {"review": "no text"}]}', "review 1: 'text' is missing"),
    ('{"dataframe_records": [{"text": "ok", "title": 5}]}', "review 0: 'title' must be a string"),
    ('{"dataframe_split": [["a"]]}', '"dataframe_split" must be an object with "columns" and "data"'),
    ('{"dataframe_split": {"columns": ["title"], "data": [["a"]]}}', "has no 'text' column"),
    ('{"dataframe_split": {"columns": ["text"], "data": [["a", "b"]]}}', "row 0 must be a list of 1"),
    ('{"dataframe_split": {"columns": ["text"], "data": [[null]]}}', "review 0: 'text' is null"),
    ('{"dataframe_split": {"columns": ["text"], "data": "a"}}', '"data" must be a list, got str'),
    # Bodies json.loads takes wrongly or fails on.
    ('{"inputs": [' + "7" * 5_000 + "]}", "a number in the body has 5,000 digits"),
    ('{"inputs": ["a"], "inputs": ["b"]}', 'duplicate key "inputs"'),
]


@pytest.mark.parametrize("body,reason", BAD_BODIES)
def test_bad_bodies_get_a_clean_400(model_server, body, reason):
    response = post(model_server, body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["message"]
    assert "Traceback" not in response.text and "stack_trace" not in response.text


# One request per shape, each with a plain review, a review with a title and an extra field or
# column (ignored): the answers are the same whichever shape carried them.
SHAPED = {
    "inputs": {"inputs": ["Loved it, great shuttle",
                          {"title": "Worthless", "text": "Feathers broke in one game", "x": 1}]},
    "instances": {"instances": ["Loved it, great shuttle",
                                {"title": "Worthless", "text": "Feathers broke in one game"}]},
    "dataframe_records": {"dataframe_records": [
        {"text": "Loved it, great shuttle"},
        {"title": "Worthless", "text": "Feathers broke in one game", "rating": 1}]},
    "dataframe_split": {"dataframe_split": {
        "index": [10, 11], "columns": ["rating", "title", "text"],
        "data": [[5, None, "Loved it, great shuttle"],
                 [1, "Worthless", "Feathers broke in one game"]]},
        "params": {"explain": False}},
}


def test_every_request_shape_gets_the_same_answers(model_server):
    answers = {}
    for shape, body in SHAPED.items():
        response = post(model_server, body)
        assert response.status_code == 200, (shape, response.text)
        answers[shape] = response.json()["predictions"]
    assert [p["label"] for p in answers["inputs"]] == ["Positive", "Negative"]
    for shape, predictions in answers.items():
        assert predictions == answers["inputs"], shape


@pytest.mark.parametrize("shape", list(SHAPED))
def test_a_review_with_no_letters_is_a_400_naming_the_row_in_every_shape(model_server, shape):
    letterless = {
        "inputs": {"inputs": ["good", "\u200b\u200b"]},
        "instances": {"instances": ["good", {"text": "!!! ..."}]},
        "dataframe_records": {"dataframe_records": [{"text": "good"}, {"text": " \u200b "}]},
        "dataframe_split": {"dataframe_split": {"columns": ["text"], "data": [["good"], ["?!"]]}},
    }[shape]
    response = post(model_server, letterless)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == ("review 1: 'text' has no letters, digits or emoji (only "
                                          "whitespace, punctuation or invisible characters)")
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_review_bound_holds_for_every_shape(model_server):
    for body in ({"instances": ["ok"] * 10_001},
                 {"dataframe_records": [{"text": "ok"}] * 10_001},
                 {"dataframe_split": {"columns": ["text"], "data": [["ok"]] * 10_001}}):
        response = post(model_server, body)
        assert response.status_code == 400
        assert "send at most 10000 per request" in response.json()["message"]


def test_a_byte_order_mark_before_the_json_is_skipped(model_server):
    response = post(model_server, b'\xef\xbb\xbf{"inputs": ["good"]}')
    assert response.status_code == 200, response.text


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
