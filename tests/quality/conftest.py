"""Quality tests: the CheckList suite against the CV winner fit on the leakage-free train split."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def quality_split(data_path):
    from flipkart_sentiment.data import load_reviews
    from flipkart_sentiment.training import split_data

    return split_data(load_reviews(str(data_path)), test_size=0.2, cv_folds=3, seed=42)


@pytest.fixture(scope="session")
def winner(quality_split):
    """The full profile's grouped-CV winner, fit once on train (not the whole search)."""
    from flipkart_sentiment import evaluation as ev

    pipeline = ev.fit_candidate(ev.CV_WINNER, quality_split.train)
    return ev.from_pipeline(ev.CV_WINNER, pipeline, "CV winner fit on train")


@pytest.fixture(scope="session")
def checklist_result(winner):
    from flipkart_sentiment import evaluation as ev

    return ev.run_checklist(winner, ev.load_checklist())
