"""The label set, and the default map from a review's star rating to its label.

Which ratings land on which label is a setting (``config.Settings.label_map``); the labels
themselves are these three names, because the model's options (class weights, the Neutral
prior shift) and the behavioural suite are written in terms of them.
"""

from __future__ import annotations

NEGATIVE = "Negative"
NEUTRAL = "Neutral"
POSITIVE = "Positive"
LABELS: tuple[str, ...] = (NEGATIVE, NEUTRAL, POSITIVE)

DEFAULT_LABEL_MAP: dict[int, str] = {1: NEGATIVE, 2: NEGATIVE, 3: NEUTRAL, 4: POSITIVE, 5: POSITIVE}
