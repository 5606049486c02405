"""Search profiles: named lists of ModelParams the training run tries, each as a nested run."""

from __future__ import annotations

from .model import ModelParams

# The recipe the project was seeded with; always trained so every run has a baseline row.
SEED = ModelParams(name="seed-recipe", C=1.0, ngram_max=2, max_features=5000)

_FULL = [
    SEED,
    ModelParams(name="text-balanced-C4", C=4.0, class_weight="balanced", sublinear_tf=True),
    ModelParams(name="title-text-C1", C=1.0, use_title=True),
    ModelParams(name="title-text-balanced-C4", C=4.0, class_weight="balanced", use_title=True,
                sublinear_tf=True),
    ModelParams(name="title-text-balanced-C10", C=10.0, class_weight="balanced", use_title=True,
                sublinear_tf=True),
    ModelParams(name="title-text-balanced-C4-mindf2", C=4.0, class_weight="balanced",
                use_title=True, min_df=2, sublinear_tf=True),
    ModelParams(name="title-text-unigram-balanced-C4", C=4.0, class_weight="balanced",
                use_title=True, ngram_max=1, sublinear_tf=True),
    ModelParams(name="title-text-chars-balanced-C4", C=4.0, class_weight="balanced",
                use_title=True, char_ngrams=True, sublinear_tf=True),
    ModelParams(name="title-text-chars-balanced-C10", C=10.0, class_weight="balanced",
                use_title=True, char_ngrams=True, sublinear_tf=True),
]

PROFILES: dict[str, list[ModelParams]] = {
    "full": _FULL,
    # Two runs: enough to exercise search, selection and registration in smoke tests.
    "quick": [SEED, _FULL[3]],
    # Only the seed recipe: a deliberately weaker challenger, and the baseline on its own.
    "seed": [SEED],
}
