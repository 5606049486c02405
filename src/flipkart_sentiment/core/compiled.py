"""The serving predict path: a fitted pipeline compiled into lookup tables and arrays.

``pipeline.predict_proba`` on one review spends most of its time outside the arithmetic: a
DataFrame, sklearn's per-call validation, the analyzers run once per vectorizer (``clean`` runs
twice on the text), and a scipy matrix per block. ``CompiledScorer`` reads the fitted
vocabularies, idf weights and coefficients once, cleans each field once, caches the character
n-gram ids of each word (``char_wb`` n-grams never cross a word boundary, so a word always gives
the same ids) and computes the same TF-IDF rows and softmax with a handful of numpy calls per
batch. The classifier step may be a LogisticRegression, a sigmoid-calibrated LinearSVC or a
blend of both (estimators.ModelParams.family), each with the Neutral prior shift: all their
coefficients sit in one matrix, so a batch still does one gather, and the softmax, the sigmoid
calibrators, the blend and the shift follow sklearn's arithmetic. It returns the probabilities of
``pipeline.predict_proba`` to float rounding (the
pipeline computes features in float32, this in float64); tests/unit/test_compiled.py checks that
on every review of the data set and on generated text.

A pipeline it does not recognise raises ``Uncompilable``. Training compiles every candidate it
fits and stops with that message (workflows/search.py), so no model is registered that would
serve on the ~8x slower sklearn path; the served model keeps the sklearn path only as the
``SENTIMENT_SERVE_COMPILED=false`` kill switch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import NamedTuple

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from .estimators import (
    BlendClassifier,
    CalibratedLinearSVC,
    ColumnVectorizers,
    PriorShiftClassifier,
    TemperatureScaled,
    temper,
)
from .text import MAX_CACHED_WORD, bounded_cache, clean, clean_clauses, strip_clause_marks

# Distinct words whose character n-gram ids are kept (text.bounded_cache: longer words are not
# cached). Review vocabularies are small: about 6k distinct cleaned words in the data set.
CHAR_CACHE_WORDS = 100_000
# Distinct raw titles whose ids are kept: Flipkart titles are mostly preset phrases ("Wonderful",
# "Must buy!"), 193 distinct ones in 8.5k reviews.
TITLE_CACHE = 10_000
TITLE_CACHE_MAX_CHARS = 200


class TfidfEntries(NamedTuple):
    """Non-zero TF-IDF values of a batch of reviews: review row, stacked feature column, value."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


class Uncompilable(ValueError):
    """The pipeline has a part the compiled path does not implement."""


@dataclass(frozen=True)
class _Block:
    """One fitted TF-IDF vectorizer: which field it reads and how it maps text to ids."""

    column: str                  # "text" or "title"
    preprocess: Callable[[object], str]  # the vectorizer's preprocessor: clean or clean_clauses
    ids: Callable[[str], list[int]]  # cleaned text -> vocabulary ids, one per occurrence
    idf: np.ndarray              # (n_features,)
    sublinear_tf: bool
    offset: int                  # first column of this block in the stacked feature matrix


def _word_ids(vectorizer: TfidfVectorizer) -> Callable[[str], list[int]]:
    tokenizer = vectorizer.tokenizer
    vocabulary = vectorizer.vocabulary_
    min_n, max_n = vectorizer.ngram_range
    get = vocabulary.get

    def ids(cleaned: str) -> list[int]:
        tokens = tokenizer(cleaned)
        out: list[int] = []
        for n in range(min_n, max_n + 1):
            if n == 1:
                grams = tokens
            elif n == 2:
                grams = [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
            else:
                grams = [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
            out += [i for i in map(get, grams) if i is not None]
        return out

    return ids


def char_wb_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """sklearn's ``char_wb`` n-grams of one word: padded with a space on each side, and a word
    shorter than n counted once as a whole."""
    padded = f" {word} "
    length = len(padded)
    grams = []
    for n in range(min_n, max_n + 1):
        if length <= n:
            grams.append(padded)
            break
        grams += [padded[i:i + n] for i in range(length - n + 1)]
    return grams


def _char_ids(vectorizer: TfidfVectorizer) -> Callable[[str], list[int]]:
    vocabulary = vectorizer.vocabulary_
    min_n, max_n = vectorizer.ngram_range
    get = vocabulary.get

    @bounded_cache(maxsize=CHAR_CACHE_WORDS, max_key_chars=MAX_CACHED_WORD)
    def word_ids(word: str) -> tuple[int, ...]:
        return tuple(i for i in map(get, char_wb_ngrams(word, min_n, max_n)) if i is not None)

    def ids(cleaned: str) -> list[int]:
        out: list[int] = []
        for word in cleaned.split():
            out += word_ids(word)
        return out

    return ids


def _compile_block(vectorizer: object, column: str, offset: int) -> _Block:
    if not isinstance(vectorizer, TfidfVectorizer):
        raise Uncompilable(f"{type(vectorizer).__name__} is not a TfidfVectorizer")
    if column not in ("text", "title"):
        raise Uncompilable(f"a block reads column {column!r}; requests have text and title")
    if vectorizer.preprocessor not in (clean, clean_clauses):
        raise Uncompilable("the vectorizer's preprocessor is not text.clean or text.clean_clauses")
    if vectorizer.norm != "l2" or not vectorizer.use_idf or vectorizer.binary \
            or vectorizer.input != "content":
        raise Uncompilable("only l2-normalised TF-IDF of term counts over text content is compiled")
    if vectorizer.analyzer == "char_wb":
        ids = _char_ids(vectorizer)
    elif vectorizer.analyzer == "word" and callable(vectorizer.tokenizer) \
            and vectorizer.stop_words is None:
        ids = _word_ids(vectorizer)
    else:
        raise Uncompilable(f"analyzer {vectorizer.analyzer!r} is not compiled")
    return _Block(column, vectorizer.preprocessor, ids, np.asarray(vectorizer.idf_, dtype=np.float64),
                  bool(vectorizer.sublinear_tf), offset)


@dataclass(frozen=True)
class _Part:
    """One fitted linear classifier inside the classifier step, and its share of the probabilities.

    ``coef`` has one row per decision column, ``columns`` says where they sit in the stacked
    decision. A "softmax" part is a LogisticRegression (one row per class). A "sigmoid" part is a
    LinearSVC with its Platt calibrators, as sklearn's ``_CalibratedClassifierCV.predict_proba``
    computes them: p_k = expit(-(a_k * d_k + b_k)) per one-vs-rest decision d_k, then divided by
    their sum (uniform where the sum is 0); with two classes one decision gives p(second) and
    p(first) = 1 - p(second)."""

    kind: str               # "softmax" or "sigmoid"
    coef: np.ndarray        # (n_columns, n_features)
    intercept: np.ndarray   # (n_columns,)
    weight: float           # share of this part in the blended probabilities
    slope: np.ndarray | None = None   # sigmoid a_ per column
    offset: np.ndarray | None = None  # sigmoid b_ per column
    columns: slice | None = None  # set by _classifier_parts


def _softmax_part(linear: LogisticRegression, weight: float) -> _Part:
    coef = np.asarray(linear.coef_, dtype=np.float64)
    intercept = np.asarray(linear.intercept_, dtype=np.float64)
    if len(linear.classes_) == 2 and coef.shape[0] == 1:
        # Two labels (a label map without Neutral): sklearn keeps one row, p(second) =
        # sigmoid(z), which is the softmax of (0, z).
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    if coef.shape[0] != len(linear.classes_):
        raise Uncompilable("the classifier's coefficients do not have one row per class")
    return _Part("softmax", coef, intercept, weight)


def _sigmoid_parts(wrapper: CalibratedLinearSVC, weight: float) -> list[_Part]:
    calibrated = wrapper.calibrated_
    if not isinstance(calibrated, CalibratedClassifierCV):
        raise Uncompilable("the SVC's calibration is not a CalibratedClassifierCV")
    if len(calibrated.classes_) != len(wrapper.classes_):
        raise Uncompilable("the calibrated SVC's classes do not match its labels")
    if calibrated.method != "sigmoid":
        raise Uncompilable(f"calibration method {calibrated.method!r} is not compiled (only sigmoid)")
    members = calibrated.calibrated_classifiers_
    parts = []
    for member in members:  # predict_proba is their mean
        svc = member.estimator
        if not isinstance(svc, LinearSVC):
            raise Uncompilable("the calibrated classifier is not a LinearSVC")
        if list(svc.classes_) != list(calibrated.classes_):
            raise Uncompilable("the calibrated LinearSVC saw other classes than its calibrators")
        calibrators = member.calibrators
        if not all(isinstance(c, _SigmoidCalibration) for c in calibrators):
            raise Uncompilable("the calibrators are not sigmoids")
        coef = np.asarray(svc.coef_, dtype=np.float64)
        two_classes = len(svc.classes_) == 2
        if coef.shape[0] != len(calibrators) or (coef.shape[0] != len(svc.classes_) and not two_classes):
            raise Uncompilable("the LinearSVC's decisions do not match its calibrators")
        parts.append(_Part("sigmoid", coef, np.asarray(svc.intercept_, dtype=np.float64),
                           weight / len(members),
                           np.array([c.a_ for c in calibrators], dtype=np.float64),
                           np.array([c.b_ for c in calibrators], dtype=np.float64)))
    return parts


def _parts(classifier: object, weight: float = 1.0) -> list[_Part]:
    """The linear parts of a classifier (LogisticRegression, sigmoid-calibrated LinearSVC or a
    blend of them) with their shares of the probabilities."""
    if isinstance(classifier, LogisticRegression):
        return [_softmax_part(classifier, weight)]
    if isinstance(classifier, CalibratedLinearSVC):
        return _sigmoid_parts(classifier, weight)
    if isinstance(classifier, BlendClassifier):
        share = float(classifier.weight)
        return _parts(classifier.first_, weight * share) + _parts(classifier.second_, weight * (1 - share))
    raise Uncompilable(f"the classifier {type(classifier).__name__} is not a LogisticRegression, a "
                       "sigmoid-calibrated LinearSVC or a blend of them")


def _classifier_parts(classifier: object) -> tuple[list[_Part], np.ndarray, np.ndarray | None, float]:
    """The linear parts, the classes, the prior-shift class weights if any, and the temperature."""
    temperature = 1.0
    if isinstance(classifier, TemperatureScaled):
        classifier, temperature = classifier.estimator_, float(classifier.temperature_)
    if isinstance(classifier, PriorShiftClassifier):
        inner, weights = classifier.estimator_, np.asarray(classifier.class_weights_, dtype=float)
    else:
        inner, weights = classifier, None
    parts, stacked = [], 0
    for part in _parts(inner):
        width = part.coef.shape[0]
        parts.append(replace(part, columns=slice(stacked, stacked + width)))
        stacked += width
    return parts, np.asarray(inner.classes_), weights, temperature


def _explain_coef(parts: list[_Part], n_classes: int) -> np.ndarray:
    """(n_features, n_classes): per class, the blend-weighted feature slopes of each part's
    log-odds for that class. A LogisticRegression's are its coefficients; a sigmoid part's
    calibrated log-odds of class k against the rest is -(a_k d_k + b_k), whose slope is -a_k times
    the SVC's coefficients (with two classes the first class's is the opposite of the second's).
    The parts' probabilities are mixed, not their log-odds, so for a blend this is a linear
    stand-in, exact for each family alone up to the normalisation across classes."""
    explain = np.zeros((parts[0].coef.shape[1], n_classes))
    for part in parts:
        if part.kind == "softmax":
            explain += part.weight * part.coef.T
        elif part.coef.shape[0] == n_classes:
            explain += part.weight * (part.coef.T * -part.slope)
        else:  # two classes, one decision for the second
            second = part.weight * (part.coef[0] * -part.slope[0])
            explain[:, 0] -= second
            explain[:, 1] += second
    return explain


class CompiledScorer:
    """``predict_proba`` of a fitted ``model.build_pipeline`` pipeline, for lists of reviews."""

    def __init__(self, pipeline) -> None:
        try:
            self._compile(pipeline)
        except (AttributeError, KeyError, TypeError) as exc:  # unfitted, or another shape
            raise Uncompilable(f"not a fitted build_pipeline pipeline: {exc}") from exc

    def _compile(self, pipeline) -> None:
        if not isinstance(pipeline, Pipeline) or list(pipeline.named_steps) != ["features",
                                                                                "classifier"]:
            raise Uncompilable("the pipeline's steps are not exactly features -> classifier")
        features, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
        if not isinstance(features, ColumnVectorizers):
            raise Uncompilable("the features step is not ColumnVectorizers")
        self.parts, self.classes, self.class_weights, self.temperature = _classifier_parts(classifier)
        coef = np.vstack([p.coef for p in self.parts])
        intercept = np.concatenate([p.intercept for p in self.parts])

        self.blocks: list[_Block] = []
        offset = 0
        for _, vectorizer, column in features.transformers_:
            block = _compile_block(vectorizer, column, offset)
            self.blocks.append(block)
            offset += len(block.idf)
        if offset != coef.shape[1]:
            raise Uncompilable("the feature blocks do not add up to the classifier's inputs")
        # Rows of feature weights, so a gather by feature id gives every decision column of every
        # part (the LR's classes, then the SVC's one-vs-rest decisions) at once.
        self.coef_t = np.ascontiguousarray(coef.T)
        self.intercept = intercept
        # (features, classes): a linear stand-in for each class's decision, read by core.explain.
        # Tempered log-probabilities are the log-probabilities / T: so are their slopes.
        self.explain_coef = _explain_coef(self.parts, len(self.classes)) / self.temperature

        self._text_blocks = [b for b in self.blocks if b.column == "text"]
        self._title_blocks = [b for b in self.blocks if b.column == "title"]
        title_blocks = self._title_blocks

        # Titles repeat, so their ids (one sequence per title block) are cached whole.
        @bounded_cache(maxsize=TITLE_CACHE, max_key_chars=TITLE_CACHE_MAX_CHARS)
        def title_ids(raw: str) -> tuple[tuple[int, ...], ...]:
            return tuple(tuple(b.ids(b.preprocess(raw))) for b in title_blocks)

        self._title_ids = title_ids

    def predict_proba(self, titles: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        return self.proba_from_decision(self.decision(self.tfidf(titles, texts), len(texts)))

    def tfidf(self, titles: Sequence[str], texts: Sequence[str]) -> TfidfEntries:
        """The non-zero entries of the stacked, l2-normalised TF-IDF rows of the reviews."""
        n = len(texts)
        found_per_block: list[tuple[_Block, list]] = []
        if self._text_blocks:
            # Each text is normalised once: clean() is clean_clauses() without the clause marks.
            clauses = list(map(clean_clauses, texts))
            cleaned = {clean_clauses: clauses}
            if any(b.preprocess is clean for b in self._text_blocks):
                cleaned[clean] = list(map(strip_clause_marks, clauses))
            found_per_block += [(b, list(map(b.ids, cleaned[b.preprocess])))
                                for b in self._text_blocks]
        if self._title_blocks:
            per_title = list(map(self._title_ids, titles))
            found_per_block += [(b, [ids[k] for ids in per_title])
                                for k, b in enumerate(self._title_blocks)]

        rows_all, cols_all, vals_all = [], [], []
        for block, found in found_per_block:
            lengths = np.fromiter(map(len, found), dtype=np.int64, count=n)
            total = int(lengths.sum())
            if total == 0:
                continue
            cols = np.fromiter(chain.from_iterable(found), dtype=np.int64, count=total)
            rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
            # One key per (row, feature) pair, so np.unique counts each term in each review.
            width = len(block.idf)
            keys, counts = np.unique(rows * width + cols, return_counts=True)
            rows_u, cols_u = np.divmod(keys, width)
            tf = counts.astype(np.float64)
            if block.sublinear_tf:
                tf = np.log(tf) + 1.0
            values = tf * block.idf[cols_u]
            norms = np.sqrt(np.bincount(rows_u, weights=values * values, minlength=n))
            values /= norms[rows_u]
            rows_all.append(rows_u)
            cols_all.append(cols_u + block.offset)
            vals_all.append(values)
        if not rows_all:
            return TfidfEntries(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
        return TfidfEntries(np.concatenate(rows_all), np.concatenate(cols_all),
                            np.concatenate(vals_all))

    def decision(self, entries: TfidfEntries, n: int) -> np.ndarray:
        """The stacked linear decisions (n reviews x the parts' columns: one per class for a single
        LR or SVC, twice that for a blend) on those entries."""
        decision = np.tile(self.intercept, (n, 1))
        if len(entries.rows):
            weighted = self.coef_t[entries.cols] * entries.values[:, None]
            for k in range(decision.shape[1]):
                decision[:, k] += np.bincount(entries.rows, weights=weighted[:, k], minlength=n)
        return decision

    def proba_from_decision(self, decision: np.ndarray) -> np.ndarray:
        parts = self.parts
        if len(parts) == 1 and parts[0].kind == "softmax":
            proba = _softmax(decision)
        else:
            proba = sum(p.weight * _part_proba(p, decision[:, p.columns]) for p in parts)
        if self.class_weights is not None:
            proba *= self.class_weights
            proba /= proba.sum(axis=1, keepdims=True)
        return temper(proba, self.temperature)


def _softmax(decision: np.ndarray) -> np.ndarray:
    decision = decision - decision.max(axis=1, keepdims=True)
    proba = np.exp(decision)
    proba /= proba.sum(axis=1, keepdims=True)
    return proba


def _part_proba(part: _Part, decision: np.ndarray) -> np.ndarray:
    if part.kind == "softmax":
        return _softmax(decision)
    calibrated = expit(-(part.slope * decision + part.offset))
    if calibrated.shape[1] == 1:  # two classes: the one decision is the second's
        return np.hstack([1.0 - calibrated, calibrated])
    total = calibrated.sum(axis=1, keepdims=True)
    uniform = np.full_like(calibrated, 1.0 / calibrated.shape[1])
    return np.divide(calibrated, total, out=uniform, where=total != 0)
