"""Choosing among candidates: out-of-fold predictions by grouped cross-validation, and the rule
that picks the best. Training (workflows/search.py, with MLflow runs) and the quality report
(workflows/quality.py, without) both select with these two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

from .estimators import ModelParams, build_pipeline
from .metrics import selection_key

T = TypeVar("T")


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold class probabilities of every training row, columns in the order of `classes`."""

    classes: np.ndarray
    proba: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        """The argmax label: what each pipeline's ``predict`` returns (the served model too)."""
        return self.classes[self.proba.argmax(axis=1)]


def cross_validate(params: ModelParams, train: pd.DataFrame, folds, seed: int) -> OutOfFold:
    """Out-of-fold probabilities for every training row (each row scored by a model that never
    saw its text). A class a fold's model did not see gets probability 0 in that fold."""
    classes = np.asarray(sorted(train["label"].unique()), dtype=object)
    column = {c: k for k, c in enumerate(classes)}
    proba = np.zeros((len(train), len(classes)))
    for fit_idx, val_idx in folds:
        fold = train.iloc[fit_idx]
        pipeline = build_pipeline(params, seed).fit(fold, fold["label"])
        columns = [column[c] for c in pipeline.classes_]
        proba[np.ix_(val_idx, columns)] = pipeline.predict_proba(train.iloc[val_idx])
    return OutOfFold(classes, proba)


def pick_best(candidates: Sequence[T], scores: Callable[[T], dict[str, float]]) -> T:
    """Highest weighted F1 (macro F1 breaks ties); the first such candidate on a full tie."""
    return max(candidates, key=lambda c: selection_key(scores(c)))
