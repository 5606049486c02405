"""Registered model versions for tests: real ones fit on a slice of the data, and broken ones
(an artifact that cannot load), logged the way training logs them, with the MLflow credentials
in the environment (the test servers' admin, unless the caller sets another user's)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow

from .paths import DATA


def _experiment(name: str) -> str:
    found = mlflow.get_experiment_by_name(name)
    return found.experiment_id if found else mlflow.create_experiment(name)


def register_trained(model_name: str, rows: int = 1500, seed: int = 0) -> str:
    """Fit the quick profile's pick on `rows` reviews, log it as training does, register it;
    returns the version."""
    from flipkart_sentiment.adapters.data import from_bytes
    from flipkart_sentiment.adapters.tracking import log_pipeline_model
    from flipkart_sentiment.core.estimators import build_pipeline
    from flipkart_sentiment.core.profiles import PROFILES

    frame = from_bytes(DATA.read_bytes(), str(DATA)).frame.sample(n=rows, random_state=seed)
    pipeline = build_pipeline(PROFILES["quick"][1]).fit(frame, frame["label"])
    with mlflow.start_run(experiment_id=_experiment(f"{model_name}-tests")):
        info = log_pipeline_model(pipeline)
    return str(mlflow.register_model(info.model_uri, model_name).version)


def register_broken(model_name: str) -> str:
    """A version whose pipeline artifact is not a pipeline: it registers fine and fails to load
    in a model server (what a corrupted upload looks like). Returns the version."""
    from flipkart_sentiment.serving import packaging

    with tempfile.TemporaryDirectory() as tmp, packaging.shipped_package() as code:
        garbage = Path(tmp) / "pipeline.joblib"
        garbage.write_bytes(b"this is not a pickled pipeline\n")
        with mlflow.start_run(experiment_id=_experiment(f"{model_name}-tests")):
            # No input example: logging would load the model and fail here instead.
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(packaging.MODEL_CODE),
                artifacts={"pipeline": str(garbage)}, code_paths=[str(code)],
                pip_requirements=packaging.pip_requirements())
    return str(mlflow.register_model(info.model_uri, model_name).version)
