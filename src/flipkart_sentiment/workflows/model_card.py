"""Model cards: the descriptions MLflow shows for the experiment, the registered model and each
version, written from what a training run knows (data, metrics, the gate) in markdown.

MLflow's own description fields rather than `skops.card`: the registry page is where an operator
looks, and a card file among the artifacts would be one click further and not searchable there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..core.estimators import ALGORITHM
from .markdown import table

if TYPE_CHECKING:  # the workflow's types, for annotations only (training imports this module)
    from ..adapters.data import ReviewData
    from .search import FinalModel

_TEST_COLUMNS = ("accuracy", "f1_weighted", "f1_macro")


def _labels(settings: Settings) -> str:
    by_label: dict[str, list[int]] = {}
    for stars, label in sorted(settings.label_map.items(), reverse=True):  # the best first
        by_label.setdefault(label, []).append(stars)
    return ", ".join(f"{label} ({'/'.join(map(str, sorted(stars)))} stars)"
                     for label, stars in by_label.items())


def _limits() -> list[str]:
    return [
        "- Labels come from star ratings, not from people reading the text: a 5-star review that "
        "complains is a Positive example.",
        "- Trained on the reviews of the data it names (the project's file: one product, a "
        "badminton shuttle); other products' vocabulary is unseen until retraining on it.",
        "- Neutral is rare (about 7 % of the project's reviews) and the weakest class: read "
        "`f1_macro` and `f1_neutral`, not accuracy.",
        "- English and romanised Hinglish as written on Flipkart; other scripts and languages are "
        "not modelled. Sarcasm is not understood.",
        "- Not for decisions about a person: the reviewer's name is never used, and a review's "
        "label says nothing about its author.",
    ]


def experiment_description(settings: Settings) -> str:
    return (
        f"Training runs of `{settings.model_name}`: one parent run per flow run (named "
        "`<UTC date> · data <sha256 prefix> · <search profile>`), one nested run per search "
        "candidate. Model metrics: `cv/` (cross-validation), `test/` (held-out split), "
        "`baseline/` (the seed recipe on it). Run statistics: `data/`, `text/`, `timing/`. "
        f"The registered model `{settings.model_name}` has its card on the Models page."
    )


def model_description(settings: Settings) -> str:
    """The registered model's card: what it is for and where it stops."""
    return "\n".join([
        f"# {settings.model_name}",
        "",
        "Sentiment of a Flipkart product review: "
        f"{_labels(settings)}, with a probability per class.",
        "",
        f"**Model**: {ALGORITHM} over TF-IDF features of the cleaned, Porter-stemmed title and "
        "text (scikit-learn), served by `mlflow models serve`. Input: a string, or "
        '`{"title": ..., "text": ...}`; output: `label` and `probabilities`.',
        "",
        "**Aliases**: `staging` is the newest trained version; `production` is the one served. A "
        "version becomes production only when it beats production on the same held-out reviews "
        "(the champion/challenger gate); each version's description and tags say why.",
        "",
        "**Intended use**: counting and routing reviews by sentiment (dashboards, support "
        "queues, alerts on a product turning negative).",
        "",
        "**Limits**",
        *_limits(),
    ])


def version_description(final: FinalModel, data: ReviewData, profile: str,
                        run_name: str, run_id: str) -> str:
    """A version's card: the data and search it came from and its held-out scores."""
    test, base = final.test_metrics, final.baseline_metrics
    per_class = sorted(k for k in test if k.startswith("f1_") and k not in
                       ("f1_weighted", "f1_macro"))
    columns = (*_TEST_COLUMNS, *per_class)
    rows = [[f"this version ({final.params.name})", *(f"{test[c]:.4f}" for c in columns)]]
    if base:
        rows.append(["seed recipe (baseline)",
                     *(f"{base[c]:.4f}" if c in base else "" for c in columns)])
    counts = ", ".join(f"{label} {n:,}" for label, n in sorted(data.label_counts.items()))
    return "\n".join([
        f"Candidate **{final.params.name}**, the best of {len(final.candidates)} by "
        f"cross-validated weighted F1 (search profile `{profile}`), from training run "
        f"`{run_name}` (`{run_id}`).",
        "",
        f"**Data**: `{data.source}`, sha256 `{data.sha256[:16]}…`, "
        f"{data.stats.get('rows_used', 0):,} reviews used ({counts}).",
        "",
        "**Held-out test split**",
        "",
        *table(["model", *columns], rows),
        "",
        "Production or not is the gate's call: see the tags `promotion` and `promotion_reason`.",
        "The registered model's description holds the intended use and limits.",
    ])
