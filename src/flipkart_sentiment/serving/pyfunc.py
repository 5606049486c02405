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
from typing import Any

import mlflow.pyfunc
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

from .reviews import InvalidReviews, Reviews, format_predictions, parse_reviews

_log = logging.getLogger(__name__)


class SentimentModel(mlflow.pyfunc.PythonModel):
    """Raw review text in, label and class probabilities out."""

    def load_context(self, context):
        import joblib

        from ..config import ServingSettings
        from ..core.compiled import CompiledScorer, Uncompilable
        from . import server_fixes

        serving = server_fixes.in_scoring_server()
        if serving:
            server_fixes.install()
            server_fixes.log_to_stderr(logging.getLogger(__package__.rpartition(".")[0]))
        settings = ServingSettings()

        self.pipeline = joblib.load(context.artifacts["pipeline"])
        self.classes = [str(c) for c in self.pipeline.classes_]
        self.scorer = None
        path = "sklearn pipeline (SENTIMENT_SERVE_COMPILED=false)"
        if settings.compiled:
            try:
                self.scorer = CompiledScorer(self.pipeline)
                path = f"compiled ({len(self.scorer.coef_t):,} features)"
            except Uncompilable as exc:
                # Training refuses such a pipeline; only a model from elsewhere gets here.
                path = f"sklearn pipeline, not compilable: {exc}"
                _log.warning("this model cannot use the compiled predict path: %s", exc)
        if serving:
            if settings.freeze_heap:
                server_fixes.freeze_loaded_heap()
            _log.info("predict path: %s; heap frozen: %s", path, settings.freeze_heap)

    def _predict_proba(self, reviews: Reviews) -> np.ndarray:
        if self.scorer is not None:
            return self.scorer.predict_proba(reviews.titles, reviews.texts)
        return self.pipeline.predict_proba(reviews.frame())

    # A type hint (not a column schema) makes the scoring server hand over the JSON
    # "inputs" list untouched: a column schema would cast null to the string "None" and
    # reject a plain list of strings before this code could explain what is wrong.
    def predict(self, context, model_input: list[Any], params=None) -> list[dict[str, Any]]:
        try:
            reviews = parse_reviews(model_input)
        except InvalidReviews as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        try:
            proba = self._predict_proba(reviews)
        except Exception:
            # A bug, not bad input: full trace in the server log, none in the response.
            _log.exception("prediction failed for %d review(s)", len(reviews.texts))
            raise MlflowException("prediction failed; see the model server log",
                                  error_code=INTERNAL_ERROR) from None
        return format_predictions(proba, self.classes)
