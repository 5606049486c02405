"""A CheckList-style behavioural suite (Ribeiro et al. 2020) for any model with class
probabilities: the cases live in ``checklist.yaml``, one list per capability.

MFT: the expected label. INV: a perturbation (intensifier, typo) keeps the label. DIR: negating a
positive review lowers P(Positive) and it is no longer predicted Positive.

Explanation check (``run_explanation_check``): on negation cases, the negated phrase ("not
good") is among the reasons core.explain gives toward the prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import yaml

from ..core.explain import Explainer
from ..core.labels import LABELS, POSITIVE

CHECKLIST_PATH = Path(__file__).with_name("checklist.yaml")
# The targets for the suite (tests/quality asserts the levels reached).
OVERALL_TARGET = 0.90
CAPABILITY_TARGET = 0.75
# Reasons an explanation case looks at (the default of a served explanation).
EXPLANATION_TOP = 5


class ProbabilisticModel(Protocol):
    """What the suite needs of a model: its classes, and their probabilities for a (title,
    text) frame, in that order."""

    classes: list[str]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray: ...


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


def run_checklist(model: ProbabilisticModel, capabilities: Sequence[Capability]) -> CheckListResult:
    """Score every case in one batch per capability and decide pass/fail per case type."""
    pos = model.classes.index(POSITIVE)
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
                ok = p1[pos] < p0[pos] and got1 != POSITIVE
                results.append(CaseResult(case, ok, f"P(Positive) {p0[pos]:.2f} → {p1[pos]:.2f}, {got1}"))
        result.capabilities.append(CapabilityResult(cap, results))
    return result


@dataclass(frozen=True)
class ExplanationCase:
    text: str
    reason: str  # the negated phrase expected among the reasons toward the prediction


@dataclass
class ExplanationResult:
    results: list[CaseResult]

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.results) / self.n if self.n else 1.0

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]


def load_explanation_cases(path: str | Path = CHECKLIST_PATH) -> list[ExplanationCase]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return [ExplanationCase(str(c["text"]), str(c["reason"])) for c in raw.get("explanations") or []]


def run_explanation_check(explainer: Explainer, cases: Sequence[ExplanationCase],
                          top: int = EXPLANATION_TOP) -> ExplanationResult:
    """A case passes if its ``reason`` is one of the ``top`` phrases toward the prediction, or
    the start of one ("not good" in "not good quality")."""
    proba, explained = explainer.predict_explained([""] * len(cases), [c.text for c in cases], top)
    results = []
    for case, p, reasons in zip(cases, proba, explained, strict=True):
        phrases = [r["phrase"] for r in reasons["toward"]]
        ok = any(ph == case.reason or ph.startswith(case.reason + " ") for ph in phrases)
        got = f"{explainer.classes[p.argmax()]}, toward: {phrases}"
        results.append(CaseResult(Case("explanation", case.text), ok, got))
    return ExplanationResult(results)
