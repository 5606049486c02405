"""The monitor flow against real MLflow and Prefect servers and the real production model: a
normal set of recent reviews crosses nothing; a shifted one (only 1-2 star reviews, and reviews
of other products) crosses the drift and quality thresholds, emits the events, and the
automation created by flows/deploy.py starts a `train-sentiment/daily` flow run."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.paths import ROOT, VENV_BIN
from sentiment_testkit.servers import flow_env, flow_result, prefect_auth, run_flow

from flipkart_sentiment.adapters import registry
from flipkart_sentiment.serving.prediction_log import LocalDirectory, PredictionLog
from flipkart_sentiment.workflows.monitoring import EVENTS

pytestmark = pytest.mark.integration
NAME = "flipkart-sentiment"
MONITOR = "monitor_flow:monitor_sentiment"
POOL = "monitor-test-pool"
# Reviews of other products, rated as their words say: vocabulary the shuttle model never saw.
OTHER_DOMAIN = [
    ("The hotel room was spacious but the wifi kept dropping during my stay", 2),
    ("Battery drains quickly after the firmware update and the laptop overheats", 1),
    ("Delicious pasta, but the waiter was rude and the bill was overcharged", 3),
    ("The novel's plot twists kept me reading until dawn, brilliant characters", 5),
    ("Flight delayed three hours, luggage lost, airline staff unhelpful", 1),
    ("Refrigerator compressor hums loudly at night, freezer ices up weekly", 2),
    ("Mascara smudges by noon and the lipstick shade looks orange", 2),
    ("The router firmware crashes whenever more than five devices connect", 1),
    ("Sofa cushions sag after a month, upholstery pills and fades in sunlight", 2),
    ("Mobile camera blurs low light photos, fingerprint sensor unreliable", 2),
    ("Headphones have punchy bass and the noise cancellation blocks traffic", 5),
    ("Washing machine leaks detergent onto the floor during the spin cycle", 1),
    ("Saree fabric is silky, embroidery neat, colour matches the catalogue", 5),
    ("Pressure cooker gasket melted, whistle valve jammed on day two", 1),
    ("Television remote pairs slowly and streaming apps buffer constantly", 2),
    ("The mattress is firm, spine alignment improved, sleep feels deeper", 4),
    ("Printer cartridges dry out quickly, scanner lid hinge snapped", 1),
    ("Yoga mat smells of rubber and slips on tiles when sweaty", 2),
    ("Ceiling fan wobbles at high speed, installation bracket misaligned", 2),
    ("Smartwatch tracks heart rate accurately, strap comfortable, display crisp", 4),
]


def scored_log(folder, model_uri: str, frame: pd.DataFrame, version: str) -> str:
    """A prediction log of the production model's real answers, written by the model server's
    own writer (serving/prediction_log.py): half the records with raw text (one server logs
    it), half with its hash only, and one torn line the reader must skip."""
    answers = registry.predict(model_uri, frame[["title", "text"]].to_dict("records"))
    titles, texts = frame["title"].fillna("").tolist(), frame["text"].tolist()
    half = len(texts) // 2
    for raw, part in ((True, slice(0, half)), (False, slice(half, None))):
        log = PredictionLog(LocalDirectory(folder), model_name="flipkart-sentiment",
                            version=version, raw_text=raw)
        log.add(titles[part], texts[part], answers[part])
        log.close()
    day = folder / f"date={dt.datetime.now(dt.UTC).date().isoformat()}"
    (day / "torn.jsonl").write_text('{"timestamp": "torn wri\n')
    return str(folder)


@pytest.fixture(scope="module")
def sets(champion, mlflow_server, data_path, tmp_path_factory):
    """Labeled folders and prediction logs, written after the production version was trained."""
    mlflow.set_tracking_uri(mlflow_server["url"])
    version = champion["version"]
    raw = pd.read_csv(data_path, dtype=str, keep_default_na=False)
    raw = raw[raw["Review text"].str.strip() != ""]
    root = tmp_path_factory.mktemp("monitoring")
    normal = raw.sample(n=400, random_state=7)
    low = raw[raw["Ratings"].isin(["1", "2"])].sample(n=200, random_state=7)
    other = pd.DataFrame([{"Review Title": "", "Review text": text, "Ratings": str(rating)}
                          for text, rating in OTHER_DOMAIN * 10])
    shifted = pd.concat([low, other], ignore_index=True)
    out = {}
    for name, frame in (("normal", normal), ("shifted", shifted)):
        labeled = root / name / "labeled"
        labeled.mkdir(parents=True)
        frame.to_csv(labeled / "batch-1.csv", index=False)
        as_reviews = frame.rename(columns={"Review Title": "title", "Review text": "text"})
        log = scored_log(root / name / "log", f"models:/{NAME}/{version}", as_reviews, version)
        out[name] = {"SENTIMENT_LABELED_DATA": str(labeled), "SENTIMENT_PREDICTION_LOG": log}
    return out


def monitor(mlflow_server, prefect_server, settings: dict) -> dict:
    env = flow_env(mlflow_server, prefect_server, **settings)
    return flow_result(run_flow(env, timeout=600, flow=MONITOR))


def test_a_normal_set_crosses_no_threshold(sets, mlflow_server, prefect_server, champion):
    result = monitor(mlflow_server, prefect_server, sets["normal"])
    print("normal:", result["values"])
    assert result["version"] == champion["version"]
    assert result["crossed"] == [] and result["events"] == []
    # every check was judged: labeled reviews, log records and texts were all read
    assert all(v is not None for v in result["values"].values()), result["values"]
    client = MlflowClient(mlflow_server["url"])
    run = client.get_run(result["run_id"])
    assert run.data.metrics["labeled_reviews"] == 400 and run.data.metrics["predictions"] == 800
    assert run.data.metrics["log_malformed_lines"] == 1
    assert run.data.metrics["live_f1_weighted"] > 0.75
    assert run.data.tags["crossed"] == "none"
    assert {"label_mix.png", "confidence.png", "report.md"} <= {
        a.path for a in client.list_artifacts(result["run_id"])}
    artifacts = httpx.post(f"{prefect_server['api']}/artifacts/filter", auth=prefect_auth(), json={
        "artifacts": {"key": {"any_": ["monitoring-report"]}}}, timeout=30).json()
    assert any("| label_shift | drift |" in a["data"] for a in artifacts)


@pytest.fixture(scope="module")
def deployed(mlflow_server, prefect_server):
    """flows/deploy.py local against the test Prefect server (no worker: runs stay scheduled)."""
    env = flow_env(mlflow_server, prefect_server)
    subprocess.run([str(VENV_BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"],
                   env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.run([str(VENV_BIN / "python"), "deploy.py", "local", "--pool", POOL],
                          cwd=ROOT / "flows", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "automation retrain-sentiment-on-evidence" in proc.stdout
    api = prefect_server["api"]
    get = lambda path: httpx.get(f"{api}{path}", auth=prefect_auth(), timeout=30)  # noqa: E731
    return {"train": get("/deployments/name/train-sentiment/daily").json()["id"],
            "monitor": get("/deployments/name/monitor-sentiment/hourly").json()}


@pytest.fixture(scope="module")
def shifted_run(deployed, sets, mlflow_server, prefect_server):
    started = dt.datetime.now(dt.UTC)
    return started, monitor(mlflow_server, prefect_server, sets["shifted"])


def test_a_shifted_set_crosses_drift_and_quality_thresholds(shifted_run):
    _, result = shifted_run
    print("shifted:", result["values"])
    assert {"label_shift", "predicted_label_shift", "confidence_shift", "vocabulary_shift",
            "oov_increase", "f1_drop"} <= set(result["crossed"])
    assert sorted(result["events"]) == sorted(EVENTS.values())


def test_the_deployments_and_the_automation_exist(deployed, prefect_server):
    (schedule,) = deployed["monitor"]["schedules"]
    assert (schedule["schedule"]["cron"], schedule["active"]) == ("0 * * * *", True)
    automations = httpx.post(f"{prefect_server['api']}/automations/filter", auth=prefect_auth(),
                             json={}, timeout=30).json()
    (automation,) = [a for a in automations if a["name"] == "retrain-sentiment-on-evidence"]
    assert set(automation["trigger"]["expect"]) == set(EVENTS.values())
    assert automation["actions"][0]["deployment_id"] == deployed["train"]


def test_the_event_makes_the_automation_start_training(shifted_run, deployed, prefect_server):
    started, _ = shifted_run
    api, deadline, runs = prefect_server["api"], time.monotonic() + 90, []
    while time.monotonic() < deadline and not runs:
        found = httpx.post(f"{api}/flow_runs/filter", auth=prefect_auth(), timeout=30, json={
            "deployments": {"id": {"any_": [deployed["train"]]}}}).json()
        # The deployment's cron makes runs too (auto_scheduled); the automation's are not.
        runs = [r for r in found if not r["auto_scheduled"]
                and dt.datetime.fromisoformat(r["created"]) >= started]
        time.sleep(2)
    assert runs, "no train-sentiment/daily flow run was created by the automation"


def test_a_second_alarm_for_the_same_version_is_held_back(shifted_run, mlflow_server,
                                                          prefect_server, sets):
    """Drift a challenger does not fix must not start a training run every hour."""
    _, first = shifted_run
    again = monitor(mlflow_server, prefect_server, sets["shifted"])
    assert again["crossed"] == first["crossed"] and again["events"] == []
    run = MlflowClient(mlflow_server["url"]).get_run(again["run_id"])
    assert run.data.tags["events_emitted"] == "false"
    held = MlflowClient(mlflow_server["url"]).download_artifacts(again["run_id"], "report.md")
    assert f"run {first['run_id']} raised them" in open(held).read()


def test_a_version_without_a_reference_fails_saying_why(mlflow_server, monkeypatch):
    from sentiment_testkit.models import register_trained

    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.workflows.monitoring import MonitoringError, run_monitoring

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server["url"])
    settings = Settings(model_name="monitor-no-reference")
    mlflow.set_tracking_uri(mlflow_server["url"])
    with pytest.raises(MonitoringError, match="has no production version"):
        run_monitoring(settings)
    version = register_trained(settings.model_name, rows=300)  # logged without training's profile
    MlflowClient(mlflow_server["url"]).set_registered_model_alias(settings.model_name, "production",
                                                                 version)
    with pytest.raises(MonitoringError, match=f"version {version} has no monitoring reference"):
        run_monitoring(settings)
