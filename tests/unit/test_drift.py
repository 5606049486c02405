"""The drift statistics against values worked out by hand, and the reference profile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flipkart_sentiment.core import drift


def test_total_variation_is_the_mass_that_moves():
    assert drift.total_variation({"a": 1, "b": 1}, {"a": 1, "b": 1}) == 0
    assert drift.total_variation({"a": 3, "b": 1}, {"a": 1, "b": 3}) == pytest.approx(0.5)
    # A label one side never has counts fully; scale of the counts does not matter.
    assert drift.total_variation({"a": 10}, {"b": 7}) == pytest.approx(1.0)
    assert drift.total_variation({"a": 1, "b": 3}, {"a": 100, "b": 300}) == pytest.approx(0)


def test_psi_matches_its_formula_and_stays_finite_for_a_missing_class():
    expected = {"Negative": 0.2, "Neutral": 0.1, "Positive": 0.7}
    actual = {"Negative": 0.5, "Neutral": 0.1, "Positive": 0.4}
    by_hand = (0.5 - 0.2) * math.log(0.5 / 0.2) + (0.4 - 0.7) * math.log(0.4 / 0.7)
    assert drift.psi(expected, actual) == pytest.approx(by_hand)
    assert math.isfinite(drift.psi(expected, {"Negative": 5}))
    assert drift.psi(expected, expected) == pytest.approx(0)


def test_jensen_shannon_is_zero_for_equal_one_for_disjoint_and_symmetric():
    p, q = {"good": 3, "bad": 1}, {"good": 1, "bad": 3}
    assert drift.jensen_shannon(p, p) == pytest.approx(0)
    assert drift.jensen_shannon({"good": 5}, {"hotel": 2}) == pytest.approx(1.0)
    assert drift.jensen_shannon(p, q) == pytest.approx(drift.jensen_shannon(q, p))
    # p=(3/4,1/4), q=(1/4,3/4), m=(1/2,1/2): JS = 1 - H(1/4) bits
    h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert drift.jensen_shannon(p, q) == pytest.approx(1 - h)


def test_ks_statistic_is_the_largest_cdf_gap():
    assert drift.ks_statistic([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]) == 0
    assert drift.ks_statistic([0.1, 0.2], [0.8, 0.9]) == 1.0
    # CDFs at 0.5: 2/4 vs 0/2 -> gap 0.5; at 0.7: 3/4 vs 1/2 -> 0.25
    assert drift.ks_statistic([0.4, 0.5, 0.7, 0.9], [0.6, 0.8]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    same = drift.ks_statistic(rng.uniform(size=2000), rng.uniform(size=2000))
    assert same < 0.06
    with pytest.raises(ValueError):
        drift.ks_statistic([], [0.5])


def test_tokens_are_the_models_own_and_oov_counts_occurrences():
    counts = drift.token_counts(["Very nyc shuttles READ MORE", "the shuttles"])
    # slang mapped, stop words dropped, Porter-stemmed, the scraping artefact removed
    assert counts == {"veri": 1, "nice": 1, "shuttl": 2}
    assert drift.oov_rate(counts, ["shuttl"]) == pytest.approx(0.5)
    assert drift.oov_rate({}, ["shuttl"]) == 0.0


def test_model_unigrams_drop_ngrams_and_negation_prefix():
    assert drift.model_unigrams(["good", "not_good", "not good", "bad qualiti", "qualiti"]) == [
        "good", "qualiti"]


def test_reference_profile_round_trips_and_reports_what_it_lacks():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.5, 0.3]])
    ref = drift.build_reference(["good shuttle", "bad"], ["Positive", "Negative"],
                                ["good", "awful feathers", "ok"], proba,
                                ["Negative", "Neutral", "Positive"], ["good", "bad", "shuttl"])
    assert ref.predicted_counts == {"Negative": 1, "Positive": 1, "Neutral": 1}
    assert ref.confidences == [0.7, 0.8, 0.5]
    # held-out tokens: good, worst (awful is mapped), feather, ok -> 3 of 4 unknown
    assert ref.oov_rate == pytest.approx(0.75)
    assert drift.ReferenceProfile.from_dict(ref.to_dict()) == ref
    with pytest.raises(ValueError, match="vocabulary"):
        drift.ReferenceProfile.from_dict({k: v for k, v in ref.to_dict().items() if k != "vocabulary"})


def test_a_check_needs_enough_samples_and_crosses_only_above_its_threshold():
    assert drift.check("x", drift.DRIFT, 0.9, 0.2, samples=10, min_samples=50).crossed is False
    assert drift.check("x", drift.DRIFT, 0.9, 0.2, samples=10, min_samples=50).value is None
    assert drift.check("x", drift.DRIFT, 0.2, 0.2, samples=60, min_samples=50).crossed is False
    assert drift.check("x", drift.DRIFT, 0.21, 0.2, samples=60, min_samples=50).crossed is True
    assert "CROSSED" in drift.check("x", drift.QUALITY, 0.3, 0.1, 60, 50).describe()


def test_vocabulary_shift_removes_the_small_sample_bias_of_jensen_shannon():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(2000)]
    weights = 1 / np.arange(1, 2001)  # a long tail, as review vocabularies have
    reference = dict(zip(words, rng.multinomial(200_000, weights / weights.sum()).tolist(), strict=True))
    small = dict(zip(words, rng.multinomial(300, weights / weights.sum()).tolist(), strict=True))
    small = {k: v for k, v in small.items() if v}
    # Plain JS of a same-distribution sample is large; the shift beyond sampling is near 0.
    assert drift.jensen_shannon(reference, small) > 0.2
    assert abs(drift.vocabulary_shift(reference, small)) < 0.05
    foreign = small | {f"hotel{i}": 3 for i in range(100)}
    assert drift.vocabulary_shift(reference, foreign) > 0.2  # half the tokens are foreign
