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

# The earlier pick by grouped 3-fold CV weighted F1: the tuned recipe at C=2 with the class-prior
# shift on predict_proba (Neutral x1.5), inside the pipeline.
_BEST_LR_NB15 = ModelParams(name="title-text-chars-neg3-w1.5-C2-nb1.5", C=2.0, neutral_boost=1.5, **_TUNED)

# Widened where the LR's winner sat at the grid's edge: a smaller C with a larger Neutral prior.
# The prior x2 pushes probabilities away from their frequencies (test ECE 0.040 without scaling,
# docs/model.md), so the candidate carries post-hoc temperature scaling ("-T"), which keeps every
# prediction and brings the ECE back down.
_BEST = ModelParams(name="title-text-chars-neg3-w1.5-C1-nb2-T", C=1.0, neutral_boost=2.0,
                    temperature_scaling=True, **_TUNED)
WINNER: str = _BEST.name

# The second family (a sigmoid-calibrated LinearSVC, alone and blended with the LR) and C=0.5.
# On grouped CV they edge out _BEST by at most 0.0011 weighted F1 (noise: about 7 reviews), but
# each drops the CheckList's delivery_vs_product to 11/16, below its 0.75 floor, so the `full`
# search (whose pick is shipped) does not hold them; `families` searches them (docs/model.md).
_FAMILIES = [
    ModelParams(name="title-text-chars-neg3-w1.5-C0.5-nb2-T", C=0.5, neutral_boost=2.0,
                temperature_scaling=True, **_TUNED),
    ModelParams(name="title-text-chars-neg3-w1.5-C0.5-nb2.5-T", C=0.5, neutral_boost=2.5,
                temperature_scaling=True, **_TUNED),
    ModelParams(name="title-text-chars-neg3-w1.5-svc0.1-nb2-T", family="svc", svc_C=0.1,
                neutral_boost=2.0, temperature_scaling=True, **_TUNED),
    ModelParams(name="title-text-chars-neg3-w1.5-blend0.5-C1-svc0.1-nb2-T", family="blend", C=1.0,
                svc_C=0.1, blend_weight=0.5, neutral_boost=2.0, temperature_scaling=True, **_TUNED),
    ModelParams(name="title-text-chars-neg3-w1.5-blend0.7-C1-svc0.1-nb2-T", family="blend", C=1.0,
                svc_C=0.1, blend_weight=0.7, neutral_boost=2.0, temperature_scaling=True, **_TUNED),
]

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
    _BEST_LR_NB15,
    _BEST,
]

ProfileName = Literal["full", "quick", "seed", "families"]

PROFILES: dict[str, list[ModelParams]] = {
    "full": _FULL,
    # Two runs: enough to exercise search, selection and registration in smoke tests.
    "quick": [SEED, _FAST],
    # Only the seed recipe: a deliberately weaker challenger, and the baseline on its own.
    "seed": [SEED],
    # The second classifier family next to the LR picks, for comparing them (not the shipped search).
    "families": [SEED, _BEST_LR_NB15, _BEST, *_FAMILIES],
}
assert set(PROFILES) == set(get_args(ProfileName)), "ProfileName and PROFILES disagree"


def candidate(name: str, profile: str = "full") -> ModelParams:
    """One named candidate of a profile (``winner``: ``WINNER``); a clear error names the choices."""
    by_name = {p.name: p for p in PROFILES[profile]}
    name = WINNER if name == "winner" else name
    if name not in by_name:
        raise KeyError(f"no candidate {name!r} in the {profile!r} profile; choose one of {sorted(by_name)}")
    return by_name[name]
