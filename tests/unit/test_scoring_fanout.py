"""Batch scoring's fan-out (executor "deployments") without servers: `run_deployment` is replaced
by a fake that runs the real `score-reviews-shard` flow function in this process (or fails it),
the work folder is local (tests/integration runs it on MinIO and a real worker). Checked: the
same output as local processes, what each shard run is given, one retry of a failed or late run,
a second failure failing the job with no output and no work folder, and the shard summary's
JSON round trip the parent relies on."""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from types import SimpleNamespace

import pandas as pd
import pytest
from prefect.states import Completed, Crashed, Failed, Running
from sentiment_testkit.paths import ROOT
from test_batch_scoring import fake_model, reviews  # noqa: F401 - the fixture, by name

from flipkart_sentiment.adapters import batch_files, shard_runs
from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows import scoring

sys.path.insert(0, str(ROOT / "flows"))
import score_flow  # noqa: E402 - flows/ is not a package


class FakeDeployments:
    """run_deployment / read_flow_run / cancel of adapters.shard_runs, in this process.

    `outcomes[(shard index, attempt)]` says how that run ends: "ok" (the real shard flow's body
    runs and the run is Completed), a failed State (nothing is written), or "late" (it stays
    Running until cancelled)."""

    def __init__(self, monkeypatch, outcomes: dict | None = None):
        self.outcomes = outcomes or {}
        self.runs: dict[uuid.UUID, SimpleNamespace] = {}
        self.started: list[tuple[str, dict]] = []
        self.cancelled: list[uuid.UUID] = []
        monkeypatch.setattr(shard_runs, "run_deployment", self.run_deployment)
        monkeypatch.setattr(shard_runs, "read_flow_run", lambda run_id: self.runs[run_id])
        monkeypatch.setattr(shard_runs, "cancel", self.cancelled.append)
        monkeypatch.setattr(shard_runs, "POLL_SECONDS", 0.0)

    def run_deployment(self, name, parameters, flow_run_name, timeout, as_subflow):
        assert (name, timeout, as_subflow) == ("score-reviews-shard/manual", 0, True)
        json.dumps(parameters)  # a flow run's parameters travel as JSON
        self.started.append((flow_run_name, parameters))
        attempt = sum(p["index"] == parameters["index"] for _, p in self.started)
        outcome = self.outcomes.get((parameters["index"], attempt), "ok")
        if outcome == "ok":
            score_flow.score_reviews_shard.fn(**parameters)  # the deployed flow's own body
            state = Completed()
        elif outcome == "late":
            state = Running()
        else:
            state = outcome
        run = SimpleNamespace(id=uuid.uuid4(), state=state)
        self.runs[run.id] = run
        return run


def deployments_settings(tmp_path, monkeypatch, **env: str) -> Settings:
    monkeypatch.setenv("SENTIMENT_SCORING_WORK_URI", str(tmp_path / "work"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_a_shard_summary_round_trips_through_json():
    summary = scoring.ShardSummary(
        3, 1200, 4.25, Counter(Negative=200, Positive=1000),
        {"Yonex Mavis 350": Counter(Negative=2, Positive=5), "(none)": Counter(Neutral=1)},
        [(0.98, 17, "Worthless", 'bad, "very" bad\nshuttle'), (0.9, 4, "", "कचरा")])
    back = scoring.ShardSummary.from_json(summary.to_json())
    assert back == summary
    assert isinstance(back.labels, Counter) and isinstance(back.groups["(none)"], Counter)
    assert all(isinstance(c, tuple) for c in back.most_negative)
    empty = scoring.ShardSummary(0)
    assert scoring.ShardSummary.from_json(empty.to_json()) == empty
    assert scoring.summary_path("s3://b/batch/_scoring/r/part-00002.parquet") == \
        "s3://b/batch/_scoring/r/part-00002.summary.json"


def test_deployments_need_the_work_uri_and_fail_at_once(tmp_path, monkeypatch):
    monkeypatch.delenv("SENTIMENT_SCORING_WORK_URI", raising=False)
    monkeypatch.setattr(scoring, "resolve_version", pytest.fail)  # nothing slower runs first
    with pytest.raises(scoring.ScoringError, match="set SENTIMENT_SCORING_WORK_URI") as err:
        scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), executor="deployments")
    assert "\n" not in str(err.value)
    with pytest.raises(scoring.ScoringError, match="executor 'threads'"):
        scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), executor="threads")


def test_the_work_uri_setting_is_checked(monkeypatch):
    monkeypatch.setenv("SENTIMENT_SCORING_WORK_URI", "s3://sentiment-monitoring/batch/_scoring/")
    assert Settings().scoring_work_uri == "s3://sentiment-monitoring/batch/_scoring"
    for bad in ("relative/folder", "s3:///no-bucket", "gs://b/p"):
        monkeypatch.setenv("SENTIMENT_SCORING_WORK_URI", bad)
        with pytest.raises(ValueError, match="SENTIMENT_SCORING_WORK_URI"):
            Settings()
    monkeypatch.setenv("SENTIMENT_SCORING_SHARD_TIMEOUT_SECONDS", "90")
    monkeypatch.setenv("SENTIMENT_SCORING_WORK_URI", "")
    assert (Settings().scoring_work_uri, Settings().scoring_shard_timeout_seconds) == (None, 90)


def test_deployments_score_like_local_processes(tmp_path, fake_model, monkeypatch):  # noqa: F811
    frame = reviews(2000)
    frame.to_csv(tmp_path / "r.csv", index=False)
    monkeypatch.setattr(batch_files, "STAGE_ROW_GROUP", 300)
    local = scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=4, workers=1,
                                output_uri=str(tmp_path / "local.parquet"))
    fake = FakeDeployments(monkeypatch)
    seen = []
    summary = scoring.run_scoring(deployments_settings(tmp_path, monkeypatch), str(tmp_path / "r.csv"),
                                  shards=4, executor="deployments",
                                  progress=lambda done, total, s: seen.append((done, total)))
    assert summary.output_uri == str(tmp_path / "r.scored.parquet")
    assert summary.rows == 2000 and summary.shards == 4
    pd.testing.assert_frame_equal(batch_files.read_table(summary.output_uri).to_pandas(),
                                  batch_files.read_table(local.output_uri).to_pandas())
    assert (summary.labels, summary.groups, summary.most_negative) == (
        local.labels, local.groups, local.most_negative)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # each run: the staged input and its part in the run's work folder, the registered model
    params = [p for _, p in fake.started]
    folder = params[0]["input_path"].rsplit("/", 1)[0]
    assert folder.startswith(str(tmp_path / "work") + "/")
    assert [p["part_path"] for p in params] == [f"{folder}/part-{i:05d}.parquet" for i in range(4)]
    assert {p["input_path"] for p in params} == {f"{folder}/input.parquet"}
    assert {p["model_uri"] for p in params} == {"models:/fake/7"}
    assert [(p["start"], p["stop"]) for p in params] == scoring.plan_shards([300] * 6 + [200], 4)
    assert list((tmp_path / "work").iterdir()) == []  # the work folder is gone
    assert not fake.cancelled


@pytest.mark.parametrize("first", [Crashed(), Failed(), "late"], ids=["crashed", "failed", "late"])
def test_a_shard_run_that_fails_once_is_run_again(tmp_path, fake_model, monkeypatch, first,  # noqa: F811
                                                   caplog):
    reviews(900).to_csv(tmp_path / "r.csv", index=False)
    fake = FakeDeployments(monkeypatch, {(1, 1): first})
    settings = deployments_settings(tmp_path, monkeypatch,
                                    SENTIMENT_SCORING_SHARD_TIMEOUT_SECONDS="0.05")
    summary = scoring.run_scoring(settings, str(tmp_path / "r.csv"), shards=3,
                                  executor="deployments")
    assert summary.rows == 900
    names = [n for n, _ in fake.started]
    assert len(names) == 4 and names[-1].startswith("shard-00001-") and names[-1].endswith("-retry")
    assert "shard 1 (rows 300-600)" in caplog.text and "starting it again" in caplog.text
    assert len(fake.cancelled) == (1 if first == "late" else 0)  # a late run is stopped
    assert list((tmp_path / "work").iterdir()) == []


def test_a_shard_run_that_fails_twice_fails_the_job_and_leaves_nothing(tmp_path, fake_model,  # noqa: F811
                                                                       monkeypatch):
    reviews(900).to_csv(tmp_path / "r.csv", index=False)
    fake = FakeDeployments(monkeypatch, {(2, 1): Crashed(), (2, 2): Failed(),
                                         (0, 1): "late", (0, 2): "late"})
    settings = deployments_settings(tmp_path, monkeypatch,
                                    SENTIMENT_SCORING_SHARD_TIMEOUT_SECONDS="30")
    with pytest.raises(scoring.ScoringError) as err:
        scoring.run_scoring(settings, str(tmp_path / "r.csv"), shards=3, executor="deployments")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("shard 2 (rows 600-900) failed twice: flow run ")
    assert message.endswith("ended Failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "work"]  # no output
    assert list((tmp_path / "work").iterdir()) == []  # parts and staged input removed
    # shard 0, still running, is cancelled when the job gives up
    shard0 = [run_id for run_id, run in fake.runs.items() if run.state.is_running()]
    assert fake.cancelled == shard0 and len(shard0) == 1


def test_a_completed_run_without_its_summary_fails_the_job(tmp_path, fake_model, monkeypatch):  # noqa: F811
    reviews(300).to_csv(tmp_path / "r.csv", index=False)
    fake = FakeDeployments(monkeypatch)
    original = fake.run_deployment

    def no_summary(name, parameters, **kwargs):
        run = original(name, parameters, **kwargs)
        (tmp_path / "work").glob("*/part-00000.summary.json").__next__().unlink()
        return run

    monkeypatch.setattr(shard_runs, "run_deployment", no_summary)
    with pytest.raises(scoring.ScoringError, match="shard 0 completed but its summary .* unreadable"):
        scoring.run_scoring(deployments_settings(tmp_path, monkeypatch), str(tmp_path / "r.csv"),
                            shards=1, executor="deployments")
    assert list((tmp_path / "work").iterdir()) == []


def test_the_shard_deployment_is_registered_with_its_job_resources(monkeypatch):
    import deploy

    assert (score_flow.score_reviews_shard, "score_flow.py:score_reviews_shard", "manual") in [
        f[:3] for f in deploy.FLOWS]
    assert f"{score_flow.score_reviews_shard.name}/manual" == scoring.SHARD_DEPLOYMENT
    assert "executor" in score_flow.score_reviews.parameters.properties
    calls = {}
    for flow, *_ in deploy.FLOWS:
        monkeypatch.setattr(flow, "deploy", lambda name, _f=flow, **kw: calls.setdefault(_f.name, kw)
                            and uuid.uuid4())
    monkeypatch.setattr(deploy, "retrain_on_evidence", lambda settings, train_id: None)
    deploy.deploy_kubernetes("kubernetes", "sentiment-trainer:0.1.0", {"env": {"X": "1"}}, Settings())
    shard = calls["score-reviews-shard"]["job_variables"]
    assert shard == {"image_pull_policy": "IfNotPresent", "env": {"X": "1"}, "cpu_request": "1",
                     "memory_request": "1Gi", "memory_limit": "2Gi"}
    assert calls["score-reviews"]["job_variables"] == {"image_pull_policy": "IfNotPresent",
                                                       "env": {"X": "1"}}
    monkeypatch.setenv("SENTIMENT_SCORING_SHARD_CPU_REQUEST", "200m")
    calls.clear()
    deploy.deploy_kubernetes("kubernetes", "sentiment-trainer:0.1.0", {}, Settings())
    assert calls["score-reviews-shard"]["job_variables"]["cpu_request"] == "200m"
    monkeypatch.setenv("SENTIMENT_SCORING_SHARD_CPU_REQUEST", "one core")
    with pytest.raises(ValueError, match="scoring_shard_cpu_request"):
        Settings()
