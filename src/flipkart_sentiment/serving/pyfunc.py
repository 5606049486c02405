"""The MLflow pyfunc served by ``mlflow models serve``: input checks, labels and probabilities.

MLflow's scoring server turns an ``MlflowException`` raised from ``predict`` into an HTTP 400 with
a JSON message and no stack trace, whereas any other exception becomes a message with the Python
traceback attached. So every way a request can be wrong is caught here and re-raised as one
``MlflowException`` with a one-line reason.

Logged as a model from code (``model_code.py``, see ``packaging``): nothing of this class is
pickled, and loading it imports only ``serving``, ``config`` and ``core``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import yaml
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

from .reviews import (
    MAX_REVIEWS,
    InvalidReviews,
    Reviews,
    format_predictions,
    parse_reviews,
    request_params,
)

_log = logging.getLogger(__name__)

# In-process calls are scored this many reviews at a time: memory stays flat for any size.
BATCH = 10_000
WARM_UP = ["Great shuttle, fast delivery", {"title": "Worthless", "text": "not good, broke at once"}]


class ModelNotServable(RuntimeError):
    """The model's files are there, but it cannot answer: its pipeline does not load, or its
    warm-up predictions are malformed. The message is what a failed rollout reports."""


@dataclass(frozen=True)
class Registered:
    """The registry name and version this model was loaded as (MLflow writes them next to a
    model it downloads by models:/ URI); empty when it was loaded from a path or a run."""

    name: str = ""
    version: str = ""

    def describe(self) -> str:
        return f"{self.name} version {self.version}" if self.version else "unregistered model"

    def headers(self) -> dict[str, str]:
        return {"X-Model-Name": self.name, "X-Model-Version": self.version} if self.version else {}


def registered_as(model_dir: Path) -> Registered:
    meta = model_dir / "registered_model_meta"
    try:
        fields = yaml.safe_load(meta.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return Registered()
    return Registered(str(fields.get("model_name") or ""), str(fields.get("model_version") or ""))


class SentimentModel(mlflow.pyfunc.PythonModel):
    """Raw review text in, label and class probabilities out."""

    def load_context(self, context):
        from . import server_fixes

        try:
            self._load(context)
        except Exception:
            if server_fixes.in_scoring_server():
                _log.exception("the model cannot be served")
                server_fixes.stop_supervisor()
            raise

    def _load(self, context):
        import joblib

        from ..config import ServingSettings
        from ..core.compiled import CompiledScorer, Uncompilable
        from ..core.explain import Explainer
        from . import server_fixes

        started = time.perf_counter()
        serving = server_fixes.in_scoring_server()
        model_dir = Path(context.artifacts["pipeline"]).parents[1]
        self.registered = registered_as(model_dir)
        self.metrics = None
        self.prediction_log = None
        settings = ServingSettings()
        if serving:
            if settings.metrics:
                from . import metrics

                self.metrics = metrics.for_this_server()
            if settings.prediction_log:
                from . import prediction_log

                self.prediction_log = prediction_log.for_this_server(
                    settings, self.registered.name, self.registered.version, self.metrics)
            server_fixes.install(self.registered, self.metrics, on_shutdown=[
                self.prediction_log.close] if self.prediction_log is not None else [])
            server_fixes.log_to_stderr(logging.getLogger(__package__.rpartition(".")[0]))
        # One HTTP request is bounded; in-process callers score any number, in batches.
        self.max_reviews = MAX_REVIEWS if serving else None

        try:
            self.pipeline = joblib.load(context.artifacts["pipeline"])
        except Exception as exc:  # any unpickling error: say which file and what it means
            raise ModelNotServable(
                f"the pipeline artifact cannot be unpickled ({type(exc).__name__}: {exc}); it is "
                "corrupt, or was written by an incompatible release") from exc
        self.classes = [str(c) for c in self.pipeline.classes_]
        self.scorer = None
        self.explainer = None
        path = "sklearn pipeline (SENTIMENT_SERVE_COMPILED=false)"
        if settings.compiled:
            try:
                self.scorer = CompiledScorer(self.pipeline)
                self.explainer = Explainer(self.scorer, self.pipeline)
                path = f"compiled ({len(self.scorer.coef_t):,} features)"
            except Uncompilable as exc:
                # Training refuses such a pipeline; only a model from elsewhere gets here.
                path = f"sklearn pipeline, not compilable: {exc}"
                _log.warning("this model cannot use the compiled predict path: %s", exc)
        self._warm_up()
        if self.metrics is not None:
            self.metrics.model_loaded(self.registered.name, self.registered.version,
                                      time.perf_counter() - started)
        if serving:
            if settings.freeze_heap:
                server_fixes.freeze_loaded_heap()
            _log.info("%s: predict path: %s; heap frozen: %s; warm-up scored",
                      self.registered.describe(), path, settings.freeze_heap)

    def _warm_up(self) -> None:
        """Score a few reviews before the server answers /ping: a model that cannot predict
        never becomes Ready, so its rollout fails and is reverted instead of serving errors."""
        proba = self._predict_proba(parse_reviews(WARM_UP))
        if proba.shape != (len(WARM_UP), len(self.classes)) or not np.isfinite(proba).all():
            raise ModelNotServable(f"warm-up predictions are malformed: shape {proba.shape}, "
                                   f"finite: {bool(np.isfinite(proba).all())}")

    def _predict_proba(self, reviews: Reviews) -> np.ndarray:
        if self.scorer is not None:
            return self.scorer.predict_proba(reviews.titles, reviews.texts)
        return self.pipeline.predict_proba(reviews.frame())

    # A type hint (not a column schema) makes the scoring server hand over the JSON
    # "inputs" list untouched: a column schema would cast null to the string "None" and
    # reject a plain list of strings before this code could explain what is wrong.
    def predict(self, context, model_input: list[Any], params=None) -> list[dict[str, Any]]:
        try:
            reviews = parse_reviews(model_input, self.max_reviews)
            explain, top = request_params(params) if params else (False, 0)
        except InvalidReviews as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        if explain and self.explainer is None:
            raise MlflowException("explanations need the compiled predict path; this server answers "
                                  "with the sklearn pipeline (SENTIMENT_SERVE_COMPILED=false, or a "
                                  "model that cannot be compiled)", error_code=INVALID_PARAMETER_VALUE)
        try:
            if explain:
                proba, reasons = self._predict_explained(reviews, top)
            else:
                proba = np.vstack([self._predict_proba(batch) for batch in reviews.batches(BATCH)])
        except Exception:
            # A bug, not bad input: full trace in the server log, none in the response.
            _log.exception("prediction failed for %d review(s)", len(reviews.texts))
            raise MlflowException("prediction failed; see the model server log",
                                  error_code=INTERNAL_ERROR) from None
        predictions = format_predictions(proba, self.classes)
        if self.metrics is not None:
            self.metrics.scored(self.registered.version, (p["label"] for p in predictions))
        if self.prediction_log is not None:
            self.prediction_log.add(reviews.titles, reviews.texts, predictions)
        if explain:
            for prediction, explanation in zip(predictions, reasons, strict=True):
                prediction["explanation"] = explanation
        return predictions

    def _predict_explained(self, reviews: Reviews, top: int) -> tuple[np.ndarray, list[dict]]:
        probas, reasons = [], []
        for batch in reviews.batches(BATCH):
            proba, explained = self.explainer.predict_explained(batch.titles, batch.texts, top)
            probas.append(proba)
            reasons += explained
        return np.vstack(probas), reasons
