"""The pyfunc outside a server: any number of reviews, its registered name, its warm-up."""

from __future__ import annotations

import joblib
import mlflow.pyfunc
import numpy as np
import pytest

from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.core.estimators import build_pipeline
from flipkart_sentiment.core.profiles import PROFILES
from flipkart_sentiment.serving.packaging import MODEL_CODE
from flipkart_sentiment.serving.pyfunc import Registered, registered_as


@pytest.fixture(scope="module")
def saved_model(data_path, tmp_path_factory):
    frame = from_bytes(data_path.read_bytes(), str(data_path)).frame.sample(n=1500, random_state=2)
    tmp = tmp_path_factory.mktemp("pyfunc")
    joblib.dump(build_pipeline(PROFILES["quick"][1]).fit(frame, frame["label"]), tmp / "p.joblib")
    mlflow.pyfunc.save_model(tmp / "model", python_model=str(MODEL_CODE),
                             artifacts={"pipeline": str(tmp / "p.joblib")})
    return tmp / "model"


def test_in_process_scoring_has_no_request_bound(saved_model):
    """The gate, the CLI and batch scoring call predict in-process: 10,000 is an HTTP limit."""
    model = mlflow.pyfunc.load_model(str(saved_model))
    reviews = [f"good shuttle number {i}" if i % 2 else "worst, broke at once" for i in range(25_001)]
    out = model.predict(reviews)
    assert len(out) == 25_001
    assert out[0]["label"] == "Negative" and out[1]["label"] == "Positive"
    # Batches of 10,000 answer exactly as one call would.
    small = model.predict(reviews[9_998:10_002])
    assert [p["probabilities"] for p in small] == [p["probabilities"] for p in out[9_998:10_002]]


def test_the_registered_name_and_version_come_from_mlflows_download(saved_model, tmp_path):
    assert registered_as(saved_model) == Registered()
    assert Registered().headers() == {}
    (tmp_path / "registered_model_meta").write_text("model_name: flipkart-sentiment\nmodel_version: '12'\n")
    registered = registered_as(tmp_path)
    assert registered == Registered("flipkart-sentiment", "12")
    assert registered.headers() == {"X-Model-Name": "flipkart-sentiment", "X-Model-Version": "12"}


def test_a_model_that_cannot_predict_never_finishes_loading(saved_model, tmp_path):
    """Warm-up in load_context: a broken model fails to load (the server never becomes Ready)
    instead of answering 500s."""
    import shutil

    broken = tmp_path / "model"
    shutil.copytree(saved_model, broken)
    pipeline = joblib.load(broken / "artifacts" / "p.joblib")
    pipeline.named_steps["classifier"].coef_ = np.full_like(pipeline.named_steps["classifier"].coef_,
                                                            np.nan)
    joblib.dump(pipeline, broken / "artifacts" / "p.joblib")
    with pytest.raises(Exception, match="warm-up predictions are malformed"):
        mlflow.pyfunc.load_model(str(broken))


def test_explanations_in_process_and_no_new_key_without_them(saved_model):
    model = mlflow.pyfunc.load_model(str(saved_model))
    plain = model.predict(["not good at all", "excellent product"])
    assert all(set(p) == {"label", "probability", "probabilities"} for p in plain)
    python_model = model.unwrap_python_model()
    explained = python_model.predict(None, ["not good at all", "excellent product"],
                                     params={"explain": True, "explain_top": 2})
    assert [{k: p[k] for k in plain[0]} for p in explained] == plain
    assert "not good" in [r["phrase"] for r in explained[0]["explanation"]["toward"]]
    assert all(len(p["explanation"]["toward"]) <= 2 for p in explained)
