"""Quality tests: the CheckList suite against the CV winner fit on the leakage-free train split."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def quality_split(data_path):
    from flipkart_sentiment.adapters.data import load_reviews
    from flipkart_sentiment.core.split import split_for_training

    return split_for_training(load_reviews(str(data_path)).frame, test_size=0.2, cv_folds=3, seed=42)


@pytest.fixture(scope="session")
def winner_pipeline(quality_split):
    """The full profile's grouped-CV winner, fit once on train (not the whole search)."""
    from flipkart_sentiment.core.profiles import WINNER
    from flipkart_sentiment.workflows import quality

    return quality.fit_candidate(WINNER, quality_split.train)


@pytest.fixture(scope="session")
def winner(winner_pipeline):
    from flipkart_sentiment.core.profiles import WINNER
    from flipkart_sentiment.workflows import quality

    return quality.from_pipeline(WINNER, winner_pipeline, "CV winner fit on train")


@pytest.fixture(scope="session")
def checklist_result(winner):
    from flipkart_sentiment.workflows.checklist import load_checklist, run_checklist

    return run_checklist(winner, load_checklist())
