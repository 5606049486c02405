"""The monitoring job: compare recent reviews and predictions with what the production version
was trained on, log the comparison as an MLflow run, and say which thresholds are crossed.

Recent means: prediction-log records of the last ``monitor_window_hours`` that the production
version made, and labeled reviews in files newer than that version (reviews it can have been
trained on are no evidence about it). The reference is the profile training logged next to the
model (``search.REFERENCE_ARTIFACT``). The flow (flows/monitor_flow.py) publishes the report
and emits the events; nothing here talks to Prefect.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ..adapters import registry
from ..adapters.data import ReviewData, load_labeled
from ..adapters.plots import confidence_figure, label_mix_figure
from ..adapters.prediction_log import read_predictions
from ..adapters.tracking import log_figure, use_experiment
from ..config import Settings
from ..core import drift
from ..core import metrics as m
from .search import REFERENCE_ARTIFACT

log = logging.getLogger(__name__)

# Prefect event names (docs/monitoring.md); the retraining automation expects both.
EVENTS = {drift.DRIFT: "flipkart-sentiment.monitor.drift-detected",
          drift.QUALITY: "flipkart-sentiment.monitor.quality-degraded"}


class MonitoringError(RuntimeError):
    """Monitoring cannot compare anything: no production version, or no reference for it."""


def model_resource_id(model_name: str) -> str:
    """The Prefect resource the events are about, and the automation matches on."""
    return f"mlflow.registered-model.{model_name}"


@dataclass
class MonitoringReport:
    model_name: str
    version: str
    since: dt.datetime
    checks: list[drift.Check]
    metrics: dict[str, float]
    notes: list[str] = field(default_factory=list)
    run_id: str = ""
    run_url: str = ""
    # The earlier monitoring run of this version that already raised the alarm, if within the
    # cool-down: its events started a training run, which is either running or was rejected.
    held_back_by: str | None = None

    @property
    def crossed(self) -> list[drift.Check]:
        return [c for c in self.checks if c.crossed]

    def events(self) -> list[tuple[str, dict[str, str], dict]]:
        """(event name, resource, payload) per kind of check crossed; none while held back."""
        if self.held_back_by:
            return []
        resource = {"prefect.resource.id": model_resource_id(self.model_name),
                    "prefect.resource.name": self.model_name, "mlflow.model.version": self.version}
        out = []
        for kind, name in EVENTS.items():
            crossed = [c for c in self.crossed if c.kind == kind]
            if crossed:
                payload = {"model_version": self.version, "mlflow_run_id": self.run_id,
                           "since": self.since.isoformat(),
                           "checks": {c.name: {"value": c.value, "threshold": c.threshold,
                                               "samples": c.samples} for c in crossed}}
                out.append((name, resource, payload))
        return out

    def markdown(self) -> str:
        lines = [f"# Monitoring: {self.model_name} version {self.version}", "",
                 f"Recent = since {self.since.isoformat(timespec='minutes')}. "
                 f"MLflow run: {self.run_url or self.run_id}", "",
                 "| check | kind | value | threshold | samples | status |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for c in self.checks:
            value = "—" if c.value is None else f"{c.value:.4f}"
            status = "not judged" if c.value is None else ("**crossed**" if c.crossed else "ok")
            lines.append(f"| {c.name} | {c.kind} | {value} | {c.threshold:g} | {c.samples} | {status} |")
        live = {k: v for k, v in self.metrics.items() if k.startswith("live_")}
        if live:
            lines += ["", "Live scores on labeled reviews: "
                      + ", ".join(f"{k.removeprefix('live_')} {v:.4f}" for k, v in sorted(live.items()))]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _reference(version) -> drift.ReferenceProfile:
    uri = f"runs:/{version.run_id}/{REFERENCE_ARTIFACT}"
    try:
        return drift.ReferenceProfile.from_dict(mlflow.artifacts.load_dict(uri))
    except (MlflowException, OSError, ValueError) as exc:
        raise MonitoringError(
            f"version {version.version} has no monitoring reference ({uri}): it was trained "
            f"before training logged one; retrain to monitor it ({type(exc).__name__})") from exc


@dataclass
class Evidence:
    """What the production version met recently: the labeled reviews (with its answers on them)
    and its prediction-log records, pooled into one set of labels, confidences and texts."""

    labeled: ReviewData | None
    predicted: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_labeled(self) -> int:
        return 0 if self.labeled is None else len(self.labeled.frame)


def gather(settings: Settings, version, reference: drift.ReferenceProfile, since: dt.datetime,
           now: dt.datetime) -> Evidence:
    name, number = settings.model_name, str(version.version)
    trained_at = dt.datetime.fromtimestamp(version.creation_timestamp / 1000, dt.UTC)
    labeled = (load_labeled(settings.labeled_data, settings.label_map, since=trained_at)
               if settings.labeled_data else None)
    found = Evidence(labeled)
    if labeled is not None:
        # Scored in the version's own interpreter, as the gate scores it.
        answers = registry.predict(f"models:/{name}/{number}",
                                   labeled.frame[["title", "text"]].to_dict("records"))
        labels = [a["label"] for a in answers]
        found.predicted += labels
        found.confidences += [max(a["probabilities"].values()) for a in answers]
        found.texts += labeled.frame["text"].tolist()
        scores = m.classification_scores(labeled.frame["label"], labels, sorted(reference.label_counts))
        found.metrics |= {f"live_{k}": scores[k] for k in ("accuracy", "f1_weighted", "f1_macro")}
        found.metrics["label_psi"] = drift.psi(reference.label_counts, Counter(labeled.frame["label"]))
    elif settings.labeled_data:
        found.notes.append(f"no labeled reviews newer than version {number} "
                           f"({trained_at:%Y-%m-%d %H:%M} UTC)")

    if settings.prediction_log:
        logged = read_predictions(settings.prediction_log, since, now)
        mine = logged.frame[logged.frame["model_version"] == number]
        found.metrics |= {"log_files": float(logged.files),
                          "log_malformed_lines": float(logged.malformed),
                          "log_other_versions": float(len(logged.frame) - len(mine))}
        found.predicted += mine["label"].tolist()
        found.confidences += mine["confidence"].tolist()
        found.texts += mine["text"].dropna().tolist()
        if logged.malformed:
            found.notes.append(f"{logged.malformed} malformed prediction-log line(s) skipped")
    else:
        found.notes.append("no prediction log configured (SENTIMENT_PREDICTION_LOG)")
    return found


def judge(settings: Settings, reference: drift.ReferenceProfile, found: Evidence,
          test_f1: float | None) -> list[drift.Check]:
    tokens = drift.token_counts(found.texts)
    if tokens:
        found.metrics |= {"oov_rate": drift.oov_rate(tokens, reference.vocabulary),
                          "vocabulary_js": drift.jensen_shannon(reference.token_counts, tokens)}
    n_labeled, n_predicted, n_texts = found.n_labeled, len(found.predicted), len(found.texts)
    k = settings.monitor_min_reviews
    return [
        drift.check("label_shift", drift.DRIFT,
                    drift.total_variation(reference.label_counts, Counter(found.labeled.frame["label"]))
                    if n_labeled else None, settings.max_label_shift, n_labeled, k),
        drift.check("predicted_label_shift", drift.DRIFT,
                    drift.total_variation(reference.predicted_counts, Counter(found.predicted))
                    if n_predicted else None, settings.max_label_shift, n_predicted, k),
        drift.check("confidence_shift", drift.DRIFT,
                    drift.ks_statistic(reference.confidences, found.confidences)
                    if n_predicted else None, settings.max_confidence_shift, n_predicted, k),
        drift.check("vocabulary_shift", drift.DRIFT,
                    drift.vocabulary_shift(reference.token_counts, tokens) if tokens else None,
                    settings.max_vocabulary_shift, n_texts, k),
        drift.check("oov_increase", drift.DRIFT,
                    found.metrics["oov_rate"] - reference.oov_rate if tokens else None,
                    settings.max_oov_increase, n_texts, k),
        drift.check("f1_drop", drift.QUALITY,
                    test_f1 - found.metrics["live_f1_weighted"] if n_labeled and test_f1 else None,
                    settings.max_f1_drop, n_labeled, k),
    ]


def run_monitoring(settings: Settings, now: dt.datetime | None = None) -> MonitoringReport:
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient(settings.tracking_uri)
    version = registry.current(client, settings.model_name, registry.PRODUCTION)
    if version is None:
        raise MonitoringError(f"{settings.model_name} has no production version to monitor")
    reference = _reference(version)
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(hours=settings.monitor_window_hours)
    found = gather(settings, version, reference, since, now)
    test_f1 = version.tags.get("test_f1_weighted")
    checks = judge(settings, reference, found, float(test_f1) if test_f1 else None)
    metrics = found.metrics | {c.name: c.value for c in checks if c.value is not None} | {
        "labeled_reviews": float(found.n_labeled), "predictions": float(len(found.predicted)),
        "texts": float(len(found.texts)), "reference_oov_rate": reference.oov_rate,
        "checks_crossed": float(sum(c.crossed for c in checks))}
    report = MonitoringReport(settings.model_name, str(version.version), since, checks, metrics,
                              found.notes)
    if report.crossed:
        report.held_back_by = _earlier_alarm(client, settings, report.version, now)
        if report.held_back_by:
            report.notes.append(f"events held back: run {report.held_back_by} raised them for this "
                                f"version less than {settings.monitor_cooldown_hours:g} h ago")
    _log_run(settings, report, reference, found)
    for c in checks:
        log.info(c.describe())
    return report


def _earlier_alarm(client: MlflowClient, settings: Settings, version: str,
                   now: dt.datetime) -> str | None:
    """A monitoring run of `version` inside the cool-down that emitted events. Without the
    cool-down, drift that a retrained challenger does not fix (the gate keeps production) would
    start a training run every hour."""
    experiment = client.get_experiment_by_name(settings.monitor_experiment)
    if experiment is None or settings.monitor_cooldown_hours <= 0:
        return None
    after = int((now - dt.timedelta(hours=settings.monitor_cooldown_hours)).timestamp() * 1000)
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.model_version = '{version}' and tags.events_emitted = 'true' "
        f"and attributes.start_time > {after}", max_results=1)
    return runs[0].info.run_id if runs else None


def _log_run(settings: Settings, report: MonitoringReport, reference: drift.ReferenceProfile,
             found: Evidence) -> None:
    use_experiment(settings.monitor_experiment,
                   f"Monitor runs of `{settings.model_name}@production`: drift of the live reviews "
                   "against the training reference, live quality on newly labeled reviews, and "
                   "whether retraining was asked for (docs/monitoring.md).")
    with mlflow.start_run(run_name=f"monitor-v{report.version}") as run:
        mlflow.log_params({"model_name": report.model_name, "model_version": report.version,
                           "since": report.since.isoformat(timespec="seconds"),
                           "labeled_data": ",".join(settings.labeled_data) or "none",
                           "prediction_log": settings.prediction_log or "none"})
        mlflow.log_metrics(report.metrics)
        mlflow.set_tags({"role": "monitoring", "model_version": report.version,
                         "crossed": ",".join(c.name for c in report.crossed) or "none",
                         "events_emitted": str(bool(report.events())).lower()})
        labels = sorted(set(reference.label_counts) | set(reference.predicted_counts))
        if found.predicted:
            mixes = {"training (true)": reference.label_counts}
            if found.labeled is not None:
                mixes["recent labeled (true)"] = dict(Counter(found.labeled.frame["label"]))
            mixes |= {"held-out (predicted)": reference.predicted_counts,
                      "recent (predicted)": dict(Counter(found.predicted))}
            log_figure(label_mix_figure(mixes, labels), "label_mix.png")
            ks = drift.ks_statistic(reference.confidences, found.confidences)
            log_figure(confidence_figure(reference.confidences, found.confidences, ks),
                       "confidence.png")
        report.run_id = run.info.run_id
        report.run_url = (f"{settings.tracking_uri}/#/experiments/{run.info.experiment_id}"
                          f"/runs/{run.info.run_id}")
        mlflow.log_text(report.markdown(), "report.md")
