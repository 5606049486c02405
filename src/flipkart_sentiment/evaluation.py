"""Model-quality report: test-set metrics on the leakage-free split and a CheckList suite.

``make evaluate`` runs ``python -m flipkart_sentiment.evaluation``, which

1. loads the reviews and makes the same grouped split as the training pipeline
   (``training.split_data(test_size=0.2, cv_folds=3, seed=42)``);
2. gets the model to report on: by default it selects among a search profile by grouped-CV
   weighted F1 and fits the winner on ``train`` (what the pipeline does); ``--candidate NAME``
   fits one named candidate without the search; ``--model-uri models:/flipkart-sentiment@production``
   loads a registered model from MLflow instead (needs ``MLFLOW_TRACKING_URI``);
3. always fits the seed recipe (``search.SEED``) on ``train`` as the baseline row;
4. scores both on ``test`` (per-class precision/recall/F1, confusion matrices) and runs the
   behavioural suite in ``checklist.yaml`` (Ribeiro et al. 2020) against both;
5. writes ``reports/quality.md`` and PNG plots.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import metrics as m
from .config import DEFAULT_DATA_PATH
from .data import load_reviews

log = logging.getLogger(__name__)

CHECKLIST_PATH = Path(__file__).with_name("checklist.yaml")
LABELS = ("Negative", "Neutral", "Positive")
# The targets for the CheckList suite (tests/quality asserts what is reached).
OVERALL_TARGET = 0.90
CAPABILITY_TARGET = 0.75
# The full profile's winner by grouped 3-fold CV weighted F1 (docs/model.md). Used when a caller
# wants the winner without paying for the whole search (the quality tests, --candidate).
CV_WINNER = "title-text-chars-neg3-w1.5-C2-nb1.5"

# (title, text) frame in, class probabilities out (columns in the order of `classes`).
ProbaFn = Callable[[pd.DataFrame], np.ndarray]


# --------------------------------------------------------------------------------------------
# The model under test: anything with a predict_proba over a (title, text) frame.
# --------------------------------------------------------------------------------------------


@dataclass
class ScoredModel:
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


# --------------------------------------------------------------------------------------------
# CheckList
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    type: str  # mft | inv | dir
    text: str
    label: str | None = None
    perturbed: str | None = None
    title: str = ""


@dataclass(frozen=True)
class Capability:
    name: str
    description: str
    cases: tuple[Case, ...]


@dataclass
class CaseResult:
    case: Case
    passed: bool
    got: str  # what the model said, for the failure list


@dataclass
class CapabilityResult:
    capability: Capability
    results: list[CaseResult]

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.n if self.n else 1.0

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]


@dataclass
class CheckListResult:
    model: str
    capabilities: list[CapabilityResult] = field(default_factory=list)

    @property
    def n(self) -> int:
        return sum(c.n for c in self.capabilities)

    @property
    def overall(self) -> float:
        return sum(c.passed for c in self.capabilities) / max(self.n, 1)

    def rates(self) -> dict[str, float]:
        return {c.capability.name: c.pass_rate for c in self.capabilities}


def load_checklist(path: str | Path = CHECKLIST_PATH) -> list[Capability]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    capabilities = []
    for cap in raw["capabilities"]:
        cases = []
        for i, c in enumerate(cap["cases"]):
            case = Case(type=c.get("type", "mft"), text=str(c["text"]), label=c.get("label"),
                        perturbed=c.get("perturbed"), title=str(c.get("title") or ""))
            if case.type not in ("mft", "inv", "dir"):
                raise ValueError(f"{path}: {cap['name']} case {i}: unknown type {case.type!r}")
            if case.type in ("mft", "inv") and case.label not in LABELS:
                raise ValueError(f"{path}: {cap['name']} case {i}: label must be one of {LABELS}")
            if case.type in ("inv", "dir") and not case.perturbed:
                raise ValueError(f"{path}: {cap['name']} case {i}: {case.type} needs 'perturbed'")
            cases.append(case)
        capabilities.append(Capability(cap["name"], cap.get("description", ""), tuple(cases)))
    return capabilities


def _frame(texts: Sequence[str], titles: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({"title": list(titles), "text": list(texts)})


def run_checklist(model: ScoredModel, capabilities: Sequence[Capability]) -> CheckListResult:
    """Score every case in one batch per capability and decide pass/fail per case type."""
    pos = model.classes.index("Positive")
    result = CheckListResult(model.name)
    for cap in capabilities:
        base = model.predict_proba(_frame([c.text for c in cap.cases], [c.title for c in cap.cases]))
        pert = model.predict_proba(
            _frame([c.perturbed or c.text for c in cap.cases], [c.title for c in cap.cases]))
        results = []
        for case, p0, p1 in zip(cap.cases, base, pert, strict=True):
            got0, got1 = model.classes[p0.argmax()], model.classes[p1.argmax()]
            if case.type == "mft":
                results.append(CaseResult(case, got0 == case.label, f"{got0} ({p0.max():.2f})"))
            elif case.type == "inv":
                results.append(CaseResult(case, got0 == got1 == case.label, f"{got0} → {got1}"))
            else:  # dir: negating a positive must lower P(Positive) and leave it not Positive
                ok = p1[pos] < p0[pos] and got1 != "Positive"
                results.append(CaseResult(case, ok, f"P(Positive) {p0[pos]:.2f} → {p1[pos]:.2f}, {got1}"))
        result.capabilities.append(CapabilityResult(cap, results))
    return result


# --------------------------------------------------------------------------------------------
# Training the way the pipeline does (no MLflow needed)
# --------------------------------------------------------------------------------------------


@dataclass
class Selection:
    model: ScoredModel
    cv_rows: list[dict] = field(default_factory=list)  # name, f1_weighted, f1_macro per candidate


def fit_candidate(name: str, train: pd.DataFrame, seed: int = 42, profile: str = "full"):
    from .model import build_pipeline
    from .search import PROFILES

    params = {p.name: p for p in PROFILES[profile]}.get(name)
    if params is None:
        raise SystemExit(f"no candidate {name!r} in the {profile!r} profile; "
                         f"choose one of {[p.name for p in PROFILES[profile]]}")
    return build_pipeline(params, seed).fit(train, train["label"])


def select_by_cv(splits, profile: str, seed: int) -> Selection:
    """Grouped-CV selection over the profile (training.cross_validate / pick_best's rule)."""
    from .model import build_pipeline
    from .search import PROFILES
    from .training import cross_validate

    train = splits.train
    labels = sorted(train["label"].unique())
    rows = []
    for params in PROFILES[profile]:
        started = time.perf_counter()
        oof = cross_validate(params, train, splits.folds, seed)
        scores = m.evaluate(train["label"], oof, labels)
        rows.append({"name": params.name, "params": params, **scores})
        log.info("cv %-40s f1_weighted=%.4f f1_macro=%.4f (%.0fs)", params.name,
                 scores["f1_weighted"], scores["f1_macro"], time.perf_counter() - started)
    best = max(rows, key=m.selection_key)
    pipeline = build_pipeline(best["params"], seed).fit(train, train["label"])
    return Selection(from_pipeline(best["params"].name, pipeline,
                                   f"best of the `{profile}` profile by grouped "
                                   f"{len(splits.folds)}-fold CV weighted F1, fit on train"),
                     [{k: v for k, v in r.items() if k != "params"} for r in rows])


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


@dataclass
class ModelReport:
    model: ScoredModel
    test_metrics: dict[str, float]
    confusion: np.ndarray
    checklist: CheckListResult


def evaluate_model(model: ScoredModel, test: pd.DataFrame, capabilities) -> ModelReport:
    predicted = model.predict(test[["title", "text"]])
    labels = list(LABELS)
    return ModelReport(model, m.evaluate(test["label"], predicted, labels),
                       m.confusion(test["label"], predicted, labels),
                       run_checklist(model, capabilities))


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name).strip("-")


def pass_rate_figure(reports: Sequence[ModelReport]):
    from .plots import plt  # Agg backend is set there

    names = [c.capability.name for c in reports[0].checklist.capabilities] + ["overall"]
    y = np.arange(len(names))
    height = 0.8 / len(reports)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 2.2), dpi=120)
    for k, rep in enumerate(reports):
        values = [c.pass_rate for c in rep.checklist.capabilities] + [rep.checklist.overall]
        ax.barh(y + k * height, values, height=height, label=rep.model.name)
        for yi, v in zip(y, values, strict=True):
            ax.text(v + 0.01, yi + k * height, f"{v:.0%}", va="center", fontsize=7)
    ax.axvline(CAPABILITY_TARGET, color="grey", ls=":", lw=1,
               label=f"capability target {CAPABILITY_TARGET:.0%}")
    ax.axvline(OVERALL_TARGET, color="grey", ls="--", lw=1, label=f"overall target {OVERALL_TARGET:.0%}")
    ax.set_yticks(y + height * (len(reports) - 1) / 2, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("pass rate")
    ax.set_title("CheckList: pass rate per capability")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=7)
    fig.tight_layout()
    return fig


def _f(x: float) -> str:
    return f"{x:.3f}"


def write_report(out_dir: str | Path, reports: Sequence[ModelReport], *, data_source: str,
                 data_sha256: str, split_sizes: dict[str, int], cv_rows: Sequence[dict] = (),
                 seconds: float | None = None) -> Path:
    """reports[0] is the chosen model, the rest are baselines. Returns the markdown path."""
    from .plots import confusion_matrix_figure, plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = list(LABELS)
    lines = ["# Model quality", ""]
    chosen = reports[0]
    lines += [
        f"Data: `{data_source}` (sha256 `{data_sha256[:12]}…`). Leakage-free split (grouped by "
        f"cleaned text, seed 42): train {split_sizes['n_train']:,} / test {split_sizes['n_test']:,} rows.",
        "",
        f"- **Model**: `{chosen.model.name}` — {chosen.model.source}",
        *[f"- Baseline: `{r.model.name}` — {r.model.source}" for r in reports[1:]],
        "",
        "Generated by `make evaluate` (`python -m flipkart_sentiment.evaluation`); do not edit by hand.",
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
        fig = confusion_matrix_figure(r.confusion, labels, f"{r.model.name} (test)")
        fig.savefig(out / png)
        plt.close(fig)
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
        "Hand-written reviews, one set per capability (`src/flipkart_sentiment/checklist.yaml`): "
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
    fig = pass_rate_figure(reports)
    fig.savefig(out / "checklist_pass_rates.png")
    plt.close(fig)
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


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    from .search import SEED
    from .training import split_data

    parser = argparse.ArgumentParser(prog="python -m flipkart_sentiment.evaluation",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SENTIMENT_DATA_PATH", str(DEFAULT_DATA_PATH)))
    parser.add_argument("--out", default="reports", help="output directory (default: reports)")
    parser.add_argument("--profile", default="full", help="search profile for CV selection")
    parser.add_argument("--candidate", help="fit this candidate of the profile instead of searching")
    parser.add_argument("--model-uri", help="evaluate a registered model, e.g. "
                        "models:/flipkart-sentiment@production (needs MLFLOW_TRACKING_URI)")
    parser.add_argument("--checklist", default=str(CHECKLIST_PATH))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    started = time.perf_counter()
    data = load_reviews(args.data)
    splits = split_data(data, test_size=0.2, cv_folds=3, seed=args.seed)
    capabilities = load_checklist(args.checklist)
    cv_rows: list[dict] = []
    if args.model_uri:
        if not os.environ.get("MLFLOW_TRACKING_URI") and args.model_uri.startswith("models:/"):
            parser.error("--model-uri models:/... needs MLFLOW_TRACKING_URI")
        _check_registered_data(args.model_uri, data.sha256)
        chosen = from_pyfunc(args.model_uri)
    elif args.candidate:
        chosen = from_pipeline(args.candidate, fit_candidate(args.candidate, splits.train, args.seed,
                                                             args.profile),
                               f"candidate of the `{args.profile}` profile, fit on train")
    else:
        selection = select_by_cv(splits, args.profile, args.seed)
        chosen, cv_rows = selection.model, selection.cv_rows
    baseline = from_pipeline(SEED.name, fit_candidate(SEED.name, splits.train, args.seed, "seed"),
                             "the seed recipe (`search.SEED`), fit on train")
    reports = [evaluate_model(mod, splits.test, capabilities) for mod in (chosen, baseline)]
    path = write_report(args.out, reports, data_source=data.source, data_sha256=data.sha256,
                        split_sizes=splits.sizes(), cv_rows=cv_rows,
                        seconds=time.perf_counter() - started)
    for r in reports:
        log.info("%s: test f1_weighted=%.4f f1_macro=%.4f, checklist %.1f%% %s", r.model.name,
                 r.test_metrics["f1_weighted"], r.test_metrics["f1_macro"], 100 * r.checklist.overall,
                 {k: round(v, 2) for k, v in r.checklist.rates().items()})
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
