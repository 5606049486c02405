"""The model-quality report: test-set metrics on the leakage-free split and the CheckList suite.

``make evaluate`` (``flipkart-sentiment evaluate``) runs ``build_report``, which

1. loads the reviews and makes the same grouped split as the training workflow
   (``core.split.split_for_training(test_size=0.2, cv_folds=3, seed=42)``);
2. gets the model to report on: by default it selects among a search profile by grouped-CV
   weighted F1 and fits the winner on ``train`` (what training does, with the same
   ``core.selection`` functions); ``candidate`` fits one named candidate without the search;
   ``model_uri`` (``models:/flipkart-sentiment@production``) loads a registered model instead;
3. always fits the seed recipe (``core.profiles.SEED``) on ``train`` as the baseline row;
4. scores both on ``test`` (per-class precision/recall/F1, confusion matrices) and runs the
   behavioural suite (``checklist``) against both;
5. writes ``reports/quality.md`` and PNG plots.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..adapters.data import load_reviews
from ..adapters.plots import confusion_matrix_figure, pass_rate_figure, save_figure
from ..core import metrics as m
from ..core.estimators import build_pipeline
from ..core.labels import LABELS
from ..core.profiles import PROFILES, SEED, candidate
from ..core.selection import cross_validate, pick_best
from ..core.split import split_for_training
from .checklist import (
    CAPABILITY_TARGET,
    CHECKLIST_PATH,
    OVERALL_TARGET,
    CheckListResult,
    load_checklist,
    run_checklist,
)

log = logging.getLogger(__name__)

# (title, text) frame in, class probabilities out (columns in the order of `classes`).
ProbaFn = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class ScoredModel:
    """The model under test: anything with a predict_proba over a (title, text) frame."""

    name: str
    classes: list[str]
    predict_proba: ProbaFn
    source: str = ""  # how it was obtained, for the report

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        proba = self.predict_proba(frame)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]


def from_pipeline(name: str, pipeline, source: str = "") -> ScoredModel:
    return ScoredModel(name, [str(c) for c in pipeline.classes_], pipeline.predict_proba, source)


def from_pyfunc(model_uri: str) -> ScoredModel:
    """A registered/served pyfunc (list of {"title","text"} in, list of prediction dicts out)."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_uri)
    classes = list(LABELS)

    def proba(frame: pd.DataFrame) -> np.ndarray:
        rows = [{"title": t or "", "text": x} for t, x in zip(frame["title"], frame["text"], strict=True)]
        out = model.predict(rows)
        return np.array([[p["probabilities"].get(c, 0.0) for c in classes] for p in out])

    return ScoredModel(model_uri, classes, proba, f"MLflow {model_uri}")


def fit_candidate(name: str, train: pd.DataFrame, seed: int = 42, profile: str = "full"):
    return build_pipeline(candidate(name, profile), seed).fit(train, train["label"])


@dataclass
class Selection:
    model: ScoredModel
    cv_rows: list[dict] = field(default_factory=list)  # name, f1_weighted, f1_macro per candidate


def select_by_cv(splits, profile: str, seed: int) -> Selection:
    """Grouped-CV selection over the profile, with training's own functions and rule."""
    train = splits.train
    labels = sorted(train["label"].unique())
    rows = []
    for params in PROFILES[profile]:
        started = time.perf_counter()
        oof = cross_validate(params, train, splits.folds, seed)
        scores = m.classification_scores(train["label"], oof.predicted, labels)
        rows.append({"name": params.name, "params": params, **scores})
        log.info("cv %-40s f1_weighted=%.4f f1_macro=%.4f (%.0fs)", params.name,
                 scores["f1_weighted"], scores["f1_macro"], time.perf_counter() - started)
    best = pick_best(rows, lambda row: row)
    pipeline = build_pipeline(best["params"], seed).fit(train, train["label"])
    return Selection(from_pipeline(best["params"].name, pipeline,
                                   f"best of the `{profile}` profile by grouped "
                                   f"{len(splits.folds)}-fold CV weighted F1, fit on train"),
                     [{k: v for k, v in r.items() if k != "params"} for r in rows])


@dataclass
class ModelReport:
    model: ScoredModel
    test_metrics: dict[str, float]
    confusion: np.ndarray
    checklist: CheckListResult


def evaluate_model(model: ScoredModel, test: pd.DataFrame, capabilities) -> ModelReport:
    predicted = model.predict(test[["title", "text"]])
    labels = model.classes
    return ModelReport(model, m.classification_scores(test["label"], predicted, labels),
                       m.confusion(test["label"], predicted, labels),
                       run_checklist(model, capabilities))


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")


def _f(x: float) -> str:
    return f"{x:.3f}"


def write_report(out_dir: str | Path, reports: Sequence[ModelReport], *, data_source: str,
                 data_sha256: str, split_sizes: dict[str, int], cv_rows: Sequence[dict] = (),
                 seconds: float | None = None) -> Path:
    """reports[0] is the chosen model, the rest are baselines. Returns the markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = reports[0].model.classes
    lines = ["# Model quality", ""]
    chosen = reports[0]
    lines += [
        f"Data: `{data_source}` (sha256 `{data_sha256[:12]}…`). Leakage-free split (grouped by "
        f"cleaned text, seed 42): train {split_sizes['n_train']:,} / test {split_sizes['n_test']:,} rows.",
        "",
        f"- **Model**: `{chosen.model.name}` — {chosen.model.source}",
        *[f"- Baseline: `{r.model.name}` — {r.model.source}" for r in reports[1:]],
        "",
        "Generated by `make evaluate` (`flipkart-sentiment evaluate`); do not edit by hand.",
        "",
        "## Test set",
        "",
        "| model | accuracy | weighted P / R / F1 | macro F1 |",
        "| --- | --- | --- | --- |",
    ]
    for r in reports:
        t = r.test_metrics
        lines.append(f"| `{r.model.name}` | {_f(t['accuracy'])} | {_f(t['precision_weighted'])} / "
                     f"{_f(t['recall_weighted'])} / **{_f(t['f1_weighted'])}** | **{_f(t['f1_macro'])}** |")
    lines += ["", "Per class:", "", "| model | class | precision | recall | F1 | support |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in reports:
        t = r.test_metrics
        for c in labels:
            k = c.lower()
            lines.append(f"| `{r.model.name}` | {c} | {_f(t[f'precision_{k}'])} | {_f(t[f'recall_{k}'])} "
                         f"| {_f(t[f'f1_{k}'])} | {int(t[f'support_{k}'])} |")
    lines += [""]
    for r in reports:
        png = f"confusion_{_slug(r.model.name)}.png"
        save_figure(confusion_matrix_figure(r.confusion, labels, f"{r.model.name} (test)"), out / png)
        lines.append(f"![confusion matrix, {r.model.name}]({png})")
    lines.append("")
    if cv_rows:
        lines += ["## Selection (grouped CV over train)", "", "| candidate | CV weighted F1 | CV macro F1 |",
                  "| --- | --- | --- |"]
        for row in cv_rows:
            star = " ★" if row["name"] == chosen.model.name else ""
            lines.append(f"| `{row['name']}`{star} | {row['f1_weighted']:.4f} | {row['f1_macro']:.4f} |")
        lines.append("")

    lines += [
        "## Behavioural tests (CheckList)", "",
        "Hand-written reviews, one set per capability (`src/flipkart_sentiment/workflows/checklist.yaml`): "
        "MFT = the expected label; INV = a perturbation (intensifier, typo) keeps the label; "
        "DIR = negating a positive review lowers P(Positive) and it is no longer predicted Positive. "
        "Text only, empty title. Targets: ≥ 90 % overall, no capability below 75 %.", "",
        "| capability | n | " + " | ".join(f"`{r.model.name}`" for r in reports) + " |",
        "| --- | --- | " + " | ".join("---" for _ in reports) + " |",
    ]
    for i, cap in enumerate(chosen.checklist.capabilities):
        rates = " | ".join(f"{r.checklist.capabilities[i].pass_rate:.0%}" for r in reports)
        lines.append(f"| {cap.capability.name} | {cap.n} | {rates} |")
    lines.append(f"| **overall** | {chosen.checklist.n} | "
                 + " | ".join(f"**{r.checklist.overall:.1%}**" for r in reports) + " |")
    cl = chosen.checklist
    below = [f"{c.capability.name} ({c.pass_rate:.0%})" for c in cl.capabilities
             if c.pass_rate < CAPABILITY_TARGET]
    met = "met" if cl.overall >= OVERALL_TARGET else "not met"
    lines += ["", f"Overall target {OVERALL_TARGET:.0%}: **{met}** "
              f"({cl.overall:.1%}). Capabilities below {CAPABILITY_TARGET:.0%}: "
              f"**{', '.join(below) if below else 'none'}**."]
    pass_rates = {r.model.name: [c.pass_rate for c in r.checklist.capabilities] + [r.checklist.overall]
                  for r in reports}
    save_figure(pass_rate_figure([c.capability.name for c in cl.capabilities], pass_rates,
                                 CAPABILITY_TARGET, OVERALL_TARGET), out / "checklist_pass_rates.png")
    lines += ["", "![CheckList pass rates](checklist_pass_rates.png)", ""]
    for r in reports:
        lines += [f"### Failures of `{r.model.name}`", ""]
        any_fail = False
        for cap in r.checklist.capabilities:
            for f in cap.failures:
                any_fail = True
                c = f.case
                shown = f"“{c.text}”" + (f" → “{c.perturbed}”" if c.perturbed else "")
                want = c.label if c.type != "dir" else "P(Positive) down, not Positive"
                lines.append(f"- {cap.capability.name} [{c.type}] {shown}: expected {want}, got {f.got}")
        if not any_fail:
            lines.append("- none")
        lines.append("")
    if seconds is not None:
        lines.append(f"_Report built in {seconds:.0f} s._")
    path = out / "quality.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _check_registered_data(model_uri: str, sha256: str) -> None:
    """Warn when a registered model was trained on other data (its test rows may differ)."""
    try:
        from mlflow import MlflowClient

        name, _, alias = model_uri.removeprefix("models:/").partition("@")
        if not alias:
            return
        version = MlflowClient().get_model_version_by_alias(name, alias)
        trained_on = version.tags.get("data_sha256")
        if trained_on and trained_on != sha256:
            log.warning("%s was trained on data %s, not %s: its test metrics here may include "
                        "rows it was trained on", model_uri, trained_on[:12], sha256[:12])
    except Exception as exc:  # informational only
        log.warning("could not read the tags of %s: %s", model_uri, exc)


def build_report(data_path: str, out_dir: str | Path, *, profile: str = "full",
                 candidate_name: str | None = None, model_uri: str | None = None,
                 checklist_path: str | Path = CHECKLIST_PATH,
                 seed: int = 42) -> tuple[Path, list[ModelReport]]:
    """Everything ``make evaluate`` does; returns the markdown path and the reports."""
    started = time.perf_counter()
    data = load_reviews(data_path)
    splits = split_for_training(data.frame, test_size=0.2, cv_folds=3, seed=seed)
    capabilities = load_checklist(checklist_path)
    cv_rows: list[dict] = []
    if model_uri:
        _check_registered_data(model_uri, data.sha256)
        chosen = from_pyfunc(model_uri)
    elif candidate_name:
        name = candidate(candidate_name, profile).name
        chosen = from_pipeline(name, fit_candidate(name, splits.train, seed, profile),
                               f"candidate of the `{profile}` profile, fit on train")
    else:
        selection = select_by_cv(splits, profile, seed)
        chosen, cv_rows = selection.model, selection.cv_rows
    baseline = from_pipeline(SEED.name, fit_candidate(SEED.name, splits.train, seed, "seed"),
                             "the seed recipe (`core.profiles.SEED`), fit on train")
    reports = [evaluate_model(mod, splits.test, capabilities) for mod in (chosen, baseline)]
    path = write_report(out_dir, reports, data_source=data.source, data_sha256=data.sha256,
                        split_sizes=splits.sizes(), cv_rows=cv_rows,
                        seconds=time.perf_counter() - started)
    for r in reports:
        log.info("%s: test f1_weighted=%.4f f1_macro=%.4f, checklist %.1f%% %s", r.model.name,
                 r.test_metrics["f1_weighted"], r.test_metrics["f1_macro"], 100 * r.checklist.overall,
                 {k: round(v, 2) for k, v in r.checklist.rates().items()})
    return path, reports
