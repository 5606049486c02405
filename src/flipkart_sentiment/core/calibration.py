"""How far the model's probabilities are from the frequencies they claim: expected calibration
error (ECE) and the data of a reliability diagram. Pure numpy.

- Overall ECE is top-label: each review's confidence is its highest probability, and a bin's
  gap is |mean confidence - share of its reviews whose top label is right|.
- Per-class ECE is one-vs-rest: class k's probability of every review against whether the
  review is of class k.

Either is the mean of the bins' gaps weighted by the bins' shares of reviews. Bins are
``N_BINS`` equal-width intervals of [0, 1] (the last one closed). Why 10: binned ECE is biased
upwards by the noise of each bin's accuracy, about sqrt(p(1-p)/n_bin), and that bias grows with
the number of bins; with 10 bins the occupied top-label bins of the 1,702 test rows hold from a
few dozen to over a thousand reviews, and a wrong model still shows (tests/unit/test_calibration).
15 bins (Guo et al. 2017) move the figures by about the noise of one bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_BINS = 10


@dataclass(frozen=True)
class Reliability:
    """One reliability curve: per bin, its edges, how many predictions fell in it, their mean
    predicted probability and the observed frequency (NaN for an empty bin)."""

    edges: np.ndarray  # (n_bins + 1,)
    counts: np.ndarray  # (n_bins,)
    predicted: np.ndarray  # (n_bins,) mean predicted probability
    observed: np.ndarray  # (n_bins,) share of outcomes that happened

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if total == 0:
            return 0.0
        filled = self.counts > 0
        gaps = np.abs(self.predicted[filled] - self.observed[filled])
        return float((self.counts[filled] * gaps).sum() / total)


def reliability(probability: np.ndarray, outcome: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """The reliability curve of predicted `probability` against 0/1 `outcome` (1-d, same length)."""
    probability = np.asarray(probability, dtype=float)
    outcome = np.asarray(outcome, dtype=float)
    if probability.shape != outcome.shape or probability.ndim != 1:
        raise ValueError("probability and outcome must be 1-d arrays of the same length")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bin i is [i/n, (i+1)/n); a probability of exactly 1 goes in the last bin. (floor(p * n), not a
    # search of `edges`: linspace's 0.6000000000000001 would put 0.6 in the bin below.)
    index = np.clip(np.floor(probability * n_bins).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(index, weights=probability, minlength=n_bins) / counts
        observed = np.bincount(index, weights=outcome, minlength=n_bins) / counts
    return Reliability(edges, counts, predicted, observed)


def _class_index(y_true: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    position = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((position[y] for y in y_true), dtype=np.int64, count=len(y_true))
    except KeyError as exc:
        raise ValueError(f"a true label is not among the classes {list(classes)}: {exc}") from exc


def top_label(
    proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], n_bins: int = N_BINS
) -> Reliability:
    """Top-label reliability: confidence = highest probability, outcome = the argmax is right."""
    proba = np.asarray(proba, dtype=float)
    truth = _class_index(y_true, classes)
    return reliability(proba.max(axis=1), proba.argmax(axis=1) == truth, n_bins)


def per_class(
    proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], n_bins: int = N_BINS
) -> dict[str, Reliability]:
    """One-vs-rest reliability of each class's probability column."""
    proba = np.asarray(proba, dtype=float)
    truth = _class_index(y_true, classes)
    return {c: reliability(proba[:, k], truth == k, n_bins) for k, c in enumerate(classes)}


def calibration_scores(
    proba: np.ndarray, y_true: Sequence[str], classes: Sequence[str], n_bins: int = N_BINS
) -> dict[str, float]:
    """``ece`` (top-label) and ``ece_<class>`` (one-vs-rest), for MLflow metrics."""
    scores = {"ece": top_label(proba, y_true, classes, n_bins).ece}
    for c, curve in per_class(proba, y_true, classes, n_bins).items():
        scores[f"ece_{str(c).lower()}"] = curve.ece
    return scores
