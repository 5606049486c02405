"""`params: {"explain": true}` through a real `mlflow models serve` of a model logged the way
training logs it (adapters.tracking.log_pipeline_model, whose signature declares the params)."""

from __future__ import annotations

import httpx
import mlflow
import pytest
from sentiment_testkit.servers import served_model

from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.adapters.tracking import log_pipeline_model
from flipkart_sentiment.core.estimators import build_pipeline
from flipkart_sentiment.core.profiles import PROFILES

pytestmark = pytest.mark.serving
JSON = {"Content-Type": "application/json"}
REVIEWS = [
    "not good at all, feathers broke",
    {"title": "Worthless", "text": "Terrible quality"},
    "Excellent shuttle, very durable",
]


@pytest.fixture(scope="module")
def logged_model(data_path, tmp_path_factory):
    """A quick-profile model logged to a local store and downloaded: the files a server gets."""
    tmp = tmp_path_factory.mktemp("explain-model")
    frame = from_bytes(data_path.read_bytes(), str(data_path)).frame.sample(n=2000, random_state=2)
    pipeline = build_pipeline(PROFILES["quick"][1]).fit(frame, frame["label"])
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    try:
        # An explicit experiment: an earlier test's active one does not exist in this store.
        with mlflow.start_run(experiment_id=mlflow.create_experiment("explanations")):
            info = log_pipeline_model(pipeline)
        path = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=str(tmp / "model"))
    finally:
        mlflow.set_tracking_uri(previous)
    return {"path": path, "tracking": f"sqlite:///{tmp}/mlflow.db", "signature": info.signature}


def _serve(logged_model, tmp_path_factory, **env):
    log = tmp_path_factory.mktemp("explain-server") / "server.log"
    return served_model(logged_model["path"], logged_model["tracking"], log, **env)


@pytest.fixture(scope="module")
def server(logged_model, tmp_path_factory):
    with _serve(logged_model, tmp_path_factory) as (url, _):
        yield url


@pytest.fixture(scope="module")
def sklearn_server(logged_model, tmp_path_factory):
    with _serve(logged_model, tmp_path_factory, SENTIMENT_SERVE_COMPILED="false") as (url, _):
        yield url


def post(url, body):
    data = body if isinstance(body, str) else None
    kwargs = {"content": data} if data is not None else {"json": body}
    return httpx.post(f"{url}/invocations", headers=JSON, timeout=60, **kwargs)


def test_the_signature_declares_the_params(logged_model):
    params = {p["name"]: (p["type"], p["default"]) for p in logged_model["signature"].params.to_dict()}
    assert params == {"explain": ("boolean", False), "explain_top": ("long", 5)}


def test_without_params_the_answer_has_no_explanation(server):
    plain = post(server, {"inputs": REVIEWS})
    assert plain.status_code == 200, plain.text
    off = post(server, {"inputs": REVIEWS, "params": {"explain": False}})
    assert off.status_code == 200, off.text
    assert off.json() == plain.json()
    for prediction in plain.json()["predictions"]:
        assert set(prediction) == {"label", "probability", "probabilities"}


def test_explain_gives_the_reasons_of_each_prediction(server):
    plain = post(server, {"inputs": REVIEWS}).json()["predictions"]
    response = post(server, {"inputs": REVIEWS, "params": {"explain": True, "explain_top": 3}})
    assert response.status_code == 200, response.text
    explained = response.json()["predictions"]
    assert [{k: p[k] for k in ("label", "probability", "probabilities")} for p in explained] == plain
    assert [p["label"] for p in explained] == ["Negative", "Negative", "Positive"]
    for prediction in explained:
        reasons = prediction["explanation"]
        assert set(reasons) == {"toward", "away"}
        assert 1 <= len(reasons["toward"]) <= 3 and len(reasons["away"]) <= 3
        for reason in reasons["toward"] + reasons["away"]:
            assert set(reason) == {"phrase", "weight", "field"}
    assert "not good" in [r["phrase"] for r in explained[0]["explanation"]["toward"]]
    assert "Terrible".lower() in " ".join(r["phrase"] for r in explained[1]["explanation"]["toward"])
    assert explained[2]["explanation"]["toward"][0]["field"] == "text"


@pytest.mark.parametrize(
    "params,reason",
    [
        ({"explain": "yes"}, '"explain" must be true or false, got str'),
        ({"explain": 1}, '"explain" must be true or false, got int'),
        ({"explain": True, "explain_top": 0}, '"explain_top" must be an integer from 1 to 20, got 0'),
        ({"explain": True, "explain_top": 21}, "got 21"),
        ({"explain": True, "explain_top": 2.5}, "got float"),
        ({"explain": True, "explain_top": True}, "got bool"),
        ({"explian": True}, "unknown parameter(s) ['explian']"),
        ([True], '"params" must be an object, got list'),
    ],
)
def test_bad_params_get_a_clean_400(server, params, reason):
    response = post(server, {"inputs": REVIEWS, "params": params})
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert reason in message and "\n" not in message
    assert "Traceback" not in response.text and "stack_trace" not in response.text


def test_the_sklearn_kill_switch_refuses_explanations_with_a_400(sklearn_server):
    assert post(sklearn_server, {"inputs": REVIEWS}).status_code == 200
    response = post(sklearn_server, {"inputs": REVIEWS, "params": {"explain": True}})
    assert response.status_code == 400, response.text
    assert "explanations need the compiled predict path" in response.json()["message"]
    assert "Traceback" not in response.text
