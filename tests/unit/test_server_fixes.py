"""The scoring-server replacements answer exactly as MLflow's own functions do."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.pyfunc import scoring_server

from flipkart_sentiment.serving import server_fixes

# MLflow's own function, also when an earlier test in this process installed the patches.
ORIGINAL = getattr(scoring_server.predictions_to_json, "original", scoring_server.predictions_to_json)
FAST = server_fixes._fast_json(ORIGINAL)


def _both(predictions) -> tuple[str, str]:
    mlflow_out, fast_out = io.StringIO(), io.StringIO()
    ORIGINAL(predictions, mlflow_out)
    FAST(predictions, fast_out)
    return mlflow_out.getvalue(), fast_out.getvalue()


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_like = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4)
                         | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(json_like)
def test_fast_json_writes_the_same_text_as_mlflow(predictions):
    mlflow_out, fast_out = _both(predictions)
    assert fast_out == mlflow_out


@pytest.mark.parametrize("predictions", [
    [{"label": "Positive", "probability": 0.93, "probabilities": {"Negative": 0.02, "Positive": 0.93}}],
    np.array([[0.1, 0.9], [0.5, 0.5]]),
    pd.DataFrame({"label": ["Negative"], "probability": [np.float32(0.25)]}),
    [np.int64(3), np.float64(0.5), "ünïcode ✓"],
])
def test_fast_json_handles_what_models_return(predictions):
    mlflow_out, fast_out = _both(predictions)
    assert fast_out == mlflow_out


def test_install_wraps_each_function_once():
    server_fixes.install()
    invocations, to_json = scoring_server.invocations, scoring_server.predictions_to_json
    server_fixes.install()
    assert scoring_server.invocations is invocations and invocations.patched
    assert scoring_server.predictions_to_json is to_json and to_json.patched


def test_guarded_invocations_answer_bad_requests_without_a_trace():
    from mlflow.pyfunc.scoring_server import MlflowInvalidInputException

    def deep(*_):
        raise RecursionError

    assert server_fixes._guarded(deep)(b"{}", "", None, None).status == 415
    with pytest.raises(MlflowInvalidInputException, match="nested too deeply"):
        server_fixes._guarded(deep)(b"{}", "application/json", None, None)


def test_the_next_app_built_names_the_model_version_on_every_response():
    """What `install` does to the scoring server's app, on an app built the same way."""
    import fastapi
    from fastapi.testclient import TestClient

    from flipkart_sentiment.serving.pyfunc import Registered

    original = fastapi.FastAPI
    server_fixes._extend_next_app([(server_fixes.ResponseHeaders,
                                    {"headers": Registered("flipkart-sentiment", "7").headers()})])
    try:
        app = fastapi.FastAPI()  # as scoring_server.init does, after the model has loaded
        assert fastapi.FastAPI is original, "only the one app gets the middleware"

        @app.get("/ping")
        def ping():
            return {}

        @app.post("/boom")
        def boom():
            raise fastapi.HTTPException(400, "bad")

        client = TestClient(app)
        for response in (client.get("/ping"), client.post("/boom"), client.get("/nowhere")):
            assert response.headers["x-model-version"] == "7"
            assert response.headers["x-model-name"] == "flipkart-sentiment"
        assert "x-model-version" not in TestClient(original()).get("/").headers
    finally:
        fastapi.FastAPI = original
