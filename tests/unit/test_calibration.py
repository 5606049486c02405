"""Expected calibration error and reliability curves (core.calibration), and the diagram."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flipkart_sentiment.core import calibration as cal

CLASSES = ["Negative", "Neutral", "Positive"]


def _calibrated_sample(n: int, seed: int = 0):
    """Labels drawn from the probabilities themselves: calibrated by construction."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet([0.6, 0.3, 1.2], size=n)
    draws = (rng.random(n)[:, None] > proba.cumsum(axis=1)).sum(axis=1)
    return proba, [CLASSES[k] for k in np.minimum(draws, 2)]


def test_calibrated_probabilities_have_an_ece_near_zero():
    proba, y = _calibrated_sample(200_000)
    scores = cal.calibration_scores(proba, y, CLASSES)
    assert set(scores) == {"ece", "ece_negative", "ece_neutral", "ece_positive"}
    assert all(v < 0.01 for v in scores.values()), scores


def test_overconfident_probabilities_have_a_large_ece():
    proba, y = _calibrated_sample(50_000)
    # Sharpen every row (temperature 1/4): the same argmax, claimed far more confidently.
    sharp = proba**4 / (proba**4).sum(axis=1, keepdims=True)
    calibrated, overconfident = cal.top_label(proba, y, CLASSES), cal.top_label(sharp, y, CLASSES)
    assert calibrated.ece < 0.01
    assert overconfident.ece > 0.1
    filled = overconfident.counts > 0
    # Overconfident: in the occupied bins the claimed confidence is above the accuracy.
    assert (overconfident.predicted[filled] >= overconfident.observed[filled] - 0.02).all()


def test_top_label_ece_by_hand():
    # Two bins used: 0.9 confidence, 3 of 4 right (gap 0.15); 0.6 confidence, 1 of 1 right (0.4).
    proba = np.array([[0.9, 0.05, 0.05]] * 4 + [[0.2, 0.6, 0.2]])
    y = ["Negative", "Negative", "Negative", "Positive", "Neutral"]
    curve = cal.top_label(proba, y, CLASSES)
    assert curve.counts.sum() == 5 and curve.counts[9] == 4 and curve.counts[6] == 1
    assert curve.ece == pytest.approx((4 * 0.15 + 1 * 0.4) / 5)


def test_per_class_ece_is_one_vs_rest_by_hand():
    # Neutral is always given 0.3 and is the label of 1 review in 4: gap 0.05 in one bin.
    # Positive is given 0.2 or 0.5, and is the label of none of them: gaps 0.2 and 0.5.
    proba = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    y = ["Negative", "Neutral", "Negative", "Negative"]
    scores = cal.calibration_scores(proba, y, CLASSES)
    assert scores["ece_neutral"] == pytest.approx(0.05)
    assert scores["ece_positive"] == pytest.approx((2 * 0.2 + 2 * 0.5) / 4)
    # Negative: 0.5 -> 1 of 2 (gap 0), 0.2 -> 2 of 2 (gap 0.8).
    assert scores["ece_negative"] == pytest.approx(0.4)


def test_bins_are_equal_width_and_a_probability_of_one_is_counted():
    curve = cal.reliability(np.array([0.0, 0.1, 0.5, 0.99, 1.0]), np.array([0, 0, 1, 1, 1]))
    np.testing.assert_allclose(curve.edges, np.linspace(0, 1, cal.N_BINS + 1))
    assert curve.counts.tolist() == [1, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert np.isnan(curve.predicted[2]) and curve.ece == pytest.approx((0.1 + 0.5 + 2 * 0.005) / 5)


def test_an_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="not among the classes"):
        cal.calibration_scores(np.full((1, 3), 1 / 3), ["Mixed"], CLASSES)


def test_reliability_figure_draws(tmp_path):
    from flipkart_sentiment.adapters.plots import reliability_figure, save_figure

    proba, y = _calibrated_sample(2000)
    fig = reliability_figure(cal.top_label(proba, y, CLASSES), cal.per_class(proba, y, CLASSES), "t")
    save_figure(fig, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 5000


def test_cross_validate_gives_out_of_fold_probabilities_whose_argmax_is_predict(data_path):
    from flipkart_sentiment.adapters.data import load_reviews
    from flipkart_sentiment.core.profiles import SEED
    from flipkart_sentiment.core.selection import cross_validate
    from flipkart_sentiment.core.split import grouped_folds

    train = load_reviews(str(data_path)).frame.sample(n=900, random_state=1).reset_index(drop=True)
    folds = grouped_folds(train, 3, seed=42)
    oof = cross_validate(SEED, train, folds, seed=42)
    assert list(oof.classes) == sorted(train["label"].unique())
    np.testing.assert_allclose(oof.proba.sum(axis=1), 1.0)
    fit_idx, val_idx = folds[0]
    from flipkart_sentiment.core.estimators import build_pipeline

    pipeline = build_pipeline(SEED, 42).fit(train.iloc[fit_idx], train.iloc[fit_idx]["label"])
    assert (oof.predicted[val_idx] == pipeline.predict(train.iloc[val_idx])).all()
    assert isinstance(oof.predicted[0], str) and not pd.isna(oof.proba).any()


def test_temperature_keeps_the_argmax_and_softens_or_sharpens():
    from flipkart_sentiment.core.estimators import temper

    proba, _ = _calibrated_sample(1000)
    for t in (0.5, 2.0):
        tempered = temper(proba, t)
        np.testing.assert_allclose(tempered.sum(axis=1), 1.0)
        assert (tempered.argmax(axis=1) == proba.argmax(axis=1)).all()
    assert (temper(proba, 2.0).max(axis=1) <= proba.max(axis=1) + 1e-12).all()
    assert (temper(proba, 0.5).max(axis=1) >= proba.max(axis=1) - 1e-12).all()
    assert temper(proba, 1.0) is proba


def test_temperature_scaling_softens_an_overconfident_classifier():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from flipkart_sentiment.core.estimators import TemperatureScaled

    X, y = make_classification(
        n_samples=2000, n_features=300, n_informative=5, n_classes=3, flip_y=0.2, random_state=0
    )
    labels = np.array(CLASSES)[y]
    # Nearly unregularised on noisy labels: far too sure of itself.
    scaled = TemperatureScaled(LogisticRegression(C=1e4, max_iter=5000), random_state=0).fit(
        X[:1200], labels[:1200]
    )
    assert scaled.temperature_ > 1.2
    raw = scaled.estimator_.predict_proba(X[1200:])
    tempered = scaled.predict_proba(X[1200:])
    assert (tempered.argmax(axis=1) == raw.argmax(axis=1)).all()
    assert (
        cal.top_label(tempered, labels[1200:], CLASSES).ece < cal.top_label(raw, labels[1200:], CLASSES).ece
    )
