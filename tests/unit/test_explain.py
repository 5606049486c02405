"""Explanations: the phrases of a review that pushed its prediction, in the review's own words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.core.compiled import CompiledScorer
from flipkart_sentiment.core.estimators import build_pipeline
from flipkart_sentiment.core.explain import Explainer
from flipkart_sentiment.core.labels import DEFAULT_LABEL_MAP
from flipkart_sentiment.core.profiles import PROFILES, WINNER
from flipkart_sentiment.core.text import clean, clean_clauses, readable_tokens, tokenize, tokenize_negated

CANDIDATES = {p.name: p for p in PROFILES["full"] + PROFILES["families"]}
# Every kind of block and classifier the search builds (as in test_compiled.py): the LR alone
# (NAMES, where contributions add up to the decision exactly) and the LR blended with the
# calibrated SVC (BLEND, where explain_coef is a linear stand-in).
NAMES = ["seed-recipe", "title-text-neg3-w1.5-C4", WINNER]
BLEND = next(p.name for p in PROFILES["families"] if p.family == "blend")


@pytest.fixture(scope="module")
def reviews(data_path) -> pd.DataFrame:
    return from_bytes(data_path.read_bytes(), str(data_path), DEFAULT_LABEL_MAP).frame


@pytest.fixture(scope="module")
def explainers(reviews):
    fit = reviews.sample(n=3000, random_state=3)
    out = {}
    for name in [*NAMES, BLEND]:
        pipeline = build_pipeline(CANDIDATES[name]).fit(fit, fit["label"])
        out[name] = Explainer(CompiledScorer(pipeline), pipeline)
    return out


def _phrases(reasons: list[dict]) -> list[str]:
    return [r["phrase"] for r in reasons]


@pytest.mark.parametrize("name", ["title-text-neg3-w1.5-C4", WINNER, BLEND])
def test_a_negated_word_is_the_reason_for_negative(explainers, name):
    explainer = explainers[name]
    found = explainer.contributions([""], ["not good at all"])
    classes = explainer.classes
    assert classes[found.labels[0]] == "Negative"
    toward = _phrases(explainer.explain([""], ["not good at all"])[0]["toward"])
    assert "not good" in toward, toward


@pytest.mark.parametrize("name", [*NAMES, BLEND])
def test_a_positive_word_is_the_reason_for_positive(explainers, name):
    explainer = explainers[name]
    found = explainer.contributions([""], ["excellent product"])
    assert explainer.classes[found.labels[0]] == "Positive"
    assert "excellent" in _phrases(explainer.explain([""], ["excellent product"])[0]["toward"])


@pytest.mark.parametrize("name", NAMES)
def test_contributions_add_up_to_the_centred_decision(explainers, reviews, name):
    explainer = explainers[name]
    sample = reviews.iloc[:600]
    found = explainer.contributions(sample["title"].tolist(), sample["text"].tolist())
    sums = np.zeros_like(found.decision)
    np.add.at(sums, found.rows, found.weights)
    intercept = explainer.scorer.intercept - explainer.scorer.intercept.mean()
    centred = found.decision - found.decision.mean(axis=1, keepdims=True) - intercept
    # A temperature-scaled model's log-odds are its decision / T, and so are the contributions.
    np.testing.assert_allclose(sums, centred / explainer.scorer.temperature, atol=1e-9)


@pytest.mark.parametrize("name", [*NAMES, BLEND])
def test_phrases_are_the_reviews_own_words_not_stems(explainers, name):
    explainer = explainers[name]
    text = "Terrible quality, the shuttles broke quickly"
    result = explainer.explain(["Useless product"], [text], top=20)[0]
    reasons = result["toward"] + result["away"]
    for reason in reasons:
        own = set(clean(text).split()) if reason["field"] == "text" else set(clean("Useless product").split())
        assert set(reason["phrase"].split()) <= own | {"not"}, reason
    shown = " ".join(_phrases(reasons))
    assert "terrible" in shown or "quality" in shown
    for stem in ("terribl", "qualiti", "shuttl", "quickli", "useless"[:6] + "_"):
        assert stem not in shown.split(), shown


@pytest.mark.parametrize("name", [*NAMES, BLEND])
def test_reasons_are_ordered_signed_and_bounded(explainers, reviews, name):
    explainer = explainers[name]
    sample = reviews.iloc[:200]
    for result in explainer.explain(sample["title"].tolist(), sample["text"].tolist(), top=3):
        toward = [r["weight"] for r in result["toward"]]
        away = [r["weight"] for r in result["away"]]
        assert len(toward) <= 3 and len(away) <= 3
        assert all(w > 0 for w in toward) and all(w < 0 for w in away)
        assert toward == sorted(toward, reverse=True) and away == sorted(away)
        assert all(r["field"] in ("text", "title") for r in result["toward"] + result["away"])


def test_rows_are_explained_independently_of_the_batch(explainers, reviews):
    explainer = explainers[WINNER]
    sample = reviews.iloc[100:140]
    titles, texts = sample["title"].tolist(), sample["text"].tolist()
    batch = explainer.explain(titles, texts)
    alone = [explainer.explain([t], [x])[0] for t, x in zip(titles, texts, strict=True)]
    assert batch == alone


@pytest.mark.parametrize("scope", [0, 3])
def test_readable_tokens_are_the_tokenizers_tokens(reviews, scope):
    for text in reviews["text"].tolist()[:2000] + ["not good, but nice", "dont buy. never again"]:
        cleaned = clean_clauses(text)
        expected = tokenize_negated(cleaned, scope=scope) if scope else tokenize(cleaned)
        assert [t for t, _ in readable_tokens(cleaned, scope)] == expected


def test_a_negated_token_reads_as_its_negation_and_word():
    assert readable_tokens(clean_clauses("Didn't like it, not very good"), 3) == [
        ("did", "did"),
        ("not", "not"),
        ("not_like", "not like"),
        ("not", "not"),
        ("not_veri", "not very"),
        ("not_good", "not good"),
    ]


PIECES = list("abcdeoprstnk ABCXYZ.,!'’?😀👍😡🏸\t\n0123456789") + [
    "READ MORE",
    "http://x.in/a",
    "not ",
    "never ",
    "but ",
    "www.flipkart.com",
    "nyc ",
    "bakwas ",
    "good ",
    "worst ",
    "terrible ",
    "is ",
    "very ",
]
review_text = st.lists(st.sampled_from(PIECES), min_size=1, max_size=40).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(review_text, min_size=1, max_size=6),
    titles=st.lists(review_text, min_size=6, max_size=6),
    name=st.sampled_from(NAMES),
)
def test_generated_text_is_explained_whole(explainers, texts, titles, name):
    """Emoji, URLs, apostrophes, clause marks, negations: every TF-IDF entry is found again as a
    phrase (else contributions raises), and the phrases add up to the centred decision."""
    explainer = explainers[name]
    titles = titles[: len(texts)]
    found = explainer.contributions(titles, texts)
    sums = np.zeros_like(found.decision)
    np.add.at(sums, found.rows, found.weights)
    intercept = explainer.scorer.intercept - explainer.scorer.intercept.mean()
    centred = found.decision - found.decision.mean(axis=1, keepdims=True) - intercept
    np.testing.assert_allclose(sums, centred / explainer.scorer.temperature, atol=1e-9)
    np.testing.assert_allclose(
        explainer.predict_explained(titles, texts)[0], explainer.scorer.predict_proba(titles, texts)
    )
