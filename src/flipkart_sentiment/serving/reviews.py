"""A request's reviews: every accepted shape parsed and validated, and predictions formatted.

Pure Python (no MLflow): the pyfunc turns ``InvalidReviews`` into the scoring server's 400.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..core.explain import DEFAULT_TOP, MAX_TOP

MAX_TEXT_CHARS = 20_000
# An HTTP request is scored in one go; a bound keeps one client from holding a worker for long.
# In-process callers (the gate, the CLI, batch scoring) have no bound: they score in batches.
MAX_REVIEWS = 10_000
MAX_REPORTED_PROBLEMS = 3

# The request shapes of MLflow's scoring protocol; a body carries exactly one of them.
SHAPES = ("inputs", "dataframe_records", "dataframe_split", "instances")
FORMATS_HINT = ('send a JSON object with exactly one of "inputs", "dataframe_records", '
                '"dataframe_split" or "instances" (and optionally "params")')
# A field that a record does not have (as opposed to one sent as null).
MISSING = object()
# A letter or digit of any script (\w without the underscore).
_ALNUM = re.compile(r"[^\W_]")


# The request parameters (MLflow's "params") and their defaults; the logged model's signature
# declares them (adapters/tracking.py), else MLflow's scoring server would drop them.
PARAMS = {"explain": False, "explain_top": DEFAULT_TOP}


class InvalidReviews(ValueError):
    """Request rows that cannot be scored; the message lists the first few problems."""


def _describe(value: object) -> str:
    if value is MISSING:
        return "missing"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return type(value).__name__


def has_content(text: str) -> bool:
    """True if ``text`` has a letter or digit (any script) or a symbol such as an emoji; False
    for only whitespace, punctuation, zero-width or other invisible characters (U+200B, U+FEFF,
    lone surrogates): the model finds no feature in those and would answer its prior alone."""
    if _ALNUM.search(text):
        return True
    return any(unicodedata.category(c) == "So" for c in text)


def _check_field(value: object, field: str, row: int, required: bool) -> tuple[str, str | None]:
    """Return (clean value, problem or None)."""
    if value is MISSING:
        return "", (f"review {row}: '{field}' is missing" if required else None)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", (f"review {row}: '{field}' is null" if required else None)
    if not isinstance(value, str):
        return "", f"review {row}: '{field}' must be a string, got {_describe(value)}"
    if required and not value.strip():
        return "", f"review {row}: '{field}' is empty"
    if len(value) > MAX_TEXT_CHARS:
        return "", f"review {row}: '{field}' is longer than {MAX_TEXT_CHARS} characters"
    if required and not has_content(value):
        return "", (f"review {row}: '{field}' has no letters, digits or emoji (only whitespace, "
                    "punctuation or invisible characters)")
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
                texts.append(item.get("text", MISSING))
                titles.append(item.get("title", MISSING))
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


def _check_count(count: int, max_reviews: int | None) -> None:
    if max_reviews is not None and count > max_reviews:
        raise InvalidReviews(f"the request has {count} reviews; send at most {max_reviews} "
                             "per request")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _names(names: list, shown: int = 8) -> str:
    """A short, one-line list of (possibly long or odd) names sent by a client."""
    more = ", ..." if len(names) > shown else ""
    return "[" + ", ".join(_short(n, 30) for n in names[:shown]) + more + "]"


def _list(value: object, what: str) -> list:
    if not isinstance(value, list):
        raise InvalidReviews(f"{what} must be a list, got {_describe(value)}")
    return value


def _split_rows(split: object, max_reviews: int | None) -> list[dict]:
    """``dataframe_split`` ({"columns": [...], "data": [[...], ...], "index": [...]}) as records."""
    if not isinstance(split, dict):
        raise InvalidReviews('"dataframe_split" must be an object with "columns" and "data", got '
                             f"{_describe(split)}")
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if unknown:
        raise InvalidReviews(f'"dataframe_split" has unknown keys {_names(unknown)}; '
                             'it takes "columns", "data" and optionally "index"')
    if "columns" not in split or "data" not in split:
        raise InvalidReviews('"dataframe_split" needs "columns" and "data"')
    columns = _list(split["columns"], '"dataframe_split" "columns"')
    rows = _list(split["data"], '"dataframe_split" "data"')
    if not all(isinstance(c, str) for c in columns):
        bad = next(c for c in columns if not isinstance(c, str))
        raise InvalidReviews(f'"dataframe_split" column names must be strings, got {_describe(bad)}')
    if len(set(columns)) != len(columns):
        raise InvalidReviews(f'"dataframe_split" has duplicate columns {_names(columns)}')
    if "text" not in columns:
        raise InvalidReviews(f"\"dataframe_split\" has no 'text' column; got columns "
                             f"{_names(columns)}")
    if "index" in split and (not isinstance(split["index"], list) or len(split["index"]) != len(rows)):
        raise InvalidReviews('"dataframe_split" "index" must be a list as long as "data"')
    _check_count(len(rows), max_reviews)
    text_at = columns.index("text")
    title_at = columns.index("title") if "title" in columns else None
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidReviews(f'"dataframe_split" row {i} must be a list of {len(columns)} values '
                                 f"(one per column), got {_describe(row)}"
                                 + (f" of {len(row)}" if isinstance(row, list) else ""))
        records.append({"text": row[text_at]} if title_at is None
                       else {"text": row[text_at], "title": row[title_at]})
    return records


def request_reviews(body: object, max_reviews: int | None = MAX_REVIEWS) -> list:
    """The reviews of a decoded JSON request body, in any of MLflow's request shapes, as the
    list ``parse_reviews`` takes (strings and {"text", "title"} objects). Only the shape is
    checked here; ``parse_reviews`` checks every review, the same way for every shape.

    - ``inputs``, ``instances``: a list of review texts or objects with ``text`` and an optional
      ``title`` (other fields are ignored);
    - ``dataframe_records``: a list of such objects (rows of a frame with columns text, title);
    - ``dataframe_split``: {"columns": [...], "data": [[...], ...], "index": [...]}, with a
      ``text`` column and an optional ``title`` column (other columns are ignored).
    Other top-level keys ("params", which MLflow passes on) are left alone, as MLflow does."""
    if not isinstance(body, dict):
        raise InvalidReviews(f"the body must be a JSON object, got {_describe(body)}; {FORMATS_HINT}")
    shapes = [key for key in SHAPES if key in body]
    if len(shapes) != 1:
        raise InvalidReviews(f"{FORMATS_HINT}; got keys {_names(list(body))}")
    shape = shapes[0]
    value = body[shape]
    if shape == "dataframe_split":
        return _split_rows(value, max_reviews)
    if shape == "dataframe_records":
        rows = _list(value, '"dataframe_records"')
        _check_count(len(rows), max_reviews)
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InvalidReviews(f'"dataframe_records" row {i} must be an object with '
                                     f"'text' and an optional 'title', got {_describe(row)}")
        return rows
    return _list(value, f'"{shape}"')


def parse_reviews(model_input: object, max_reviews: int | None = MAX_REVIEWS) -> Reviews:
    """Validate any accepted request shape; every problem found is named in one line.
    ``max_reviews`` bounds one request (None: no bound)."""
    texts, titles = _fields(model_input)
    if not texts:
        raise InvalidReviews("the request has no reviews")
    _check_count(len(texts), max_reviews)
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


def request_params(params: object) -> tuple[bool, int]:
    """(explain, explain_top) from a request's ``params``: missing or null means the defaults;
    an unknown key or a wrong type is an InvalidReviews naming it (MLflow would drop an unknown
    key with a warning in the server log, which a client never sees)."""
    if params is None:
        return False, DEFAULT_TOP
    if not isinstance(params, dict):
        raise InvalidReviews(f'"params" must be an object, got {_describe(params)}')
    unknown = [k for k in params if k not in PARAMS]
    if unknown:
        raise InvalidReviews(f'unknown parameter(s) {_names(unknown)} in "params"; the model takes '
                             '"explain" (true/false) and "explain_top" (1-20)')
    explain = params.get("explain", False)
    if not isinstance(explain, (bool, np.bool_)):
        raise InvalidReviews(f'"params": "explain" must be true or false, got {_describe(explain)}')
    top = params.get("explain_top", DEFAULT_TOP)
    integer = isinstance(top, (int, np.integer)) and not isinstance(top, (bool, np.bool_))
    if not integer or not 1 <= top <= MAX_TOP:
        shown = _short(top) if integer else _describe(top)
        raise InvalidReviews(f'"params": "explain_top" must be an integer from 1 to {MAX_TOP}, '
                             f"got {shown}")
    return bool(explain), int(top)
