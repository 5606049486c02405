"""flows/deploy.py: the deployments' schedules follow the settings, and can be created paused."""

from __future__ import annotations

import sys
import uuid

import pytest
from sentiment_testkit.paths import ROOT

from flipkart_sentiment.config import Settings

sys.path.insert(0, str(ROOT / "flows"))
import deploy  # noqa: E402 - flows/ is not a package


def deployed_schedules(monkeypatch) -> dict:
    """What deploy_kubernetes passes to each flow's `deploy` as its schedule, by deployment."""
    calls = {}
    for flow, *_ in deploy.FLOWS:
        def fake_deploy(name, _flow=flow, **kw):
            calls[f"{_flow.name}/{name}"] = kw["schedule"]
            return uuid.uuid4()

        monkeypatch.setattr(flow, "deploy", fake_deploy)
    monkeypatch.setattr(deploy, "retrain_on_evidence", lambda settings, train_id: None)
    deploy.deploy_kubernetes("kubernetes", "sentiment-trainer:0.1.0", {}, Settings())
    return calls


def test_the_crons_are_active_by_default(monkeypatch):
    got = deployed_schedules(monkeypatch)
    scheduled = {k: (s.cron, s.timezone, s.active) for k, s in got.items() if s is not None}
    assert scheduled == {"train-sentiment/daily": ("0 2 * * *", "UTC", True),
                         "monitor-sentiment/hourly": ("0 * * * *", "UTC", True)}
    assert {k for k, s in got.items() if s is None} == {
        "promote-sentiment/manual", "rollback-sentiment/manual", "score-reviews/manual",
        "score-reviews-shard/manual"}


@pytest.mark.parametrize("value", ["false", "0"])
def test_schedules_can_be_deployed_paused_with_their_crons_kept(monkeypatch, value):
    monkeypatch.setenv("SENTIMENT_SCHEDULES_ACTIVE", value)
    monkeypatch.setenv("SENTIMENT_SCHEDULE_CRON", "30 4 * * 1")
    got = deployed_schedules(monkeypatch)
    assert (got["train-sentiment/daily"].cron, got["train-sentiment/daily"].active) == (
        "30 4 * * 1", False)
    assert (got["monitor-sentiment/hourly"].cron, got["monitor-sentiment/hourly"].active) == (
        "0 * * * *", False)


def test_a_mistyped_switch_is_refused(monkeypatch):
    monkeypatch.setenv("SENTIMENT_SCHEDULES_ACTIVE", "paused")
    with pytest.raises(ValueError, match="schedules_active"):
        Settings()
