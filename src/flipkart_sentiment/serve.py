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
from typing import Any

import numpy as np
import pandas as pd

_log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
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


def to_frame(model_input: object) -> pd.DataFrame:
    """Normalise any accepted request shape to a DataFrame with string ``title`` and ``text``."""
    if isinstance(model_input, pd.DataFrame):
        columns = [str(c) for c in model_input.columns]
        if "text" in columns:
            texts = model_input["text"].tolist()
        elif len(columns) == 1:  # {"inputs": ["review", ...]} arrives as one unnamed column
            texts = model_input.iloc[:, 0].tolist()
        else:
            raise InvalidReviews(
                f"no 'text' field in the request; got fields {columns}. Send "
                '{"inputs": ["review", ...]} or {"dataframe_records": [{"text": "...", '
                '"title": "..."}]}'
            )
        titles = model_input["title"].tolist() if "title" in columns else [None] * len(texts)
    elif isinstance(model_input, (list, tuple, np.ndarray, pd.Series)):
        texts, titles = [], []
        for item in model_input:
            if isinstance(item, dict):
                texts.append(item.get("text"))
                titles.append(item.get("title"))
            else:
                texts.append(item)
                titles.append(None)
    elif isinstance(model_input, str):
        texts, titles = [model_input], [None]
    elif isinstance(model_input, dict):
        return to_frame(pd.DataFrame(model_input if "text" in model_input else {"text": [None]}))
    else:
        raise InvalidReviews(f"unsupported input type {type(model_input).__name__}")

    if not texts:
        raise InvalidReviews("the request has no reviews")
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
    return pd.DataFrame({"title": clean_titles, "text": clean_texts})


def format_predictions(proba: np.ndarray, classes: Sequence[str]) -> list[dict]:
    best = proba.argmax(axis=1)
    return [
        {
            "label": classes[k],
            "probability": round(float(row[k]), 6),
            "probabilities": {c: round(float(p), 6) for c, p in zip(classes, row, strict=True)},
        }
        for row, k in zip(proba, best, strict=True)
    ]


try:
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

    def _harden_scoring_server() -> None:
        """Make every bad request to `mlflow models serve` a short 4xx without a stack trace.

        Gaps in MLflow's scoring server that no model code can reach, because they happen
        before or around `predict`: a missing Content-Type is a 500; deeply nested JSON raises a
        RecursionError, also a 500; a CSV body is parsed with dtypes taken from the signature,
        which a type-hint signature does not have, and that failure is a 400 carrying the
        Python traceback; and each prediction error is prefixed with the repr of the whole
        request, which for a megabyte review is a megabyte of echo. The scoring server looks up
        `invocations` at call time, so wrapping it here, in the serving process only, fixes all
        of them in one place without forking MLflow.
        """
        from mlflow.pyfunc import scoring_server
        from mlflow.pyfunc.scoring_server import InvocationsResponse, MlflowInvalidInputException

        invocations = scoring_server.invocations
        if getattr(invocations, "hardened", False):
            return

        def guarded(data, content_type, model, input_schema):
            if not content_type:
                return InvocationsResponse(
                    "a Content-Type header is required; send application/json", 415, "text/plain")
            try:
                # The type-hint signature has no column schema to parse with; the model
                # validates what it receives itself.
                return invocations(data, content_type, model, None)
            except RecursionError:
                raise MlflowInvalidInputException("JSON nested too deeply") from None
            except MlflowException as exc:
                message = exc.message or "invalid input"
                if message.startswith("Failed to predict data") and "\nError: " in message:
                    message = message.split("\nError: ", 1)[1]
                if "stack_trace" in exc.json_kwargs:
                    raise MlflowInvalidInputException(message.splitlines()[0]) from None
                exc.message = message
                raise

        guarded.hardened = True
        scoring_server.invocations = guarded

    class SentimentModel(mlflow.pyfunc.PythonModel):
        """Raw review text in, label and class probabilities out."""

        def load_context(self, context):
            import joblib

            _harden_scoring_server()

            self.pipeline = joblib.load(context.artifacts["pipeline"])
            self.classes = [str(c) for c in self.pipeline.classes_]

        # A type hint (not a column schema) makes the scoring server hand over the JSON
        # "inputs" list untouched: a column schema would cast null to the string "None" and
        # reject a plain list of strings before this code could explain what is wrong.
        def predict(self, context, model_input: list[Any], params=None) -> list[dict[str, Any]]:
            try:
                frame = to_frame(model_input)
            except InvalidReviews as exc:
                raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
            try:
                proba = self.pipeline.predict_proba(frame)
            except Exception:
                # A bug, not bad input: full trace in the server log, none in the response.
                _log.exception("prediction failed for %d review(s)", len(frame))
                raise MlflowException("prediction failed; see the model server log",
                                      error_code=INTERNAL_ERROR) from None
            return format_predictions(proba, self.classes)

except ImportError:  # pragma: no cover - the package is usable without mlflow for pure modelling
    SentimentModel = None  # type: ignore[assignment,misc]
