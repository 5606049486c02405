"""Choosing among candidates: out-of-fold predictions by grouped cross-validation, and the rule
that picks the best. Training (workflows/search.py, with MLflow runs) and the quality report
(workflows/quality.py, without) both select with these two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd

from .estimators import ModelParams, build_pipeline
from .metrics import selection_key

T = TypeVar("T")


def cross_validate(params: ModelParams, train: pd.DataFrame, folds, seed: int) -> np.ndarray:
    """Out-of-fold predictions for every training row (each row predicted by a model that
    never saw its text)."""
    predicted = np.empty(len(train), dtype=object)
    for fit_idx, val_idx in folds:
        fold = train.iloc[fit_idx]
        pipeline = build_pipeline(params, seed).fit(fold, fold["label"])
        predicted[val_idx] = pipeline.predict(train.iloc[val_idx])
    return predicted


def pick_best(candidates: Sequence[T], scores: Callable[[T], dict[str, float]]) -> T:
    """Highest weighted F1 (macro F1 breaks ties); the first such candidate on a full tie."""
    return max(candidates, key=lambda c: selection_key(scores(c)))
