"""`make backup` / `make restore` of the local platform, the way a user runs them: platform.sh
starts MLflow, the Prefect server and worker in a temporary RUN_DIR; the test fills them
(runs, metrics, a registered model with two versions, tags, aliases, a deployment with a cron
schedule), backs up while they run, destroys the state, restores through platform.sh and finds
everything back. Corrupt, truncated and missing archives are refused and change nothing."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient
from sentiment_testkit.paths import ROOT, VENV_BIN
from sentiment_testkit.servers import CREDENTIALS, free_port, prefect_auth, write_platform_credentials

pytestmark = pytest.mark.integration

PLATFORM = ROOT / "scripts" / "local" / "platform.sh"
MODEL = "flipkart-sentiment"  # the name platform.sh lets the trainer manage
FLOW, DEPLOYMENT, CRON = "backup-check", "nightly", "0 2 * * *"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("local-platform")
    write_platform_credentials(run_dir)
    ports = {"MLFLOW_PORT": free_port(), "PREFECT_PORT": free_port(), "MODEL_PORT": free_port()}
    # platform.sh derives every URL and credential from these; nothing inherited may override.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    env |= {k: str(v) for k, v in ports.items()} | {"RUN_DIR": str(run_dir), "VENV": str(VENV_BIN.parent)}

    def run(*args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(PLATFORM), *args], env=env | extra, capture_output=True,
                              text=True, timeout=600)
        print(f"$ platform.sh {' '.join(args)}  (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
        if check and proc.returncode != 0:
            raise AssertionError(f"platform.sh {args} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    run("up")
    mlflow_url = f"http://127.0.0.1:{ports['MLFLOW_PORT']}"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ.update(CREDENTIALS.mlflow_as("admin"))
    try:
        yield {"run": run, "run_dir": run_dir, "client": MlflowClient(mlflow_url),
               "api": f"http://127.0.0.1:{ports['PREFECT_PORT']}/api"}
    finally:
        run("down", check=False)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def prefect(api: str, method: str, path: str, **kw):
    response = httpx.request(method, f"{api}{path}", auth=prefect_auth(), timeout=30, **kw)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def deployments(api: str) -> dict[str, list[str]]:
    flows = {f["id"]: f["name"] for f in prefect(api, "POST", "/flows/filter", json={})}
    return {f"{flows[d['flow_id']]}/{d['name']}": [s["schedule"].get("cron") for s in d["schedules"]]
            for d in prefect(api, "POST", "/deployments/filter", json={})}


def state(p) -> dict:
    """Everything the restore must bring back, read through the servers."""
    client: MlflowClient = p["client"]
    experiment = client.get_experiment_by_name("backup-check")
    runs = {}
    for run in client.search_runs([experiment.experiment_id], run_view_type=3):  # ViewType.ALL
        runs[run.info.run_id] = {
            "status": run.info.status, "lifecycle": run.info.lifecycle_stage,
            "params": run.data.params, "metrics": run.data.metrics,
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            "f1_history": [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "f1")],
            "artifact": Path(client.download_artifacts(run.info.run_id, "model/MLmodel",
                                                       str(p["dl"]))).read_text(),
        }
    model = client.get_registered_model(MODEL)
    versions = {v.version: {"run_id": v.run_id, "source": v.source, "tags": v.tags}
                for v in client.search_model_versions(f"name='{MODEL}'")}
    return {"runs": runs, "model_tags": model.tags, "aliases": model.aliases, "versions": versions,
            "deployments": deployments(p["api"])}


@pytest.fixture(scope="module")
def filled(platform, tmp_path_factory):
    client: MlflowClient = platform["client"]
    experiment = client.create_experiment("backup-check")
    run_ids = []
    for i in range(3):
        run = client.create_run(experiment, tags={"purpose": "backup", "seed": str(i)})
        for step in range(3):
            client.log_metric(run.info.run_id, "f1", 0.8 + i / 100 + step / 1000, step=step)
        client.log_param(run.info.run_id, "C", str(10 ** i))
        client.log_text(run.info.run_id, f"flavor: test {i}\n", "model/MLmodel")  # via the proxy
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
    client.create_registered_model(MODEL, tags={"owner": "tests"})
    for run_id in run_ids[:2]:
        version = client.create_model_version(MODEL, f"{client.get_run(run_id).info.artifact_uri}/model",
                                              run_id, tags={"gate": "passed"})
    client.set_model_version_tag(MODEL, version.version, "candidate", "true")
    client.set_registered_model_alias(MODEL, "production", "1")
    client.set_registered_model_alias(MODEL, "staging", "2")
    api = platform["api"]
    flow = prefect(api, "POST", "/flows/", json={"name": FLOW})
    prefect(api, "POST", "/deployments/", json={
        "name": DEPLOYMENT, "flow_id": flow["id"], "work_pool_name": "local-process",
        "schedules": [{"schedule": {"cron": CRON, "timezone": "UTC"}, "active": True}]})
    platform["dl"] = tmp_path_factory.mktemp("downloads")
    before = state(platform)
    assert len(before["runs"]) == 3 and len(before["versions"]) == 2
    assert before["deployments"][f"{FLOW}/{DEPLOYMENT}"] == [CRON]
    return before


@pytest.fixture(scope="module")
def archive(platform, filled):
    t0 = time.monotonic()
    out = platform["run"]("backup").stdout
    print(f"backup took {time.monotonic() - t0:.1f}s (platform.sh, interpreter start included)")
    found = sorted((platform["run_dir"] / "backups").glob("*.tar.gz"))
    assert len(found) == 1 and str(found[0]) in out
    print(f"archive: {found[0].name}, {found[0].stat().st_size} bytes")
    return found[0]


def test_backup_while_running_holds_snapshots_manifest_and_counts(platform, archive):
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {"mlflow/mlflow.db", "mlflow/auth.db", "prefect/prefect.db"} <= names
    assert sum(n.startswith("mlflow/artifacts/") for n in names) == 3  # one MLmodel per run
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    counts = manifest["counts"]
    assert counts["mlflow.runs"] == 3 and counts["mlflow.model_versions"] == 2
    assert counts["mlflow.aliases"] == 2 and counts["prefect.deployments"] == 1
    assert manifest["aliases"] == {MODEL: {"production": "1", "staging": "2"}}
    assert manifest["deployments"] == {f"{FLOW}/{DEPLOYMENT}": [f"cron {CRON} UTC"]}
    assert oct(archive.stat().st_mode & 0o777) == "0o600"  # auth.db holds password hashes
    # nothing the platform's clients need to log in is in it
    secrets = (CREDENTIALS.admin, CREDENTIALS.trainer, CREDENTIALS.reader, CREDENTIALS.prefect)
    raw = gzip.decompress(archive.read_bytes())
    assert not any(s.encode() in raw for s in secrets)


def test_bad_archives_are_refused_and_change_nothing(platform, archive, tmp_path):
    run_dir = platform["run_dir"]
    pids = {p.name: p.read_text() for p in (run_dir / "pids").glob("*.pid")}
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    flipped = tmp_path / "flipped.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    not_gzip = tmp_path / "notes.tar.gz"
    not_gzip.write_text("hello")
    for bad in (truncated, flipped, not_gzip, tmp_path / "missing.tar.gz"):
        proc = platform["run"]("restore", str(bad), check=False)
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        assert "platform.sh down" not in proc.stdout  # refused before touching anything
    # a manifest that does not match its files: rebuilt archive, one sha256 changed
    lying = tmp_path / "lying.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(lying, "w:gz") as dst:
        for member in src.getmembers():
            body = src.extractfile(member).read()
            if member.name == "manifest.json":
                manifest = json.loads(body)
                manifest["files"]["mlflow/mlflow.db"]["sha256"] = "0" * 64
                body = json.dumps(manifest).encode()
                member.size = len(body)
            dst.addfile(member, io.BytesIO(body))
    proc = platform["run"]("restore", str(lying), check=False)
    assert proc.returncode != 0 and "does not match its manifest" in proc.stderr
    # same servers, same data, nothing moved aside
    assert {p.name: p.read_text() for p in (run_dir / "pids").glob("*.pid")} == pids
    assert not list((run_dir / "backups").glob("pre-restore-*"))
    assert not [p for p in (run_dir / "backups").iterdir() if p.name.startswith(".")]
    assert len(platform["client"].search_runs([platform["client"].get_experiment_by_name(
        "backup-check").experiment_id])) == 3
    assert platform["run"]("restore", "--check-only").returncode == 0


def test_restore_brings_everything_back(platform, filled, archive):
    client: MlflowClient = platform["client"]
    run_dir = platform["run_dir"]
    # Destroy: runs deleted, an extra run, the registered model gone, the deployment gone,
    # the artifacts wiped from disk.
    experiment = client.get_experiment_by_name("backup-check").experiment_id
    for run_id in list(filled["runs"])[:2]:
        client.delete_run(run_id)
    extra = client.create_run(experiment).info.run_id
    client.delete_registered_model(MODEL)
    api = platform["api"]
    for d in prefect(api, "POST", "/deployments/filter", json={}):
        prefect(api, "DELETE", f"/deployments/{d['id']}")
    shutil.rmtree(run_dir / "mlflow" / "artifacts")
    assert deployments(api) == {}

    t0 = time.monotonic()
    out = platform["run"]("restore").stdout
    print(f"restore took {time.monotonic() - t0:.1f}s (stop, unpack, start, verify)")
    aside = sorted((run_dir / "backups").glob("pre-restore-*"))
    assert len(aside) == 1 and str(aside[0]) in out
    assert (aside[0] / "mlflow" / "mlflow.db").exists() and (aside[0] / "prefect" / "prefect.db").exists()
    assert "verified against the live servers" in out

    shutil.rmtree(platform["dl"])
    platform["dl"].mkdir()
    after = state(platform)
    assert extra not in after["runs"]
    assert after == filled


def test_a_restore_that_fails_midway_puts_the_previous_state_back(platform, archive):
    """The servers cannot start (a broken environment): the restore stops, the state it moved
    aside goes back, nothing of the archive stays."""
    client: MlflowClient = platform["client"]
    run_dir = platform["run_dir"]
    experiment = client.get_experiment_by_name("backup-check").experiment_id
    marker = client.create_run(experiment, tags={"purpose": "after-the-backup"}).info.run_id
    before = sorted(p.name for p in (run_dir / "backups").iterdir())
    proc = platform["run"]("restore", check=False, VENV=str(run_dir / "no-venv"))
    assert proc.returncode != 0
    assert "restore failed" in proc.stderr and "previous state is back" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in (run_dir / "backups").iterdir()) == before  # no pre-restore left
    # The run made after the backup is in the database again (read from the file: restarting
    # the servers here would only cost time; the backups below do not need them).
    with closing(sqlite3.connect(run_dir / "mlflow" / "mlflow.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE run_uuid = ?", (marker,)).fetchone() == (1,)
    assert (run_dir / "prefect" / "prefect.db").exists() and (run_dir / "mlflow" / "artifacts").is_dir()


def test_backup_keeps_the_last_n(platform, archive):
    """Also with the services stopped (the previous test leaves them so)."""
    for _ in range(3):
        platform["run"]("backup", BACKUP_KEEP="2")
    kept = sorted((platform["run_dir"] / "backups").glob("*.tar.gz"))
    assert len(kept) == 2 and archive not in kept
    assert platform["run"]("backup", check=False, BACKUP_KEEP="zero").returncode != 0
