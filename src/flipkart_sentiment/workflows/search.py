"""The search: cross-validate every candidate of a profile as a nested MLflow run, pick the best,
and evaluate it on the held-out test split.

Each function is one step of the training workflow (``training.run_training``); they share no
hidden state, so a retried step starts from its inputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import mlflow
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from ..adapters.plots import run_comparison_figure
from ..adapters.tracking import log_confusion, log_figure, log_pipeline_model, log_reliability, prefixed
from ..core import metrics as m
from ..core.calibration import calibration_scores
from ..core.compiled import CompiledScorer, Uncompilable
from ..core.drift import build_reference, model_unigrams
from ..core.estimators import ModelParams, build_pipeline, word_features
from ..core.profiles import PROFILES, SEED
from ..core.selection import cross_validate, pick_best
from ..core.split import Splits
from ..core.text import preprocessing_description

log = logging.getLogger(__name__)

# The final run's artifact that monitoring reads (workflows/monitoring.py).
REFERENCE_ARTIFACT = "monitoring/reference.json"


class NotServable(RuntimeError):
    """A candidate the compiled serving path cannot serve: the search stops instead of
    registering a model that would serve ~8x slower."""


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


def labels_of(frame) -> list[str]:
    return sorted(frame["label"].unique())


def ensure_servable(params: ModelParams, pipeline: Pipeline) -> None:
    try:
        CompiledScorer(pipeline)
    except Uncompilable as exc:
        raise NotServable(f"candidate {params.name!r} cannot be served on the compiled path: {exc}. "
                          "Give core/compiled.py its form, or drop it from the profile.") from exc


def search(splits: Splits, profile: str, seed: int, parent_run_id: str,
           tags: dict[str, str] | None = None) -> list[Candidate]:
    """Cross-validate every candidate of the profile on the search rows (all of `train`, or a
    stratified sample of it: Splits.search), then fit it on those rows; one nested MLflow run
    each (with `tags`) with params, CV metrics, the CV confusion matrix and the fitted model."""
    rows = splits.search
    labels = labels_of(rows)
    results: list[Candidate] = []
    for params in tqdm(PROFILES[profile], desc=f"search ({profile})", unit="run"):
        with mlflow.start_run(run_name=params.name, nested=True, parent_run_id=parent_run_id,
                              tags=tags) as run:
            started = time.perf_counter()
            oof = cross_validate(params, rows, splits.folds, seed)
            pipeline = build_pipeline(params, seed).fit(rows, rows["label"])
            seconds = time.perf_counter() - started
            ensure_servable(params, pipeline)
            scores = m.classification_scores(rows["label"], oof.predicted, labels)
            ece = calibration_scores(oof.proba, rows["label"], oof.classes)
            mlflow.log_params(params.as_params() | {"fields": params.fields,
                                                    "algorithm": params.algorithm})
            mlflow.log_params(preprocessing_description())
            mlflow.log_params(sample_params(splits))
            mlflow.log_metrics(prefixed("cv", scores | ece) | prefixed("timing", {"fit_seconds": seconds}))
            log_confusion(m.confusion(rows["label"], oof.predicted, labels), labels,
                          f"{params.name} (grouped {len(splits.folds)}-fold CV)")
            log_reliability(oof.proba, rows["label"], oof.classes,
                            f"{params.name} (grouped {len(splits.folds)}-fold CV, out of fold)")
            info = log_pipeline_model(pipeline)
            mlflow.set_tag("role", "candidate")
        log.info("candidate %-40s cv f1_weighted=%.4f f1_macro=%.4f ece=%.4f (%.1fs)", params.name,
                 scores["f1_weighted"], scores["f1_macro"], ece["ece"], seconds)
        results.append(Candidate(params, run.info.run_id, scores, seconds, info.model_uri,
                                 pipeline))
    best = pick_best(results, lambda c: c.metrics)
    log.info("winner of %d candidates by cv f1_weighted (f1_macro breaks ties): %s (%.4f)",
             len(results), best.params.name, best.metrics["f1_weighted"])
    return results


def sample_params(splits: Splits) -> dict[str, int]:
    """What the search was run on, for the MLflow UI: its rows and the training split's."""
    return {"search_rows": len(splits.search), "n_train": len(splits.train)}


def sample_tag(splits: Splits, seed: int) -> str:
    if not splits.sampled:
        return f"all {len(splits.train)} training rows"
    return (f"stratified sample of {len(splits.search)} of {len(splits.train)} training rows "
            f"(seed {seed}); the chosen candidate refit on all of them")


def refit(splits: Splits, candidates: list[Candidate], seed: int,
          parent_run_id: str) -> list[Candidate]:
    """When the search ran on a sample: fit the chosen candidate on the whole training split and
    log that model in its run (the model that is registered). The other candidates, the
    seed-recipe baseline among them, stay as the search fit them (on the sample: the parent run's
    `baseline_fit_rows` says so). Without a sample every candidate is already fit on all rows."""
    if not splits.sampled:
        return candidates
    best = pick_best(candidates, lambda c: c.metrics)
    train = splits.train
    started = time.perf_counter()
    pipeline = build_pipeline(best.params, seed).fit(train, train["label"])
    seconds = time.perf_counter() - started
    ensure_servable(best.params, pipeline)
    log.info("refit %s on %d training rows (%.1fs)", best.params.name, len(train), seconds)
    with mlflow.start_run(run_id=best.run_id, nested=True, parent_run_id=parent_run_id):
        info = log_pipeline_model(pipeline)
        mlflow.log_metrics(prefixed("timing", {"refit_seconds": seconds})
                           | prefixed("data", {"refit_rows": len(train)}))
        mlflow.set_tag("refit", f"on all {len(train)} training rows")
    refit = Candidate(best.params, best.run_id, best.metrics, best.seconds, info.model_uri, pipeline)
    return [refit if c is best else c for c in candidates]


def evaluate(splits: Splits, candidates: list[Candidate], parent_run_id: str) -> FinalModel:
    """Score the winner and the seed-recipe baseline on the test set; log both and the plots."""
    best = pick_best(candidates, lambda c: c.metrics)
    baseline = next((c for c in candidates if c.params == SEED), None)
    labels = labels_of(splits.train)
    test = splits.test

    proba = best.pipeline.predict_proba(test)
    classes = best.pipeline.classes_
    predicted = classes[proba.argmax(axis=1)]
    # Selection is by weighted F1 (`scores`); calibration is reported next to it (ece, ece_<class>).
    scores = m.classification_scores(test["label"], predicted, labels) | calibration_scores(
        proba, test["label"], classes)
    # What monitoring compares live reviews with (core.drift), next to the model it describes.
    reference = build_reference(
        splits.train["text"], splits.train["label"], test["text"], proba,
        [str(c) for c in best.pipeline.classes_], model_unigrams(word_features(best.pipeline)))
    with mlflow.start_run(run_id=best.run_id, nested=True, parent_run_id=parent_run_id):
        mlflow.log_metrics(prefixed("test", scores))
        mlflow.log_dict(reference.to_dict(), REFERENCE_ARTIFACT)
        log_confusion(m.confusion(test["label"], predicted, labels), labels,
                      f"{best.params.name} (test)", "confusion_matrix_test.png")
        log_reliability(proba, test["label"], classes, f"{best.params.name} (test)",
                        "reliability_test.png")
        mlflow.set_tag("role", "final")
    baseline_scores = (m.classification_scores(test["label"], baseline.pipeline.predict(test), labels)
                       if baseline else {})
    if baseline is not None:
        mlflow.log_metric("data/baseline_fit_rows",
                          len(splits.train) if baseline is best or not splits.sampled
                          else len(splits.search))

    rows = [{"name": c.params.name, "best": c is best, **c.metrics} for c in candidates]
    log_figure(run_comparison_figure(rows), "search_comparison.png")
    log_confusion(m.confusion(test["label"], predicted, labels), labels,
                  f"{best.params.name} (test)", "confusion_matrix_test.png")
    log_reliability(proba, test["label"], classes, f"{best.params.name} (test)", "reliability_test.png")
    mlflow.log_metrics(prefixed("test", scores))
    mlflow.log_metrics(prefixed("baseline", baseline_scores))
    log.info("best %s: test f1_weighted=%.4f f1_macro=%.4f (seed recipe %.4f / %.4f)",
             best.params.name, scores["f1_weighted"], scores["f1_macro"],
             baseline_scores.get("f1_weighted", float("nan")),
             baseline_scores.get("f1_macro", float("nan")))
    return FinalModel(best.params, best.run_id, best.model_uri, scores, baseline_scores,
                      candidates)
