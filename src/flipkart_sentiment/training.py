"""Training steps: split, search, refit the winner, evaluate on held-out data.

Each function is one step of the Prefect flow (flows/train_flow.py) and of ``flipkart-sentiment
train``; they share no hidden state, so a retried step starts from its inputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import mlflow
import pandas as pd
from tqdm.auto import tqdm

from . import metrics as m
from .data import ReviewData
from .model import ALGORITHM, ModelParams, build_pipeline
from .plots import run_comparison_figure
from .search import PROFILES, SEED
from .split import Split, grouped_split
from .text import analyze, preprocessing_description, stem
from .tracking import log_confusion, log_figure, log_pipeline_model

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: pd.DataFrame  # everything but the test set; the winner is refit on it
    test: pd.DataFrame   # held out: final metrics and the champion/challenger comparison
    fit: pd.DataFrame    # train minus validation: candidates are fit on it
    val: pd.DataFrame    # candidates are compared on it

    def sizes(self) -> dict[str, int]:
        return {f"n_{k}": len(getattr(self, k)) for k in ("train", "test", "fit", "val")}


@dataclass
class Candidate:
    params: ModelParams
    run_id: str
    metrics: dict[str, float]
    seconds: float


@dataclass
class FinalModel:
    params: ModelParams
    run_id: str
    model_uri: str
    test_metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    candidates: list[Candidate] = field(default_factory=list)


def split_data(data: ReviewData, test_size: float, val_size: float, seed: int) -> Splits:
    outer: Split = grouped_split(data.frame, test_size, seed)
    inner: Split = grouped_split(outer.train, val_size, seed)
    return Splits(train=outer.train, test=outer.test, fit=inner.train, val=inner.test)


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


def _fit_and_score(params: ModelParams, train: pd.DataFrame, score: pd.DataFrame, seed: int):
    started = time.perf_counter()
    pipeline = build_pipeline(params, seed).fit(train, train["label"])
    predicted = pipeline.predict(score)
    return pipeline, predicted, time.perf_counter() - started


def search(splits: Splits, profile: str, seed: int, parent_run_id: str) -> list[Candidate]:
    """Fit every candidate of the profile on `fit`, score on `val`, one nested run each."""
    labels = labels_of(splits.train)
    results: list[Candidate] = []
    candidates = PROFILES[profile]
    for params in tqdm(candidates, desc=f"search ({profile})", unit="run"):
        with mlflow.start_run(run_name=params.name, nested=True, parent_run_id=parent_run_id) as run:
            pipeline, predicted, seconds = _fit_and_score(params, splits.fit, splits.val, seed)
            scores = m.evaluate(splits.val["label"], predicted, labels)
            mlflow.log_params(params.as_params() | {"fields": params.fields})
            mlflow.log_params(preprocessing_description())
            mlflow.log_metrics({f"val_{k}": v for k, v in scores.items()} | {"fit_seconds": seconds})
            log_confusion(m.confusion(splits.val["label"], predicted, labels), labels,
                          f"{params.name} (validation)")
            log_pipeline_model(pipeline)
            mlflow.set_tag("role", "candidate")
        log.info("candidate %-32s val f1_weighted=%.4f f1_macro=%.4f (%.1fs)", params.name,
                 scores["f1_weighted"], scores["f1_macro"], seconds)
        results.append(Candidate(params, run.info.run_id, scores, seconds))
    return results


def pick_best(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=lambda c: m.selection_key(c.metrics))


def refit_and_evaluate(
    splits: Splits, candidates: list[Candidate], seed: int, parent_run_id: str
) -> FinalModel:
    """Refit the winner on all training data, evaluate it and the seed recipe on the test set."""
    best = pick_best(candidates)
    labels = labels_of(splits.train)

    with mlflow.start_run(run_name="seed-recipe-baseline", nested=True, parent_run_id=parent_run_id):
        _, predicted, _ = _fit_and_score(SEED, splits.train, splits.test, seed)
        baseline = m.evaluate(splits.test["label"], predicted, labels)
        mlflow.log_params(SEED.as_params())
        mlflow.log_metrics({f"test_{k}": v for k, v in baseline.items()})
        mlflow.set_tag("role", "baseline")

    with mlflow.start_run(run_name=f"best-{best.params.name}", nested=True,
                          parent_run_id=parent_run_id) as run:
        pipeline, predicted, seconds = _fit_and_score(best.params, splits.train, splits.test, seed)
        scores = m.evaluate(splits.test["label"], predicted, labels)
        mlflow.log_params(best.params.as_params() | {"fields": best.params.fields,
                                                     "algorithm": ALGORITHM})
        mlflow.log_params(preprocessing_description())
        mlflow.log_metrics({f"test_{k}": v for k, v in scores.items()} | {"fit_seconds": seconds})
        mlflow.log_metrics({f"val_{k}": v for k, v in best.metrics.items()})
        log_confusion(m.confusion(splits.test["label"], predicted, labels), labels,
                      f"{best.params.name} (test)")
        info = log_pipeline_model(pipeline)
        mlflow.set_tags({"role": "final", "selected_from": best.run_id})

    rows = [
        {"name": c.params.name, "best": c is best, **c.metrics} for c in candidates
    ]
    log_figure(run_comparison_figure(rows), "search_comparison.png")
    mlflow.log_metrics({f"test_{k}": v for k, v in scores.items()})
    mlflow.log_metrics({f"baseline_test_{k}": v for k, v in baseline.items()})
    log.info("best %s: test f1_weighted=%.4f f1_macro=%.4f (seed recipe %.4f / %.4f)",
             best.params.name, scores["f1_weighted"], scores["f1_macro"],
             baseline["f1_weighted"], baseline["f1_macro"])
    return FinalModel(best.params, run.info.run_id, info.model_uri, scores, baseline, candidates)
