"""Leakage-free splitting: every copy of a review text lands on the same side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from .text import clean


@dataclass
class Split:
    train: pd.DataFrame
    test: pd.DataFrame


@dataclass
class Splits:
    """The training workflow's split: held-out test rows, and grouped CV folds over train."""

    train: pd.DataFrame  # candidates are cross-validated and then fit on it
    test: pd.DataFrame   # held out: final metrics and the champion/challenger comparison
    folds: list[tuple[np.ndarray, np.ndarray]]  # grouped CV folds over `train`

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.train), "n_test": len(self.test), "cv_folds": len(self.folds)}


def group_keys(frame: pd.DataFrame) -> pd.Series:
    """Texts that clean to the same string ("GoodREAD MORE", "good") are one group."""
    return frame["text"].map(clean)


def grouped_folds(frame: pd.DataFrame, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, grouped k-fold indices for cross-validation inside the training data."""
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(frame, frame["label"], groups=group_keys(frame)))


def grouped_split(frame: pd.DataFrame, test_size: float, seed: int) -> Split:
    """Stratified by label, grouped by cleaned text, so no text is on both sides."""
    n_splits = max(2, round(1 / test_size))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, test_idx = next(splitter.split(frame, frame["label"], groups=group_keys(frame)))
    return Split(
        train=frame.iloc[train_idx].reset_index(drop=True),
        test=frame.iloc[test_idx].reset_index(drop=True),
    )


def split_for_training(frame: pd.DataFrame, test_size: float, cv_folds: int, seed: int) -> Splits:
    """The grouped test split, then grouped CV folds over what is left."""
    outer = grouped_split(frame, test_size, seed)
    return Splits(train=outer.train, test=outer.test,
                  folds=grouped_folds(outer.train, cv_folds, seed))
