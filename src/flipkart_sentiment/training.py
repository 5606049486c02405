"""Training steps: split, search by grouped cross-validation, evaluate the winner on test.

Each function is one step of the Prefect flow (flows/train_flow.py) and of ``flipkart-sentiment
train``; they share no hidden state, so a retried step starts from its inputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from . import metrics as m
from .data import ReviewData
from .model import ALGORITHM, ModelParams, build_pipeline
from .plots import run_comparison_figure
from .search import PROFILES, SEED
from .split import grouped_folds, grouped_split
from .text import analyze, preprocessing_description, stem
from .tracking import log_confusion, log_figure, log_pipeline_model

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: pd.DataFrame  # candidates are cross-validated and then fit on it
    test: pd.DataFrame   # held out: final metrics and the champion/challenger comparison
    folds: list[tuple[np.ndarray, np.ndarray]]  # grouped CV folds over `train`

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.train), "n_test": len(self.test), "cv_folds": len(self.folds)}


@dataclass
class Candidate:
    params: ModelParams
    run_id: str
    metrics: dict[str, float]  # pooled out-of-fold scores over `train`
    seconds: float
    model_uri: str
    pipeline: Pipeline | None = field(default=None, repr=False)


@dataclass
class FinalModel:
    params: ModelParams
    run_id: str
    model_uri: str
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    candidates: list[Candidate] = field(default_factory=list)


def split_data(data: ReviewData, test_size: float, cv_folds: int, seed: int) -> Splits:
    outer = grouped_split(data.frame, test_size, seed)
    return Splits(train=outer.train, test=outer.test,
                  folds=grouped_folds(outer.train, cv_folds, seed))


def preprocess(frame: pd.DataFrame) -> dict[str, float]:
    """Clean and tokenize every review once: warms the stem cache and measures the text."""
    started = time.perf_counter()
    tokens = [analyze(t) for t in tqdm(frame["text"], desc="preprocess", leave=False)]
    titles = [analyze(t) for t in frame["title"]]
    vocabulary = {w for ts in tokens for w in ts} | {w for ts in titles for w in ts}
    seconds = time.perf_counter() - started
    info = stem.cache_info()
    return {
        "reviews": float(len(tokens)),
        "mean_tokens": sum(map(len, tokens)) / max(len(tokens), 1),
        "empty_after_cleaning": float(sum(1 for ts in tokens if not ts)),
        "vocabulary": float(len(vocabulary)),
        "stem_cache_size": float(info.currsize),
        "reviews_per_second": len(tokens) / max(seconds, 1e-9),
    }


def labels_of(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["label"].unique())


def cross_validate(params: ModelParams, train: pd.DataFrame, folds, seed: int) -> np.ndarray:
    """Out-of-fold predictions for every training row (each row predicted by a model that
    never saw its text)."""
    predicted = np.empty(len(train), dtype=object)
    for fit_idx, val_idx in folds:
        fold = train.iloc[fit_idx]
        pipeline = build_pipeline(params, seed).fit(fold, fold["label"])
        predicted[val_idx] = pipeline.predict(train.iloc[val_idx])
    return predicted


def search(splits: Splits, profile: str, seed: int, parent_run_id: str) -> list[Candidate]:
    """Cross-validate every candidate of the profile, then fit it on all of `train`; one nested
    MLflow run each with params, CV metrics, the CV confusion matrix and the fitted model."""
    labels = labels_of(splits.train)
    train = splits.train
    results: list[Candidate] = []
    for params in tqdm(PROFILES[profile], desc=f"search ({profile})", unit="run"):
        with mlflow.start_run(run_name=params.name, nested=True,
                              parent_run_id=parent_run_id) as run:
            started = time.perf_counter()
            oof = cross_validate(params, train, splits.folds, seed)
            pipeline = build_pipeline(params, seed).fit(train, train["label"])
            seconds = time.perf_counter() - started
            scores = m.evaluate(train["label"], oof, labels)
            mlflow.log_params(params.as_params() | {"fields": params.fields,
                                                    "algorithm": ALGORITHM})
            mlflow.log_params(preprocessing_description())
            mlflow.log_metrics({f"cv_{k}": v for k, v in scores.items()} | {"fit_seconds": seconds})
            log_confusion(m.confusion(train["label"], oof, labels), labels,
                          f"{params.name} (grouped {len(splits.folds)}-fold CV)")
            info = log_pipeline_model(pipeline)
            mlflow.set_tag("role", "candidate")
        log.info("candidate %-40s cv f1_weighted=%.4f f1_macro=%.4f (%.1fs)", params.name,
                 scores["f1_weighted"], scores["f1_macro"], seconds)
        results.append(Candidate(params, run.info.run_id, scores, seconds, info.model_uri,
                                 pipeline))
    return results


def pick_best(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=lambda c: m.selection_key(c.metrics))


def evaluate(splits: Splits, candidates: list[Candidate], parent_run_id: str) -> FinalModel:
    """Score the winner and the seed-recipe baseline on the test set; log both and the plots."""
    best = pick_best(candidates)
    baseline = next((c for c in candidates if c.params == SEED), None)
    labels = labels_of(splits.train)
    test = splits.test

    predicted = best.pipeline.predict(test)
    scores = m.evaluate(test["label"], predicted, labels)
    with mlflow.start_run(run_id=best.run_id, nested=True, parent_run_id=parent_run_id):
        mlflow.log_metrics({f"test_{k}": v for k, v in scores.items()})
        log_confusion(m.confusion(test["label"], predicted, labels), labels,
                      f"{best.params.name} (test)", "confusion_matrix_test.png")
        mlflow.set_tag("role", "final")
    baseline_scores = (m.evaluate(test["label"], baseline.pipeline.predict(test), labels)
                       if baseline else {})

    rows = [{"name": c.params.name, "best": c is best, **c.metrics} for c in candidates]
    log_figure(run_comparison_figure(rows), "search_comparison.png")
    log_confusion(m.confusion(test["label"], predicted, labels), labels,
                  f"{best.params.name} (test)", "confusion_matrix_test.png")
    mlflow.log_metrics({f"test_{k}": v for k, v in scores.items()})
    mlflow.log_metrics({f"baseline_test_{k}": v for k, v in baseline_scores.items()})
    log.info("best %s: test f1_weighted=%.4f f1_macro=%.4f (seed recipe %.4f / %.4f)",
             best.params.name, scores["f1_weighted"], scores["f1_macro"],
             baseline_scores.get("f1_weighted", float("nan")),
             baseline_scores.get("f1_macro", float("nan")))
    return FinalModel(best.params, best.run_id, best.model_uri, scores, baseline_scores,
                      candidates)
