"""The estimators: the scikit-learn Pipeline from raw (title, text) to label, and its parts.

``compiled.CompiledScorer`` turns a fitted pipeline of these parts into the serving predict
path; a part added here needs its compiled form there (tests/unit/test_compiled.py fits every
candidate of every search profile and compiles it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .labels import NEGATIVE, NEUTRAL, POSITIVE
from .text import clean, clean_clauses, tokenize, tokenize_negated

ALGORITHM = "tfidf+logistic_regression"


@dataclass(frozen=True)
class ModelParams:
    """One point of the search space. Field names become MLflow params (all flat scalars)."""

    name: str
    C: float = 1.0
    # "balanced" or None. Partial weights are the two floats below: full "balanced" weights
    # Neutral ~4.6x and costs too much weighted F1 (docs/model.md).
    class_weight: str | None = None
    negative_weight: float = 1.0
    neutral_weight: float = 1.0
    ngram_max: int = 2
    min_df: int = 1
    max_df: float = 1.0
    max_features: int | None = None
    use_title: bool = False
    sublinear_tf: bool = False
    # Character n-grams (char_wb, 2..char_ngram_max) of the review text, next to the words.
    char_ngrams: bool = False
    char_ngram_max: int = 5
    # >0: the next N content words after a negation get a "not_" prefix (text.tokenize_negated).
    negation_scope: int = 0
    # Class-prior shift applied to predict_proba: Neutral probability x this, then renormalised
    # (PriorShiftClassifier). 1.0 = the plain LogisticRegression decision.
    neutral_boost: float = 1.0

    def as_params(self) -> dict[str, object]:
        return {k: ("none" if v is None else v) for k, v in asdict(self).items()}

    @property
    def fields(self) -> str:
        return "title+text" if self.use_title else "text"

    def class_weights(self) -> str | dict[str, float] | None:
        """What LogisticRegression gets: "balanced", a per-class dict, or None."""
        if self.class_weight is not None:
            return self.class_weight
        if self.negative_weight == 1.0 and self.neutral_weight == 1.0:
            return None
        return {NEGATIVE: self.negative_weight, NEUTRAL: self.neutral_weight, POSITIVE: 1.0}


class PriorShiftClassifier(BaseEstimator, ClassifierMixin):
    """A fitted probabilistic classifier whose class probabilities are re-weighted.

    ``predict_proba`` returns p(c|x) * w_c / sum_k p(k|x) * w_k and ``predict`` its argmax, so
    the served model (which takes the argmax of predict_proba) and ``predict`` agree. With all
    weights 1 it is the wrapped estimator. Only ``boosts`` (class -> weight) is configurable; a
    class not named keeps weight 1, and a named class absent from the data is ignored.
    """

    def __init__(self, estimator=None, boosts: dict[str, float] | None = None):
        self.estimator = estimator
        self.boosts = boosts

    def fit(self, X, y, **fit_params):
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        boosts = self.boosts or {}
        self.class_weights_ = np.array([float(boosts.get(c, 1.0)) for c in self.classes_])
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        shifted = self.estimator_.predict_proba(X) * self.class_weights_
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class ColumnVectorizers(BaseEstimator, TransformerMixin):
    """Fit one text vectorizer per (name, vectorizer, column) and stack their outputs.

    What ColumnTransformer does for this pipeline, without its per-call validation and
    dispatch: a one-review predict spends most of its time there (about 35 % of predict_proba
    with three blocks). A column other than "text" that the frame lacks is read as empty
    strings, so a frame without "title" still works.
    """

    def __init__(self, transformers: list[tuple[str, object, str]] | None = None):
        self.transformers = transformers

    @staticmethod
    def _column(X, column: str):
        if column in X or column == "text":
            return X[column]
        return pd.Series([""] * len(X), index=X.index, dtype=object)

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        self.transformers_, blocks = [], []
        for name, vectorizer, column in self.transformers:
            fitted = clone(vectorizer)
            blocks.append(fitted.fit_transform(self._column(X, column)))
            self.transformers_.append((name, fitted, column))
        return self._stack(blocks)

    def transform(self, X):
        return self._stack([v.transform(self._column(X, column)) for _, v, column in self.transformers_])

    @staticmethod
    def _stack(blocks):
        return blocks[0].tocsr() if len(blocks) == 1 else sp.hstack(blocks, format="csr")

    def get_feature_names_out(self, input_features=None):
        return np.concatenate([
            [f"{name}__{f}" for f in v.get_feature_names_out()]
            for name, v, _ in self.transformers_
        ])


def _word_tfidf(params: ModelParams) -> TfidfVectorizer:
    tokenizer = (
        partial(tokenize_negated, scope=params.negation_scope) if params.negation_scope > 0
        else tokenize
    )
    return TfidfVectorizer(
        # Clause marks end negation scopes; tokenize (no negation scope) drops them, so a
        # candidate without negation scope has exactly the tokens of clean().
        preprocessor=clean_clauses,
        tokenizer=tokenizer,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_df=params.max_df,
        max_features=params.max_features,
        sublinear_tf=params.sublinear_tf,
        dtype=np.float32,
    )


def build_pipeline(params: ModelParams, seed: int = 42) -> Pipeline:
    transformers = [("text_words", _word_tfidf(params), "text")]
    if params.use_title:
        # A separate block (not title and text concatenated): the title is one of Flipkart's
        # preset phrases, and its own vocabulary keeps "Good" the title apart from "good" in
        # the text. An empty title (text-only clients) is an all-zero block.
        transformers.append(("title_words", _word_tfidf(params), "title"))
    if params.char_ngrams:
        # Character n-grams inside word boundaries tolerate typos and run-together words
        # ("gud", "goodproduct") that word features miss.
        transformers.append(
            (
                "text_chars",
                TfidfVectorizer(
                    preprocessor=clean, analyzer="char_wb", ngram_range=(2, params.char_ngram_max),
                    min_df=2, sublinear_tf=True, max_features=50_000, dtype=np.float32,
                ),
                "text",
            )
        )
    classifier = LogisticRegression(
        C=params.C, class_weight=params.class_weights(), max_iter=3000, random_state=seed
    )
    if params.neutral_boost != 1.0:
        classifier = PriorShiftClassifier(classifier, boosts={NEUTRAL: params.neutral_boost})
    return Pipeline([("features", ColumnVectorizers(transformers)), ("classifier", classifier)])


def word_features(pipeline: Pipeline) -> list[str]:
    """The review text's word features of a fitted pipeline (the text_words block)."""
    for name, vectorizer, _ in pipeline.named_steps["features"].transformers_:
        if name == "text_words":
            return list(vectorizer.vocabulary_)
    raise ValueError("the pipeline has no text_words block")
