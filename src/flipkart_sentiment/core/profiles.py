"""Search profiles: named lists of candidates (ModelParams) that training cross-validates, one
nested MLflow run each. ``WINNER`` is the candidate the full search selects on the project's
data: the one place its name is written (quality tests, benchmarks, ``make evaluate``).

Measurements behind these choices (validation, grouped 3-fold CV on train, test): docs/model.md.
"""

from __future__ import annotations

from typing import Literal, get_args

from .estimators import ModelParams

# The recipe the project was seeded with; always trained so every run has a baseline row.
SEED = ModelParams(name="seed-recipe", C=1.0, ngram_max=2, max_features=5000)

# What the searches found best: title and text as separate TF-IDF blocks, sublinear tf, word
# 1-2grams with 3-word negation scopes, char_wb 2-5grams, Negative and Neutral weighted 1.5x.
_TUNED = dict(use_title=True, sublinear_tf=True, negation_scope=3, char_ngrams=True,
              negative_weight=1.5, neutral_weight=1.5)

# Same recipe without char n-grams: ~5x faster to fit, slightly weaker; the quick profile's pick.
_FAST = ModelParams(name="title-text-neg3-w1.5-C4", C=4.0, use_title=True, sublinear_tf=True,
                    negation_scope=3, negative_weight=1.5, neutral_weight=1.5)

# The full profile's pick by grouped 3-fold CV weighted F1: the tuned recipe at C=2 with the
# class-prior shift on predict_proba (Neutral x1.5), inside the pipeline.
_BEST = ModelParams(name="title-text-chars-neg3-w1.5-C2-nb1.5", C=2.0, neutral_boost=1.5, **_TUNED)
WINNER: str = _BEST.name

_FULL = [
    SEED,
    # fields: text only vs title+text
    ModelParams(name="text-C4", C=4.0, sublinear_tf=True),
    ModelParams(name="title-text-C4", C=4.0, use_title=True, sublinear_tf=True),
    # n-grams and min_df
    ModelParams(name="title-text-unigram-C4", C=4.0, use_title=True, sublinear_tf=True, ngram_max=1),
    ModelParams(name="title-text-mindf2-C4", C=4.0, use_title=True, sublinear_tf=True, min_df=2),
    # class weights: partial 1.5x for Negative and Neutral (full "balanced" measured in
    # docs/model.md: slowest to fit and worst weighted F1, so it is not searched)
    _FAST,
    # C, with char n-grams
    ModelParams(name="title-text-chars-neg3-w1.5-C2", C=2.0, **_TUNED),
    ModelParams(name="title-text-chars-neg3-w1.5-C4", C=4.0, **_TUNED),
    _BEST,
]

ProfileName = Literal["full", "quick", "seed"]

PROFILES: dict[str, list[ModelParams]] = {
    "full": _FULL,
    # Two runs: enough to exercise search, selection and registration in smoke tests.
    "quick": [SEED, _FAST],
    # Only the seed recipe: a deliberately weaker challenger, and the baseline on its own.
    "seed": [SEED],
}
assert set(PROFILES) == set(get_args(ProfileName)), "ProfileName and PROFILES disagree"


def candidate(name: str, profile: str = "full") -> ModelParams:
    """One named candidate of a profile (``winner``: ``WINNER``); a clear error names the choices."""
    by_name = {p.name: p for p in PROFILES[profile]}
    name = WINNER if name == "winner" else name
    if name not in by_name:
        raise KeyError(f"no candidate {name!r} in the {profile!r} profile; choose one of {sorted(by_name)}")
    return by_name[name]
