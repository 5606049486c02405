"""A request's reviews: every accepted shape parsed and validated, and predictions formatted.

Pure Python (no MLflow): the pyfunc turns ``InvalidReviews`` into the scoring server's 400.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

MAX_TEXT_CHARS = 20_000
# An HTTP request is scored in one go; a bound keeps one client from holding a worker for long.
# In-process callers (the gate, the CLI, batch scoring) have no bound: they score in batches.
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

    def batches(self, size: int) -> Iterator[Reviews]:
        for start in range(0, len(self.texts), size):
            yield Reviews(self.titles[start:start + size], self.texts[start:start + size])


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


def parse_reviews(model_input: object, max_reviews: int | None = MAX_REVIEWS) -> Reviews:
    """Validate any accepted request shape; every problem found is named in one line.
    ``max_reviews`` bounds one request (None: no bound)."""
    texts, titles = _fields(model_input)
    if not texts:
        raise InvalidReviews("the request has no reviews")
    if max_reviews is not None and len(texts) > max_reviews:
        raise InvalidReviews(f"the request has {len(texts)} reviews; send at most {max_reviews} "
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
