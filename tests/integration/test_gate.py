"""The champion/challenger gate on a test split larger than one HTTP request may carry."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.models import register_trained

from flipkart_sentiment.adapters import registry
from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.serving.reviews import MAX_REVIEWS

pytestmark = pytest.mark.integration
NAME = "gate-large"


def test_the_gate_scores_more_rows_than_a_request_may_carry(mlflow_server, data_path):
    mlflow.set_tracking_uri(mlflow_server["url"])
    client = MlflowClient(mlflow_server["url"])
    champion = register_trained(NAME, seed=11)
    client.set_registered_model_alias(NAME, registry.PRODUCTION, champion)
    challenger = client.get_model_version(NAME, register_trained(NAME, seed=12))

    frame = from_bytes(data_path.read_bytes(), str(data_path)).frame
    test = pd.concat([frame, frame], ignore_index=True).head(12_000)  # > MAX_REVIEWS rows
    assert len(test) > MAX_REVIEWS
    decision = registry.decide(client, NAME, challenger, {"f1_weighted": 0.5, "f1_macro": 0.4},
                               test, min_improvement=0.0)
    assert decision.champion_version == champion
    scored = decision.champion_metrics
    support = sum(scored[f"support_{label.lower()}"] for label in ("Negative", "Neutral", "Positive"))
    assert support == len(test), "every test row was scored"
    assert 0.5 < scored["f1_weighted"] <= 1.0
