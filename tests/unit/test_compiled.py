"""The compiled predict path gives the pipeline's probabilities, on real and generated reviews."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.core.compiled import CompiledScorer, Uncompilable, char_wb_ngrams
from flipkart_sentiment.core.estimators import ModelParams, build_pipeline
from flipkart_sentiment.core.labels import DEFAULT_LABEL_MAP
from flipkart_sentiment.core.profiles import _TUNED, PROFILES, WINNER

# The second family, with and without the blend and the prior shift, whatever the profiles hold.
FAMILIES = [
    ModelParams(name="test-svc", family="svc", svc_C=0.1, **_TUNED),
    ModelParams(name="test-blend-nb1.5", family="blend", C=2.0, svc_C=0.1, blend_weight=0.4,
                neutral_boost=1.5, **_TUNED),
    ModelParams(name="test-lr-nb2-T", C=0.5, neutral_boost=2.0, temperature_scaling=True, **_TUNED),
]
CANDIDATES = {p.name: p for p in PROFILES["full"] + FAMILIES}
# The seed recipe (max_features), the quick pick (negation scope, class weights), the full pick
# (char n-grams, Neutral prior shift) and the calibrated SVC alone and blended with the LR: every
# kind of block and classifier the search builds.
COMPILED = list(dict.fromkeys(["seed-recipe", "title-text-neg3-w1.5-C4", WINNER,
                               *(p.name for p in FAMILIES)]))
TOLERANCE = 1e-5  # the pipeline's features are float32, the compiled path's float64


@pytest.fixture(scope="module")
def reviews(data_path) -> pd.DataFrame:
    return from_bytes(data_path.read_bytes(), str(data_path), DEFAULT_LABEL_MAP).frame


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
    pipeline = fitted[WINNER]
    texts = reviews["text"].tolist()[:500]
    expected = pipeline.predict_proba(pd.DataFrame({"title": [""] * len(texts), "text": texts}))
    got = CompiledScorer(pipeline).predict_proba([""] * len(texts), texts)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)


PIECES = list("abcdeoprstnk ABCXYZ.,!'’?😀👍😡🏸\t\n0123456789") + [
    "READ MORE", "http://x.in/a", "not ", "www.flipkart.com", "nyc ", "bakwas ", "good ", "worst "]
review_text = st.lists(st.sampled_from(PIECES), min_size=1, max_size=40).map("".join).filter(str.strip)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(review_text, min_size=1, max_size=8),
       titles=st.lists(review_text, min_size=8, max_size=8), name=st.sampled_from(COMPILED))
def test_compiled_scorer_matches_on_generated_text(fitted, texts, titles, name):
    pipeline = fitted[name]
    titles = titles[:len(texts)]
    expected = pipeline.predict_proba(pd.DataFrame({"title": titles, "text": texts}))
    got = CompiledScorer(pipeline).predict_proba(titles, texts)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)


def test_long_words_and_titles_score_like_the_pipeline_without_filling_the_caches(fitted):
    from flipkart_sentiment.core import compiled
    from flipkart_sentiment.core.text import MAX_CACHED_WORD

    pipeline = fitted[WINNER]
    scorer = CompiledScorer(pipeline)
    long_words = ["good" + "xy" * 30 + str(i) for i in range(50)]  # > MAX_CACHED_WORD
    texts = [f"{w} worst {w}" for w in long_words]
    titles = ["Nice " * 60] * len(texts)  # > TITLE_CACHE_MAX_CHARS
    expected = pipeline.predict_proba(pd.DataFrame({"title": titles, "text": texts}))
    np.testing.assert_allclose(scorer.predict_proba(titles, texts), expected, atol=TOLERANCE)
    assert len(long_words[0]) > MAX_CACHED_WORD
    assert len(titles[0]) > compiled.TITLE_CACHE_MAX_CHARS


def _dense(entries, n, width):
    matrix = np.zeros((n, width))
    np.add.at(matrix, (entries.rows, entries.cols), entries.values)
    return matrix


def test_explain_coef_is_the_linear_stand_in_of_each_family(fitted, reviews):
    titles, texts = reviews["title"].tolist()[:300], reviews["text"].tolist()[:300]
    lr = CompiledScorer(fitted["title-text-neg3-w1.5-C4"])
    assert lr.explain_coef.shape == (len(lr.coef_t), 3)
    np.testing.assert_array_equal(lr.explain_coef, lr.coef_t)

    svc = CompiledScorer(fitted["test-svc"])
    x = _dense(svc.tfidf(titles, texts), len(texts), len(svc.coef_t))
    (part,) = svc.parts
    # The calibrated log-odds of each class against the rest, -(a d + b), is linear in the features
    # with slope explain_coef: what is left is a constant per class.
    log_odds = -(part.slope * svc.decision(svc.tfidf(titles, texts), len(texts)) + part.offset)
    rest = log_odds - x @ svc.explain_coef
    np.testing.assert_allclose(rest, np.broadcast_to(rest[0], rest.shape), atol=1e-9)

    blend = CompiledScorer(fitted["test-blend-nb1.5"])
    lr_part, svc_part = blend.parts
    assert (lr_part.weight, svc_part.weight) == pytest.approx((0.4, 0.6))
    np.testing.assert_allclose(
        blend.explain_coef, 0.4 * lr_part.coef.T + 0.6 * svc_part.coef.T * -svc_part.slope)
    # One gather: the stacked matrix holds the LR's three rows and the SVC's three decisions.
    assert blend.coef_t.shape == (len(blend.explain_coef), 6)

    tempered = CompiledScorer(fitted["test-lr-nb2-T"])
    assert tempered.temperature != 1.0
    np.testing.assert_allclose(tempered.explain_coef, tempered.coef_t / tempered.temperature)


@pytest.mark.parametrize("word", ["a", "ab", "abc", "good", "excellent"])
def test_char_ngrams_are_sklearns(word):
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))
    assert sorted(char_wb_ngrams(word, 2, 5)) == sorted(vectorizer.build_analyzer()(word))


def _small_fit(reviews, blend: bool = False):
    fit = reviews.head(500)
    params = CANDIDATES["title-text-neg3-w1.5-C4"]
    if blend:
        params = replace(params, family="blend")
    pipeline = build_pipeline(params)
    return pipeline.fit(fit, fit["label"])


def _other_preprocessor(p):
    p.named_steps["features"].transformers_[0][1].preprocessor = str.lower


def _binary_counts(p):
    p.named_steps["features"].transformers_[0][1].binary = True


def _unknown_column(p):
    name, vectorizer, _ = p.named_steps["features"].transformers_[1]
    p.named_steps["features"].transformers_[1] = (name, vectorizer, "summary")


def _extra_step(p):
    from sklearn.preprocessing import MaxAbsScaler

    p.steps.insert(1, ("scale", MaxAbsScaler()))


def _isotonic(p):
    p.steps[-1][1].second_.calibrated_.method = "isotonic"


def _other_classifier(p):
    from sklearn.naive_bayes import MultinomialNB

    p.steps[-1] = ("classifier", MultinomialNB())


@pytest.mark.parametrize("change,reason", [
    (_other_preprocessor, "preprocessor"),
    (_binary_counts, "term counts"),
    (_unknown_column, "column 'summary'"),
    (_extra_step, "features -> classifier"),
    (_other_classifier, "LogisticRegression"),
    (_isotonic, "calibration method 'isotonic'"),
])
def test_a_pipeline_it_does_not_know_is_refused(reviews, change, reason):
    pipeline = _small_fit(reviews, blend=change is _isotonic)
    change(pipeline)
    with pytest.raises(Uncompilable, match=reason):
        CompiledScorer(pipeline)


def test_an_unfitted_pipeline_is_refused():
    with pytest.raises(Uncompilable, match="not a fitted"):
        CompiledScorer(build_pipeline(CANDIDATES["seed-recipe"]))


@pytest.mark.parametrize("switch,compiled", [(None, True), ("false", False)])
def test_the_pyfunc_serves_through_the_compiled_path_unless_switched_off(
        fitted, tmp_path, monkeypatch, switch, compiled):
    import joblib
    import mlflow.pyfunc

    from flipkart_sentiment.serving.packaging import MODEL_CODE

    pipeline = fitted[WINNER]
    joblib.dump(pipeline, tmp_path / "pipeline.joblib")
    mlflow.pyfunc.save_model(tmp_path / "model", python_model=str(MODEL_CODE),
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


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_candidate_of_every_profile_compiles(reviews, profile):
    """Training refuses a winner the compiled path cannot serve (workflows.search): so every
    candidate the profiles can pick must compile, and answer like its pipeline."""
    fit = reviews.sample(n=800, random_state=5)
    texts, titles = reviews["text"].tolist()[:200], reviews["title"].tolist()[:200]
    for params in PROFILES[profile]:
        pipeline = build_pipeline(params).fit(fit, fit["label"])
        expected = pipeline.predict_proba(pd.DataFrame({"title": titles, "text": texts}))
        got = CompiledScorer(pipeline).predict_proba(titles, texts)
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, err_msg=params.name)


@pytest.mark.parametrize("name", [WINNER, "test-blend-nb1.5"])
def test_a_two_label_map_compiles_and_answers_like_the_pipeline(reviews, name):
    """SENTIMENT_LABEL_MAP may fold Neutral away: sklearn then keeps one coefficient row (the LR)
    and one decision and calibrator (the SVC)."""
    two = reviews.assign(label=reviews["label"].replace({"Neutral": "Negative"})).sample(
        n=2000, random_state=9)
    pipeline = build_pipeline(CANDIDATES[name]).fit(two, two["label"])
    assert CompiledScorer(pipeline).explain_coef.shape[1] == 2
    texts, titles = reviews["text"].tolist()[:500], reviews["title"].tolist()[:500]
    expected = pipeline.predict_proba(pd.DataFrame({"title": titles, "text": texts}))
    np.testing.assert_allclose(CompiledScorer(pipeline).predict_proba(titles, texts), expected,
                               atol=TOLERANCE)


def test_training_stops_on_a_candidate_it_could_not_serve_fast(reviews):
    from flipkart_sentiment.workflows.search import NotServable, ensure_servable

    pipeline = _small_fit(reviews)
    _other_classifier(pipeline)
    with pytest.raises(NotServable, match="cannot be served on the compiled path"):
        ensure_servable(CANDIDATES["title-text-neg3-w1.5-C4"], pipeline)
