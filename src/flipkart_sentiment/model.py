"""The scikit-learn Pipeline from raw (title, text) to label."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .text import clean, tokenize

ALGORITHM = "tfidf+logistic_regression"


@dataclass(frozen=True)
class ModelParams:
    """One point of the search space. Field names become MLflow params."""

    name: str
    C: float = 1.0
    class_weight: str | None = None
    ngram_max: int = 2
    min_df: int = 1
    max_features: int | None = None
    use_title: bool = False
    char_ngrams: bool = False
    sublinear_tf: bool = False

    def as_params(self) -> dict[str, object]:
        return {k: ("none" if v is None else v) for k, v in asdict(self).items()}

    @property
    def fields(self) -> str:
        return "title+text" if self.use_title else "text"


def _word_tfidf(params: ModelParams) -> TfidfVectorizer:
    return TfidfVectorizer(
        preprocessor=clean,
        tokenizer=tokenize,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_features=params.max_features,
        sublinear_tf=params.sublinear_tf,
        dtype=np.float32,
    )


def build_pipeline(params: ModelParams, seed: int = 42) -> Pipeline:
    transformers = [("text_words", _word_tfidf(params), "text")]
    if params.use_title:
        transformers.append(("title_words", _word_tfidf(params), "title"))
    if params.char_ngrams:
        # Character n-grams inside word boundaries tolerate typos and run-together words
        # ("gud", "goodproduct") that word features miss.
        transformers.append(
            (
                "text_chars",
                TfidfVectorizer(
                    preprocessor=clean, analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                    sublinear_tf=True, max_features=50_000, dtype=np.float32,
                ),
                "text",
            )
        )
    classifier = LogisticRegression(
        C=params.C, class_weight=params.class_weight, max_iter=3000, random_state=seed
    )
    return Pipeline([("features", ColumnTransformer(transformers)), ("classifier", classifier)])
