"""The scoring-server replacements answer exactly as MLflow's own functions do."""

from __future__ import annotations

import io
import json
import re

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
    assert scoring_server._parse_json_data is server_fixes.parse_json_body


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


@pytest.mark.parametrize("body,reason", [
    (b"\xff\xfe{}", "the body is not valid UTF-8 (byte 0)"),
    (b"", "the body is not valid JSON"),
    (b'{"inputs": [' + b"1" * 5_000 + b"]}", "a number in the body has 5,000 digits"),
    (b'{"inputs": [-' + b"9" * 50_000 + b"]}", "has 50,000 digits"),
    (b'{"inputs": ["a"], "inputs": ["b"]}', 'duplicate key "inputs"'),
    (b'{"inputs": [{"text": "a", "text": "b"}]}', 'duplicate key "text"'),
    (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
])
def test_bodies_json_loads_gets_wrong_are_one_line_400s(body, reason):
    from mlflow.pyfunc.scoring_server import MlflowInvalidInputException

    with pytest.raises(MlflowInvalidInputException) as err:
        server_fixes.parse_json_body(body)
    assert reason in err.value.message and "\n" not in err.value.message
    assert err.value.get_http_status_code() == 400


def test_json_the_body_parser_takes_as_is():
    assert server_fixes.decode_json(b'\xef\xbb\xbf{"inputs": ["a"]}') == {"inputs": ["a"]}  # BOM
    assert server_fixes.decode_json('{"inputs": [1e999, 12]}') == {"inputs": [float("inf"), 12]}
    assert server_fixes.decode_json(b'{"inputs": ["\\ud800"]}') == {"inputs": ["\ud800"]}
    assert server_fixes.decode_json(b'{"a": {"b": 1}, "b": {"b": 2}}') == {"a": {"b": 1}, "b": {"b": 2}}


def test_every_request_shape_reaches_the_model_as_the_same_list():
    records = [{"text": "good"}, {"title": "Awful", "text": "broke"}]
    for body in ({"inputs": records}, {"instances": records}, {"dataframe_records": records},
                 {"dataframe_split": {"columns": ["text", "title"],
                                      "data": [["good", None], ["broke", "Awful"]]}}):
        params = {"explain": True, "explain_top": 2}
        parsed = server_fixes.parse_json_body(json.dumps({**body, "params": params}).encode())
        assert [r["text"] for r in parsed.data] == ["good", "broke"]
        assert parsed.params == params and parsed.is_unified_llm_input is False


def test_params_are_checked_before_mlflow_drops_unknown_ones():
    from mlflow.exceptions import MlflowException

    for params, reason in (({"k": 1}, "unknown parameter(s) ['k']"),
                           ({"explain": "true"}, '"explain" must be true or false, got str'),
                           ({"explain_top": 50}, "from 1 to 20, got 50")):
        body = json.dumps({"inputs": ["good"], "params": params}).encode()
        with pytest.raises(MlflowException, match=re.escape(reason)):
            server_fixes.parse_json_body(body)


def test_a_wrong_shape_is_a_400_with_the_accepted_keys():
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as err:
        server_fixes.parse_json_body(b'{"messages": ["hi"]}')
    assert err.value.get_http_status_code() == 400
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert '"inputs", "dataframe_records", "dataframe_split" or "instances"' in err.value.message
