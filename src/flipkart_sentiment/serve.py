"""The MLflow pyfunc served by ``mlflow models serve``: input checks, labels and probabilities.

MLflow's scoring server turns an ``MlflowException`` raised from ``predict`` into an HTTP 400 with
a JSON message and no stack trace, whereas any other exception becomes a message with the Python
traceback attached. So every way a request can be wrong is caught here and re-raised as one
``MlflowException`` with a one-line reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

_log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
# One request is scored in one go; a bound keeps one client from holding a worker for long.
MAX_REVIEWS = 10_000
MAX_REPORTED_PROBLEMS = 3


class InvalidReviews(ValueError):
    """Request rows that cannot be scored; the message lists the first few problems."""


def _describe(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return type(value).__name__


def _check_field(value: object, field: str, row: int, required: bool) -> tuple[str, str | None]:
    """Return (clean value, problem or None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", (f"review {row}: '{field}' is null" if required else None)
    if not isinstance(value, str):
        return "", f"review {row}: '{field}' must be a string, got {_describe(value)}"
    if required and not value.strip():
        return "", f"review {row}: '{field}' is empty"
    if len(value) > MAX_TEXT_CHARS:
        return "", f"review {row}: '{field}' is longer than {MAX_TEXT_CHARS} characters"
    return value, None


class Reviews(NamedTuple):
    """A validated request: one title (possibly empty) and one non-empty text per review."""

    titles: list[str]
    texts: list[str]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"title": self.titles, "text": self.texts})


def _fields(model_input: object) -> tuple[list, list]:
    """(texts, titles) as sent, from any accepted request shape."""
    if isinstance(model_input, (list, tuple, np.ndarray, pd.Series)):
        texts, titles = [], []
        for item in model_input:
            if isinstance(item, dict):
                texts.append(item.get("text"))
                titles.append(item.get("title"))
            else:
                texts.append(item)
                titles.append(None)
        return texts, titles
    if isinstance(model_input, str):
        return [model_input], [None]
    if isinstance(model_input, dict):
        return _fields(pd.DataFrame(model_input if "text" in model_input else {"text": [None]}))
    if isinstance(model_input, pd.DataFrame):
        columns = [str(c) for c in model_input.columns]
        if "text" in columns:
            texts = model_input["text"].tolist()
        elif len(columns) == 1:  # {"inputs": ["review", ...]} arrives as one unnamed column
            texts = model_input.iloc[:, 0].tolist()
        else:
            raise InvalidReviews(
                f"no 'text' field in the request; got fields {columns}. Send "
                '{"inputs": ["review", ...]} or {"inputs": [{"text": "...", "title": "..."}]}'
            )
        titles = model_input["title"].tolist() if "title" in columns else [None] * len(texts)
        return texts, titles
    raise InvalidReviews(f"unsupported input type {type(model_input).__name__}")


def parse_reviews(model_input: object) -> Reviews:
    """Validate any accepted request shape; every problem found is named in one line."""
    texts, titles = _fields(model_input)
    if not texts:
        raise InvalidReviews("the request has no reviews")
    if len(texts) > MAX_REVIEWS:
        raise InvalidReviews(f"the request has {len(texts)} reviews; send at most {MAX_REVIEWS} "
                             "per request")
    problems: list[str] = []
    clean_texts, clean_titles = [], []
    for i, (text, title) in enumerate(zip(texts, titles, strict=True)):
        text, problem = _check_field(text, "text", i, required=True)
        title, title_problem = _check_field(title, "title", i, required=False)
        problems += [p for p in (problem, title_problem) if p]
        clean_texts.append(text)
        clean_titles.append(title)
    if problems:
        more = len(problems) - MAX_REPORTED_PROBLEMS
        shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise InvalidReviews(shown)
    return Reviews(clean_titles, clean_texts)


def format_predictions(proba: np.ndarray, classes: Sequence[str]) -> list[dict]:
    best = proba.argmax(axis=1).tolist()
    rounded = np.round(proba, 6).tolist()
    return [
        {"label": classes[k], "probability": row[k], "probabilities": dict(zip(classes, row, strict=True))}
        for row, k in zip(rounded, best, strict=True)
    ]


try:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

    class SentimentModel(mlflow.pyfunc.PythonModel):
        """Raw review text in, label and class probabilities out."""

        def load_context(self, context):
            import joblib

            from . import server_patches
            from .config import ServingSettings
            from .scoring import CompiledScorer, Uncompilable

            serving = server_patches.in_scoring_server()
            if serving:
                server_patches.install()
                server_patches.log_to_stderr(logging.getLogger(__package__))
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
                    path = f"sklearn pipeline, not compilable: {exc}"
            if serving:
                if settings.freeze_heap:
                    server_patches.freeze_loaded_heap()
                _log.info("predict path: %s; heap frozen: %s", path, settings.freeze_heap)

        def __getstate__(self):
            # MLflow runs the input example through load_context before it pickles this
            # object; what load_context builds comes from the artifact, so it is not pickled
            # (the scorer's caches are closures, and the pipeline would be stored twice).
            return {}

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

except ImportError:  # pragma: no cover - the package is usable without mlflow for pure modelling
    SentimentModel = None  # type: ignore[assignment,misc]
