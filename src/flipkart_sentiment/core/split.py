"""Leakage-free splitting: every copy of a review text lands on the same side, and reviews that
arrive later never move a shipped review across."""

from __future__ import annotations

import hashlib
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
    """The training workflow's split: held-out test rows, the training rows, and the rows the
    candidates are compared on (all of train, or a stratified sample of it) with grouped CV
    folds over them."""

    train: pd.DataFrame  # the chosen candidate is fit on it
    test: pd.DataFrame   # held out: final metrics and the champion/challenger comparison
    folds: list[tuple[np.ndarray, np.ndarray]]  # grouped CV folds over `search`
    search: pd.DataFrame | None = None  # candidates are cross-validated on it; None: `train`

    def __post_init__(self) -> None:
        if self.search is None:
            self.search = self.train

    @property
    def sampled(self) -> bool:
        """True when the search sees fewer rows than the chosen model is fit on."""
        return len(self.search) < len(self.train)

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.train), "n_test": len(self.test), "cv_folds": len(self.folds),
                "search_rows": len(self.search)}


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


# Rows of a frame with this column set to True arrived after the shipped file (adapters.data
# .combine): labeled reviews appended for retraining.
ARRIVED = "arrived"


def _hash_share(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def add_arrivals(split: Split, arrived: pd.DataFrame, test_size: float) -> Split:
    """Put later reviews on a side that does not depend on what else arrived: a text already on
    one side joins it, any other goes to test when a hash of it falls below `test_size`.

    Why not re-split everything: the gate scores production on the challenger's test rows, and a
    fresh split of grown data would put rows production was trained on among them (measured:
    production 0.919 vs challenger 0.864 weighted F1, on rows production had learnt)."""
    keys = group_keys(arrived)
    in_train, in_test = set(group_keys(split.train)), set(group_keys(split.test))
    to_test = keys.isin(in_test) | (~keys.isin(in_train) & (keys.map(_hash_share) < test_size))
    return Split(
        train=pd.concat([split.train, arrived[~to_test]], ignore_index=True),
        test=pd.concat([split.test, arrived[to_test]], ignore_index=True),
    )


def search_sample(train: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows of `train` (0: no cap) with its label mix, drawn with `seed`;
    `train` itself when it is no bigger. Every label keeps at least one row, and each label's
    share is its share of `train` rounded by largest remainder, so the sample has exactly
    `max_rows` rows (more only when there are more labels than that). Rows keep their order."""
    if max_rows <= 0 or len(train) <= max_rows:
        return train
    labels = train["label"].to_numpy()
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * max_rows / len(train)
    quota = np.maximum(np.floor(exact).astype(int), 1)
    for k in np.argsort(-(exact - np.floor(exact)), kind="stable"):  # largest remainder first
        if quota.sum() >= max_rows:
            break
        quota[k] += 1
    while quota.sum() > max_rows and (quota > 1).any():  # the at-least-one rule overshot
        quota[np.argmax(quota)] -= 1
    rng = np.random.default_rng(seed)
    picked = np.concatenate([rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
                             for c, q in zip(classes, quota, strict=True)])
    return train.iloc[np.sort(picked)].reset_index(drop=True)


def split_for_training(frame: pd.DataFrame, test_size: float, cv_folds: int, seed: int,
                       search_max_rows: int = 0) -> Splits:
    """The grouped test split of the shipped rows, the arrived rows added to it (add_arrivals),
    then grouped CV folds over the training side, or over a stratified sample of it of at most
    `search_max_rows` rows (search_sample; 0: no cap)."""
    if ARRIVED in frame:
        arrived = frame[ARRIVED].astype(bool)
        outer = add_arrivals(grouped_split(frame[~arrived].reset_index(drop=True), test_size, seed),
                             frame[arrived].reset_index(drop=True), test_size)
    else:
        outer = grouped_split(frame, test_size, seed)
    search = search_sample(outer.train, search_max_rows, seed)
    return Splits(train=outer.train, test=outer.test, folds=grouped_folds(search, cv_folds, seed),
                  search=search)
