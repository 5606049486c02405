"""The training workflow, written once: the Prefect flow and the CLI both run `run_training`.

`run_training` takes a `step` wrapper. The CLI passes the identity; the flow passes a function
that turns each step into a Prefect task with the step's retry policy, so the order of steps and
what each gets are defined here and nowhere else.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from tqdm.auto import tqdm

from ..adapters import registry, tracking
from ..adapters.data import ReviewData, combine, from_bytes, load_labeled, read_bytes
from ..config import REPO_ROOT, Settings
from ..core.estimators import ALGORITHM
from ..core.split import Splits, split_for_training
from ..core.text import analyze, preprocessing_description, stem
from . import delivery, model_card
from . import search as search_step
from .delivery import Delivery

log = logging.getLogger(__name__)

# MLflow's client retries a dead server for minutes by default. Fail fast instead and let the
# steps' own retries (visible in Prefect) decide how long to wait.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")


class TrackingUnavailable(RuntimeError):
    """The MLflow server cannot be reached."""


@dataclass(frozen=True)
class StepPolicy:
    retries: int = 0


# Steps that talk to the MLflow server retry; pure computation fails at once (a retry of a bad
# file would fail the same way).
POLICIES: dict[str, StepPolicy] = {
    "load": StepPolicy(retries=2),
    "load_labeled": StepPolicy(retries=2),
    "validate": StepPolicy(),
    "split": StepPolicy(),
    "preprocess": StepPolicy(),
    "start_tracking": StepPolicy(retries=3),
    "search": StepPolicy(retries=1),
    "refit": StepPolicy(retries=1),
    "evaluate": StepPolicy(retries=1),
    "register": StepPolicy(retries=3),
    # promote and deliver run inside `exclusive` (run_training): read production, compare, move
    # the alias, roll the server must not interleave with another run's, or the worse of two
    # concurrent challengers could end up in production, or served.
    "promote": StepPolicy(retries=3),
    # Not retried: a failed rollout has already been reverted (workflows/delivery.py), and the
    # Kubernetes calls retry their own transient errors.
    "deliver": StepPolicy(),
}

Step = Callable[[str, Callable[..., Any]], Callable[..., Any]]
# A context in which no other run promotes or delivers (the flow: a Prefect concurrency lock).
Exclusive = Callable[[], AbstractContextManager]


def plain_step(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


@dataclass
class TrainingResult:
    data_sha256: str
    data_stats: dict[str, int]
    label_counts: dict[str, int]
    parent_run_id: str
    final: search_step.FinalModel
    version: str
    decision: registry.Decision
    delivery: Delivery | None = None
    text_stats: dict[str, float] = field(default_factory=dict)
    run_name: str = ""


def preprocess(frame: pd.DataFrame) -> dict[str, float]:
    """Clean and tokenize every review once: warms the stem cache and measures the text."""
    started = time.perf_counter()
    tokens = [analyze(t) for t in tqdm(frame["text"], desc="preprocess", leave=False)]
    titles = [analyze(t) for t in frame["title"]]
    vocabulary = {w for ts in tokens for w in ts} | {w for ts in titles for w in ts}
    seconds = time.perf_counter() - started
    info = stem.cache_info()
    stats = {
        "reviews": float(len(tokens)),
        "mean_tokens": sum(map(len, tokens)) / max(len(tokens), 1),
        "empty_after_cleaning": float(sum(1 for ts in tokens if not ts)),
        "vocabulary": float(len(vocabulary)),
        "stem_cache_size": float(info.currsize),
        "reviews_per_second": len(tokens) / max(seconds, 1e-9),
    }
    log.info("cleaned and tokenized %s reviews in %.1fs: %.1f tokens each, vocabulary %s, %d "
             "empty after cleaning", f"{len(tokens):,}", seconds, stats["mean_tokens"],
             f"{len(vocabulary):,}", stats["empty_after_cleaning"])
    return stats


def git_commit() -> str:
    if commit := os.environ.get("SENTIMENT_GIT_COMMIT"):
        return commit
    try:
        return subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(data: ReviewData, profile: str, started: datetime | None = None) -> str:
    """The name of a training run, in MLflow and Prefect alike: when, on which data, how."""
    started = started or datetime.now(UTC)
    return f"{started:%Y-%m-%d %H:%M} · data {data.sha256[:8]} · {profile}"


def start_tracking(settings: Settings, data: ReviewData, splits: Splits,
                   profile: str, text_stats: dict[str, float], name: str) -> str:
    """Check the server, pick the experiment, open the parent run; returns its id."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        tracking.use_experiment(settings.experiment, model_card.experiment_description(settings))
    except Exception as exc:
        if not _is_connection_error(exc):
            raise
        raise TrackingUnavailable(
            f"MLflow tracking server at {settings.tracking_uri} is unreachable "
            f"({type(exc).__name__}); start it or set MLFLOW_TRACKING_URI"
        ) from exc
    commit = git_commit()
    run = mlflow.start_run(run_name=name, tags=tracking.source_tags(commit))
    mlflow.log_params({"data_sha256": data.sha256, "data_source": data.source,
                       "search_profile": profile, "seed": settings.seed,
                       "label_map": str(settings.label_map), "algorithm": ALGORITHM,
                       "search_max_rows": settings.search_max_rows,
                       **splits.sizes(), **preprocessing_description()})
    mlflow.log_metrics(tracking.prefixed("data", data.stats))
    mlflow.log_metrics(tracking.prefixed("text", text_stats))
    mlflow.set_tags({"data_sha256": data.sha256, "git_commit": commit,
                     "search_sample": search_step.sample_tag(splits, settings.seed)})
    mlflow.end_run()
    log.info("MLflow run %r: %s", name, tracking.run_url(settings.mlflow_ui, run.info.run_id))
    return run.info.run_id


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    text = str(exc)
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError)) or any(
        marker in text for marker in ("Max retries exceeded", "Connection refused",
                                      "Failed to establish a new connection", "timed out")
    )


def _resume(settings: Settings, run_id: str):
    mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.start_run(run_id=run_id)


def search(settings: Settings, splits: Splits, profile: str, run_id: str):
    with _resume(settings, run_id):
        return search_step.search(splits, profile, settings.seed, run_id,
                                  tracking.source_tags(git_commit()))


def refit(settings: Settings, splits: Splits, candidates, run_id: str):
    with _resume(settings, run_id):
        return search_step.refit(splits, candidates, settings.seed, run_id)


def evaluate(settings: Settings, splits: Splits, candidates, run_id: str):
    with _resume(settings, run_id):
        return search_step.evaluate(splits, candidates, run_id)


def register(settings: Settings, final: search_step.FinalModel, data: ReviewData, profile: str,
             name: str, run_id: str) -> str:
    """The winner as a new version (alias `staging`), with its tags and model card."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    tags = {
        "algorithm": final.params.algorithm,
        "preprocessing": "clean+regex-tokenize+stopwords(keep negations)+porter-stem; "
                         f"tfidf {final.params.fields} 1-{final.params.ngram_max}grams"
                         + (" + char 2-5grams" if final.params.char_ngrams else ""),
        "data_sha256": data.sha256,
        "git_commit": git_commit(),
        "search_candidate": final.params.name,
        "test_f1_weighted": f"{final.test_metrics['f1_weighted']:.6f}",
        "test_f1_macro": f"{final.test_metrics['f1_macro']:.6f}",
    }
    client = MlflowClient()
    version = registry.register(client, settings.model_name, final.run_id, final.model_uri, tags)
    registry.describe(client, settings.model_name, version.version,
                      model_card.model_description(settings),
                      model_card.version_description(final, data, profile, name, run_id))
    log.info("registered %s version %s (alias staging) from candidate %s", settings.model_name,
             version.version, final.params.name)
    return version.version


def promote(settings: Settings, version: str, final: search_step.FinalModel,
            splits: Splits) -> registry.Decision:
    """The gate: does the challenger beat production on the same held-out rows?"""
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    challenger = client.get_model_version(settings.model_name, version)
    decision = registry.decide(client, settings.model_name, challenger, final.test_metrics,
                               splits.test, settings.min_improvement)
    registry.apply(client, settings.model_name, decision)
    return decision


def deliver(settings: Settings, version: str, reason: str) -> Delivery:
    """`production` -> the winner, and the model server rolled onto it (or reverted)."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    delivered = delivery.deliver(settings, MlflowClient(), version, "promoted", reason,
                                 delivery.target_from(settings))
    log.info("rollout: %s", delivered.describe())
    return delivered


def finish(settings: Settings, run_id: str, status: str = "FINISHED") -> None:
    mlflow.set_tracking_uri(settings.tracking_uri)
    MlflowClient().set_terminated(run_id, status)


def load(source: str) -> bytes:
    raw = read_bytes(source)
    log.info("read %s: %s bytes", source, f"{len(raw):,}")
    return raw


def validate(raw: bytes, source: str, label_map: dict[int, str]) -> ReviewData:
    data = from_bytes(raw, source, label_map)
    st = data.stats
    log.info("%s rows in, %s used (dropped: %s empty text, %s without letters, %s missing "
             "rating); labels %s; data sha256 %s", f"{st.get('rows_read', 0):,}",
             f"{st.get('rows_used', 0):,}", st.get("dropped_empty_text", 0),
             st.get("dropped_unscorable_text", 0), st.get("dropped_missing_rating", 0),
             data.label_counts, data.sha256[:16])
    return data


def add_labeled(data: ReviewData, sources: list[str], label_map: dict[int, str]) -> ReviewData:
    labeled = load_labeled(sources, label_map)
    if labeled is None:
        log.info("no newly labeled reviews under %s", ", ".join(sources))
        return data
    log.info("%s newly labeled reviews from %s join the %s rows", f"{len(labeled.frame):,}",
             ", ".join(sources), f"{len(data.frame):,}")
    return combine(data, labeled)


def split(frame: pd.DataFrame, settings: Settings) -> Splits:
    splits = split_for_training(frame, settings.test_size, settings.cv_folds, settings.seed,
                                settings.search_max_rows)
    log.info("%s training rows, %s held-out test rows; grouped %d-fold CV over %s search rows%s",
             f"{len(splits.train):,}", f"{len(splits.test):,}", len(splits.folds),
             f"{len(splits.search):,}", " (a stratified sample)" if splits.sampled else "")
    return splits


def run_training(settings: Settings, data_path: str | None = None, profile: str | None = None,
                 step: Step = plain_step, exclusive: Exclusive = nullcontext,
                 named: Callable[[str], None] = lambda name: None) -> TrainingResult:
    """The whole training workflow. `named` gets the run's name once the data is known (the flow
    names its flow run the same as the MLflow run)."""
    profile = profile or settings.search
    source = data_path or settings.data_path
    raw = step("load", load)(source)
    data: ReviewData = step("validate", validate)(raw, source, settings.label_map)
    del raw  # the file's bytes: ~140 MB at x100, not needed past validation
    if settings.labeled_data:
        data = step("load_labeled", add_labeled)(data, settings.labeled_data, settings.label_map)
    name = run_name(data, profile)
    named(name)
    splits = step("split", split)(data.frame, settings)
    text_stats = step("preprocess", preprocess)(splits.train)
    run_id = step("start_tracking", start_tracking)(settings, data, splits, profile, text_stats,
                                                     name)
    try:
        candidates = step("search", search)(settings, splits, profile, run_id)
        candidates = step("refit", refit)(settings, splits, candidates, run_id)
        final = step("evaluate", evaluate)(settings, splits, candidates, run_id)
        version = step("register", register)(settings, final, data, profile, name, run_id)
        delivered = None
        with exclusive():
            decision = step("promote", promote)(settings, version, final, splits)
            if decision.promote:
                delivered = step("deliver", deliver)(settings, version, decision.reason)
    except delivery.RolloutFailed:
        # Training worked and is recorded; the version carries `rollout: failed`.
        finish(settings, run_id)
        raise
    except BaseException:
        try:
            finish(settings, run_id, "FAILED")
        except Exception:  # the original error matters more than this one
            log.warning("could not mark MLflow run %s as failed", run_id)
        raise
    finish(settings, run_id)
    return TrainingResult(data.sha256, data.stats, data.label_counts, run_id, final, version,
                          decision, delivered, text_stats, name)
