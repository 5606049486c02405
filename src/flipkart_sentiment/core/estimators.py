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
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from .labels import NEGATIVE, NEUTRAL, POSITIVE
from .text import clean, clean_clauses, tokenize, tokenize_negated

ALGORITHM = "tfidf+logistic_regression"
# The classifier after the TF-IDF blocks (ModelParams.family): the LogisticRegression, a LinearSVC
# with sigmoid (Platt) calibration, or the weighted mean of both's probabilities.
FAMILIES = ("logreg", "svc", "blend")
ALGORITHMS = {"logreg": ALGORITHM, "svc": "tfidf+linear_svc_sigmoid",
              "blend": "tfidf+blend(logistic_regression,linear_svc_sigmoid)"}
# Folds of the SVC's Platt calibration (CalibratedClassifierCV cv): its calibrators are fit on
# out-of-fold decisions of 3 extra LinearSVC fits, which are fast next to the vectorizers.
SVC_CALIBRATION_FOLDS = 3
# Post-hoc temperature scaling (ModelParams.temperature_scaling): the share of the training rows
# held out to fit the temperature, and the range it is searched in.
TEMPERATURE_HOLDOUT = 0.2
TEMPERATURE_BOUNDS = (0.05, 20.0)


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
    # The classifier family (FAMILIES). "svc" and "blend" use svc_C for the LinearSVC (with the
    # same class weights as the LR); "blend" averages blend_weight x the LR's probabilities and
    # (1 - blend_weight) x the calibrated SVC's, before the Neutral prior shift.
    family: str = "logreg"
    svc_C: float = 0.1
    blend_weight: float = 0.5
    # Post-hoc temperature scaling of the final probabilities (TemperatureScaled), fitted on a
    # held-out part of the training rows. It keeps every argmax, so only calibration changes.
    temperature_scaling: bool = False

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family {self.family!r} is not one of {FAMILIES}")
        if not 0.0 <= self.blend_weight <= 1.0:
            raise ValueError(f"blend_weight {self.blend_weight} is not in [0, 1]")

    @property
    def algorithm(self) -> str:
        return ALGORITHMS[self.family]

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


class BlendClassifier(BaseEstimator, ClassifierMixin):
    """``weight`` x the first classifier's probabilities + (1 - weight) x the second's.

    Both are fit on the same data and must see the same classes; ``predict`` is the argmax of
    ``predict_proba``."""

    def __init__(self, first=None, second=None, weight: float = 0.5):
        self.first = first
        self.second = second
        self.weight = weight

    def fit(self, X, y, **fit_params):
        self.first_ = clone(self.first).fit(X, y, **fit_params)
        self.second_ = clone(self.second).fit(X, y, **fit_params)
        if list(self.first_.classes_) != list(self.second_.classes_):
            raise ValueError("the blended classifiers learnt different classes")
        self.classes_ = self.first_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "first_")
        return self.weight * self.first_.predict_proba(X) + (1 - self.weight) * self.second_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class CalibratedLinearSVC(BaseEstimator, ClassifierMixin):
    """A LinearSVC with sigmoid (Platt) calibration: sklearn's
    ``CalibratedClassifierCV(LinearSVC, method="sigmoid", ensemble=False)`` fit on labels encoded
    0..k-1 (``calibrated_``).

    Why the encoding: CalibratedClassifierCV's internal cross_val_predict encodes the labels
    before fitting the LinearSVC, so per-label class weights ({"Neutral": 1.5}) would not match
    in its folds; they are given here by the encoded index instead, the same in every fit.

    ensemble=False: one LinearSVC fit on all rows, its one-vs-rest decisions calibrated by
    sigmoids fit on out-of-fold decisions (``cv`` extra, fast fits). Served, that is one
    coefficient matrix and one sigmoid per class, where ensemble=True would serve (and fit) one
    SVC per fold. The folds are sklearn's stratified ones, not grouped by text; the search's
    grouped CV still judges the calibrated result on texts the model never saw.
    """

    def __init__(self, C: float = 0.1, class_weight=None, cv: int = SVC_CALIBRATION_FOLDS,
                 random_state: int | None = None):
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        weights = self.class_weight
        if isinstance(weights, dict):
            weights = {k: float(weights.get(c, 1.0)) for k, c in enumerate(self.classes_)}
        svc = LinearSVC(C=self.C, class_weight=weights, max_iter=5000, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=self.cv, ensemble=False)
        self.calibrated_.fit(X, encoded)
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def temper(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) per row: T > 1 softens, T < 1 sharpens, the order of classes stays."""
    if temperature == 1.0:
        return proba
    logits = np.log(np.maximum(proba, np.finfo(np.float64).tiny)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    tempered = np.exp(logits)
    return tempered / tempered.sum(axis=1, keepdims=True)


def _row_groups(X) -> np.ndarray:
    """One group per distinct feature row: copies of a review (same text and title) are kept on
    one side of the held-out split, as the project's split keeps copies of a text."""
    X = sp.csr_matrix(X)
    keys = [hash((X.indices[a:b].tobytes(), X.data[a:b].tobytes()))
            for a, b in zip(X.indptr[:-1], X.indptr[1:], strict=True)]
    return np.unique(keys, return_inverse=True)[1]


class TemperatureScaled(BaseEstimator, ClassifierMixin):
    """A probabilistic classifier whose probabilities are tempered: softmax(log p / T).

    ``fit`` holds out ``holdout`` of the rows (stratified, copies of a row together), fits the
    estimator on the rest, and picks T minimising the log loss of the held-out rows; then it fits
    the estimator on all rows, which is the one used. T fitted on a model that saw 80 % of the
    rows is applied to one that saw all of them: the usual approximation of post-hoc scaling."""

    def __init__(self, estimator=None, holdout: float = TEMPERATURE_HOLDOUT, random_state: int | None = None):
        self.estimator = estimator
        self.holdout = holdout
        self.random_state = random_state

    def fit(self, X, y):
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import StratifiedGroupKFold

        y = np.asarray(y)
        splitter = StratifiedGroupKFold(n_splits=max(2, round(1 / self.holdout)), shuffle=True,
                                        random_state=self.random_state)
        fit_idx, held_idx = next(splitter.split(X, y, groups=_row_groups(X)))
        held_out = clone(self.estimator).fit(X[fit_idx], y[fit_idx])
        proba = held_out.predict_proba(X[held_idx])
        column = {c: k for k, c in enumerate(held_out.classes_)}
        truth = np.array([column.get(label, -1) for label in y[held_idx]])
        proba, truth = proba[truth >= 0], truth[truth >= 0]  # a class the fit part lacked: skipped

        def log_loss(t: float) -> float:
            p = temper(proba, t)[np.arange(len(truth)), truth]
            return float(-np.log(np.maximum(p, np.finfo(np.float64).tiny)).mean())

        self.temperature_ = float(minimize_scalar(log_loss, bounds=TEMPERATURE_BOUNDS, method="bounded").x)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return temper(self.estimator_.predict_proba(X), self.temperature_)

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


def _calibrated_svc(params: ModelParams, seed: int) -> CalibratedLinearSVC:
    return CalibratedLinearSVC(C=params.svc_C, class_weight=params.class_weights(), random_state=seed)


def _classifier(params: ModelParams, seed: int):
    logreg = LogisticRegression(
        C=params.C, class_weight=params.class_weights(), max_iter=3000, random_state=seed
    )
    if params.family == "logreg":
        return logreg
    if params.family == "svc":
        return _calibrated_svc(params, seed)
    return BlendClassifier(logreg, _calibrated_svc(params, seed), weight=params.blend_weight)


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
    classifier = _classifier(params, seed)
    if params.neutral_boost != 1.0:
        classifier = PriorShiftClassifier(classifier, boosts={NEUTRAL: params.neutral_boost})
    if params.temperature_scaling:
        classifier = TemperatureScaled(classifier, random_state=seed)
    return Pipeline([("features", ColumnVectorizers(transformers)), ("classifier", classifier)])


def word_features(pipeline: Pipeline) -> list[str]:
    """The review text's word features of a fitted pipeline (the text_words block)."""
    for name, vectorizer, _ in pipeline.named_steps["features"].transformers_:
        if name == "text_words":
            return list(vectorizer.vocabulary_)
    raise ValueError("the pipeline has no text_words block")
