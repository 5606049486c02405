"""The compiled predict path gives the pipeline's probabilities, on real and generated reviews."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from flipkart_sentiment.config import DEFAULT_LABELS
from flipkart_sentiment.data import from_bytes
from flipkart_sentiment.model import build_pipeline
from flipkart_sentiment.scoring import CompiledScorer, Uncompilable, char_wb_ngrams
from flipkart_sentiment.search import PROFILES

CANDIDATES = {p.name: p for p in PROFILES["full"]}
# The seed recipe (max_features), the quick pick (negation scope, class weights), the full pick
# (char n-grams, Neutral prior shift): every kind of block and classifier the search builds.
COMPILED = ["seed-recipe", "title-text-neg3-w1.5-C4", "title-text-chars-neg3-w1.5-C2-nb1.5"]
TOLERANCE = 1e-5  # the pipeline's features are float32, the compiled path's float64


@pytest.fixture(scope="module")
def reviews(data_path) -> pd.DataFrame:
    return from_bytes(data_path.read_bytes(), str(data_path), DEFAULT_LABELS).frame


@pytest.fixture(scope="module")
def fitted(reviews):
    # A third of the data keeps the fits quick; every review is scored below.
    fit = reviews.sample(n=3000, random_state=3)
    return {name: build_pipeline(CANDIDATES[name]).fit(fit, fit["label"]) for name in COMPILED}


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_scorer_matches_the_pipeline_on_every_review(fitted, reviews, name):
    pipeline = fitted[name]
    expected = pipeline.predict_proba(reviews[["title", "text"]])
    got = CompiledScorer(pipeline).predict_proba(reviews["title"].tolist(), reviews["text"].tolist())
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_text_only_requests_score_like_empty_titles(fitted, reviews):
    pipeline = fitted["title-text-chars-neg3-w1.5-C2-nb1.5"]
    texts = reviews["text"].tolist()[:500]
    expected = pipeline.predict_proba(pd.DataFrame({"title": [""] * len(texts), "text": texts}))
    got = CompiledScorer(pipeline).predict_proba([""] * len(texts), texts)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)


PIECES = list("abcdeoprstnk ABCXYZ.,!'’?😀👍😡🏸\t\n0123456789") + [
    "READ MORE", "http://x.in/a", "not ", "www.flipkart.com", "nyc ", "bakwas ", "good ", "worst "]
review_text = st.lists(st.sampled_from(PIECES), min_size=1, max_size=40).map("".join).filter(str.strip)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(review_text, min_size=1, max_size=8),
       titles=st.lists(review_text, min_size=8, max_size=8))
def test_compiled_scorer_matches_on_generated_text(fitted, texts, titles):
    pipeline = fitted["title-text-chars-neg3-w1.5-C2-nb1.5"]
    titles = titles[:len(texts)]
    expected = pipeline.predict_proba(pd.DataFrame({"title": titles, "text": texts}))
    got = CompiledScorer(pipeline).predict_proba(titles, texts)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)


@pytest.mark.parametrize("word", ["a", "ab", "abc", "good", "excellent"])
def test_char_ngrams_are_sklearns(word):
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))
    assert sorted(char_wb_ngrams(word, 2, 5)) == sorted(vectorizer.build_analyzer()(word))


def test_a_pipeline_it_does_not_know_is_refused(reviews):
    pipeline = build_pipeline(CANDIDATES["seed-recipe"])
    fit = reviews.head(500)
    pipeline.fit(fit, fit["label"])
    vectorizer = pipeline.named_steps["features"].transformers_[0][1]
    vectorizer.preprocessor = str.lower
    with pytest.raises(Uncompilable, match="preprocessor"):
        CompiledScorer(pipeline)


@pytest.mark.parametrize("switch,compiled", [(None, True), ("false", False)])
def test_the_pyfunc_serves_through_the_compiled_path_unless_switched_off(
        fitted, tmp_path, monkeypatch, switch, compiled):
    import joblib
    import mlflow.pyfunc

    from flipkart_sentiment.serve import SentimentModel

    pipeline = fitted["title-text-chars-neg3-w1.5-C2-nb1.5"]
    joblib.dump(pipeline, tmp_path / "pipeline.joblib")
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=SentimentModel(),
                             artifacts={"pipeline": str(tmp_path / "pipeline.joblib")})
    if switch is not None:
        monkeypatch.setenv("SENTIMENT_SERVE_COMPILED", switch)
    model = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert (model.unwrap_python_model().scorer is not None) is compiled
    out = model.predict(["not good at all", {"title": "Wonderful", "text": "nice shuttle"}])
    expected = pipeline.predict_proba(pd.DataFrame({"title": ["", "Wonderful"],
                                                    "text": ["not good at all", "nice shuttle"]}))
    got = np.array([[p["probabilities"][c] for c in pipeline.classes_] for p in out])
    np.testing.assert_allclose(got, expected, atol=1e-5)
