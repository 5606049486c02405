"""Why a review got its label: the phrases of the review that pushed it toward and away from it.

The compiled scorer's decision for class k is ``intercept[k] + sum_j tfidf[j] * coef[j, k]``
(``CompiledScorer.explain_coef`` is that ``coef``, a linear stand-in for other classifier
families). A feature's contribution to label k is its TF-IDF value times its weight for k
*centred over the classes*: softmax is invariant to a shift shared by all classes, so the part
of a weight that every class has says nothing about the label; what is left sums, over all
features, to ``decision[k] - mean(decision)`` less the centred intercept (divided by T for a
temperature-scaled model).

Features are mapped back to the review's own words, not stems: a word-block token is the
cleaned word it was stemmed from ("terrible", not "worst"/"terribl"), a negation-scope token
reads "not good" (the negation word and the word), an n-gram is its first token's phrase and the
following words ("not very good"), a character n-gram belongs to the word it was cut from, and
title features are the title's words. Contributions are summed per (field, phrase); a feature
that occurs several times in a review is shared equally between its occurrences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from .compiled import CompiledScorer, Uncompilable
from .text import clean_clauses, readable_tokens, strip_clause_marks, tokenize, tokenize_negated

DEFAULT_TOP = 5
MAX_TOP = 20
WEIGHT_DIGITS = 4


def _scope_of(tokenizer: object) -> int:
    if tokenizer is tokenize:
        return 0
    if isinstance(tokenizer, partial) and tokenizer.func is tokenize_negated and not tokenizer.args:
        return int(tokenizer.keywords.get("scope", 3))
    if tokenizer is tokenize_negated:
        return 3
    raise Uncompilable("a word block's tokenizer is not text.tokenize or text.tokenize_negated")


@dataclass(frozen=True)
class _WordBlock:
    column: str
    offset: int
    vocabulary: dict[str, int]
    ngrams: tuple[int, int]
    scope: int


@dataclass(frozen=True)
class _CharBlock:
    column: str
    offset: int
    word_ids: Callable[[str], list[int]]  # the compiled block's ids of one cleaned word


@dataclass
class Contributions:
    """Per review, the (field, phrase) pairs found in it and their contribution to every class."""

    rows: np.ndarray  # (m,) review of each phrase entry
    phrases: list[tuple[str, str]]  # (m,) (field, phrase)
    weights: np.ndarray  # (m, classes)
    decision: np.ndarray  # (n, columns): the scorer's decision, a column per part and class
    labels: np.ndarray  # (n,) predicted class index


class Explainer:
    """Phrase contributions of a compiled scorer. ``pipeline`` is the fitted pipeline the scorer
    was compiled from: its word vectorizers' vocabularies map tokens back to feature ids."""

    def __init__(self, scorer: CompiledScorer, pipeline) -> None:
        self.scorer = scorer
        self.classes = [str(c) for c in pipeline.classes_]
        coef = np.asarray(scorer.explain_coef, dtype=np.float64)
        # Centred over the classes (module docstring): the shared part moves no probability.
        self.centred = coef - coef.mean(axis=1, keepdims=True)
        self.width = coef.shape[0]
        vectorizers = [v for _, v, _ in pipeline.named_steps["features"].transformers_]
        if len(vectorizers) != len(scorer.blocks):
            raise Uncompilable("the pipeline's blocks are not the scorer's")
        self.blocks: list[_WordBlock | _CharBlock] = []
        for block, vectorizer in zip(scorer.blocks, vectorizers, strict=True):
            if len(vectorizer.vocabulary_) != len(block.idf):
                raise Uncompilable("the pipeline's vocabularies are not the scorer's")
            if vectorizer.analyzer == "char_wb":
                self.blocks.append(_CharBlock(block.column, block.offset, block.ids))
            else:
                self.blocks.append(
                    _WordBlock(
                        block.column,
                        block.offset,
                        vectorizer.vocabulary_,
                        tuple(vectorizer.ngram_range),
                        _scope_of(vectorizer.tokenizer),
                    )
                )

    def contributions(self, titles: Sequence[str], texts: Sequence[str]) -> Contributions:
        """Every phrase of every review with its contribution to each class (rows independent:
        a review's phrases and weights do not depend on the others in the batch)."""
        n = len(texts)
        entries = self.scorer.tfidf(titles, texts)
        decision = self.scorer.decision(entries, n)
        labels = self.scorer.proba_from_decision(decision).argmax(axis=1)

        phrase_ids: dict[tuple[int, str, str], int] = {}
        pid_of = phrase_ids.setdefault
        col_parts: list[np.ndarray] = []
        row_parts: list[np.ndarray] = []
        pid_parts: list[np.ndarray] = []
        cleaned = {"text": list(map(clean_clauses, texts)), "title": list(map(clean_clauses, titles))}
        for block in self.blocks:
            field = block.column
            cols: list[int] = []  # this block's ids, one per occurrence
            rows: list[int] = []
            pids: list[int] = []
            for row, text in enumerate(cleaned[field]):
                if isinstance(block, _CharBlock):
                    for word in strip_clause_marks(text).split():
                        ids = block.word_ids(word)
                        if ids:
                            cols += ids
                            rows += [row] * len(ids)
                            pids += [pid_of((row, field, word), len(phrase_ids))] * len(ids)
                    continue
                tokens = readable_tokens(text, block.scope)
                get = block.vocabulary.get
                lo, hi = block.ngrams
                for size in range(lo, hi + 1):
                    for start in range(len(tokens) - size + 1):
                        gram = tokens[start : start + size]
                        i = get(gram[0][0] if size == 1 else " ".join(t for t, _ in gram))
                        if i is None:
                            continue
                        phrase = (
                            gram[0][1]
                            if size == 1
                            else " ".join([gram[0][1], *(w.rpartition(" ")[2] for _, w in gram[1:])])
                        )
                        cols.append(i)
                        rows.append(row)
                        pids.append(pid_of((row, field, phrase), len(phrase_ids)))
            col_parts.append(np.asarray(cols, dtype=np.int64) + block.offset)
            row_parts.append(np.asarray(rows, dtype=np.int64))
            pid_parts.append(np.asarray(pids, dtype=np.int64))

        classes = self.centred.shape[1]  # a blend's decision has a column per part and class
        m = len(phrase_ids)
        weights = np.zeros((m, classes))
        occ_cols = np.concatenate(col_parts) if col_parts else np.empty(0, np.int64)
        if len(occ_cols) and len(entries.rows):
            occ_rows, pids = np.concatenate(row_parts), np.concatenate(pid_parts)
            keys = entries.rows * self.width + entries.cols
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            occ_keys = occ_rows * self.width + occ_cols
            where = np.minimum(np.searchsorted(sorted_keys, occ_keys), len(sorted_keys) - 1)
            if not (sorted_keys[where] == occ_keys).all():
                raise RuntimeError("an explained feature has no TF-IDF entry (tokenization drift)")
            # A feature that occurs several times in a review is shared between its occurrences.
            _, inverse, counts = np.unique(occ_keys, return_inverse=True, return_counts=True)
            share = entries.values[order[where]] / counts[inverse]
            per_occ = self.centred[occ_cols] * share[:, None]
            for k in range(classes):
                weights[:, k] = np.bincount(pids, weights=per_occ[:, k], minlength=m)
        rows = np.fromiter((r for r, _, _ in phrase_ids), dtype=np.int64, count=m)
        phrases = [(f, p) for _, f, p in phrase_ids]
        return Contributions(rows, phrases, weights, decision, labels)

    def explain(self, titles: Sequence[str], texts: Sequence[str], top: int = DEFAULT_TOP) -> list[dict]:
        """Per review: ``{"toward": [...], "away": [...]}``, the ``top`` phrases that pushed
        it most toward its predicted label and most away from it, each
        ``{"phrase", "weight", "field"}`` (weights rounded; away weights are negative)."""
        return self.predict_explained(titles, texts, top)[1]

    def predict_explained(
        self, titles: Sequence[str], texts: Sequence[str], top: int = DEFAULT_TOP
    ) -> tuple[np.ndarray, list[dict]]:
        """The scorer's probabilities and ``explain``'s reasons, from one pass over the reviews."""
        found = self.contributions(titles, texts)
        per_row: list[list[tuple[float, str, str]]] = [[] for _ in texts]
        own = found.weights[np.arange(len(found.rows)), found.labels[found.rows]]
        for row, (field, phrase), weight in zip(
            found.rows.tolist(), found.phrases, own.tolist(), strict=True
        ):
            per_row[row].append((weight, field, phrase))
        out = []
        for items in per_row:
            items.sort(key=lambda x: (-x[0], x[1], x[2]))
            toward = [_reason(w, f, p) for w, f, p in items[:top] if w > 0]
            away = [_reason(w, f, p) for w, f, p in reversed(items[-top:]) if w < 0]
            out.append({"toward": toward, "away": away})
        return self.scorer.proba_from_decision(found.decision), out


def _reason(weight: float, field: str, phrase: str) -> dict:
    return {"phrase": phrase, "weight": round(weight, WEIGHT_DIGITS), "field": field}
