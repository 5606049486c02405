"""The MLflow pyfunc served by ``mlflow models serve``: input checks, labels and probabilities.

MLflow's scoring server turns an ``MlflowException`` raised from ``predict`` into an HTTP 400 with
a JSON message and no stack trace, whereas any other exception becomes a message with the Python
traceback attached. So every way a request can be wrong is caught here and re-raised as one
``MlflowException`` with a one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

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
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    def _guard_json_depth() -> None:
        """Answer 400, not 500, to JSON nested deeper than the parser's recursion limit.

        The scoring server decodes the body before any model code runs and only turns
        JSONDecodeError into a 400; the RecursionError that a body such as 100,000 "[" raises
        escapes as a 500. The guard wraps that one decoder, in the serving process only.
        """
        from mlflow.pyfunc import scoring_server
        from mlflow.pyfunc.scoring_server import MlflowInvalidInputException

        decode = scoring_server._decode_json_input
        if getattr(decode, "_depth_guarded", False):
            return

        def guarded(json_input):
            try:
                return decode(json_input)
            except RecursionError:
                raise MlflowInvalidInputException("Invalid input: JSON nested too deeply") from None

        guarded._depth_guarded = True
        scoring_server._decode_json_input = guarded

    class SentimentModel(mlflow.pyfunc.PythonModel):
        """Raw review text in, label and class probabilities out."""

        def load_context(self, context):
            import joblib

            _guard_json_depth()

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
            return format_predictions(self.pipeline.predict_proba(frame), self.classes)

except ImportError:  # pragma: no cover - the package is usable without mlflow for pure modelling
    SentimentModel = None  # type: ignore[assignment,misc]
