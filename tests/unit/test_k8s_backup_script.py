"""scripts/k8s/backup.py (make k8s-backup / k8s-restore) against a fake kubectl that records
its calls: the order of the restore (stop, Job with BACKUP set, start, model-server restart),
and what happens when the restore Job fails before or after it began changing data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "k8s" / "backup.py"

# Answers the calls backup.py makes; $FAKE_STATE: the Job's final condition, which restore
# step had started when it ended, and the namespace's flow-run Jobs.
FAKE = r"""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
    if "-f" in args:
        log.write(json.dumps({"stdin": json.load(sys.stdin)}) + "\n")
state = json.loads(os.environ["FAKE_STATE"])
if args[2:4] == ["get", "deployment"] and "-o" in args and "json" in args:
    print(json.dumps({"spec": {"replicas": 1}}))
elif args[2:4] == ["get", "deployment"]:
    print("deployment.apps/sentiment-model-server")
elif args[2:4] == ["create", "job"] and "--dry-run=client" in args:
    print(json.dumps({"kind": "Job", "spec": {"template": {"spec": {"initContainers": [
        {"name": "fetch", "env": [{"name": "BACKUP", "value": "latest"}, {"name": "KEEP", "value": "7"}]},
        {"name": "verify"}], "containers": [{"name": "databases"}]}}}}))
elif args[2:4] == ["get", "jobs"]:
    # The first listing, then the one after the servers stopped (a run may have started).
    seen = os.environ["FAKE_LOG"] + ".jobs"
    first = not os.path.exists(seen)
    open(seen, "a").close()
    print(json.dumps({"items": state["flow_jobs"] if first else state["flow_jobs_later"]}))
elif args[2:4] == ["get", "job"]:
    print(json.dumps({"status": {"conditions": [{"type": state["job"], "status": "True"}]}}))
elif args[2:4] == ["get", "pods"] and "name" in args:
    pass  # the stopped servers' pods: none left
elif args[2:4] == ["get", "pods"]:
    print(json.dumps({"items": [{"status": {"initContainerStatuses": [
        {"name": n, "state": {"terminated": {}}} for n in state["started"]]}}]}))
"""


@pytest.fixture
def run(tmp_path):
    fake = tmp_path / "kubectl.py"
    fake.write_text(FAKE)
    log = tmp_path / "calls.jsonl"

    def go(*args: str, job: str = "Complete", started: tuple = (), flow_jobs: tuple = (),
           flow_jobs_later: tuple | None = None) -> tuple[int, list, str]:
        env = os.environ | {"FAKE_LOG": str(log), "FAKE_STATE": json.dumps(
            {"job": job, "started": started, "flow_jobs": flow_jobs,
             "flow_jobs_later": flow_jobs if flow_jobs_later is None else flow_jobs_later})}
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--kubectl", f"{sys.executable} {fake}", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        Path(f"{log}.jobs").unlink(missing_ok=True)
        return proc.returncode, calls, proc.stdout + proc.stderr

    return go


def _verbs(calls: list) -> list[str]:
    return [" ".join(c[2:5]) for c in calls if isinstance(c, list)]


def test_backup_creates_a_job_from_the_cronjob_and_waits(run):
    code, calls, out = run("backup")
    assert code == 0, out
    assert calls[0][:2] == ["-n", "sentiment"]
    assert calls[0][2:4] == ["create", "job"] and "--from=cronjob/sentiment-backup" in calls[0]
    assert any(c[2:3] == ["logs"] for c in calls)
    assert run("backup", job="Failed")[0] == 1


def test_restore_stops_runs_with_backup_set_and_starts_again(run):
    code, calls, out = run("restore", "--backup", "20261201T031700Z")
    assert code == 0, out
    argvs = [c for c in calls if isinstance(c, list)]
    verbs = _verbs(argvs)
    scale_down = [i for i, c in enumerate(argvs) if c[2:4] == ["scale", "deployment"] and "--replicas=0" in c]
    create = verbs.index("create -f -")
    scale_up = [i for i, c in enumerate(argvs) if c[2:4] == ["scale", "deployment"] and "--replicas=1" in c]
    assert len(scale_down) == 3 and len(scale_up) == 3
    assert max(scale_down) < verbs.index("get pods -l") < create < min(scale_up)
    job = next(c["stdin"] for c in calls if isinstance(c, dict))
    fetch = job["spec"]["template"]["spec"]["initContainers"][0]
    assert {e["name"]: e["value"] for e in fetch["env"]} == {"BACKUP": "20261201T031700Z", "KEEP": "7"}
    assert "rollout restart deployment/sentiment-model-server" in verbs


def test_a_refused_restore_starts_the_servers_again(run):
    code, calls, out = run("restore", job="Failed", started=("fetch", "verify"))
    assert code == 1
    assert sum("--replicas=1" in c for c in calls if isinstance(c, list)) == 3
    assert "rollout restart deployment/sentiment-model-server" not in _verbs(calls)


def test_a_restore_that_failed_midway_leaves_the_servers_stopped(run):
    code, calls, out = run("restore", job="Failed", started=("fetch", "verify", "artifacts"))
    assert code == 1 and "stay stopped" in out
    assert not any("--replicas=1" in c for c in calls if isinstance(c, list))


def flow_job(name: str, run_id: str, condition: str | None = None) -> dict:
    status = {"conditions": [{"type": condition, "status": "True"}]} if condition else {"active": 1}
    return {"metadata": {"name": name, "labels": {"prefect.io/flow-run-id": run_id}},
            "status": status}


def test_a_restore_is_refused_while_a_flow_run_job_runs(run):
    """Stopping the worker leaves its Jobs running: a training run would register its version
    into the restored registry. Nothing is stopped or changed; the refusal names the run."""
    jobs = (flow_job("done-run", "1111", "Complete"), flow_job("failed-run", "2222", "Failed"),
            flow_job("busy-ferret", "3333"))
    code, calls, out = run("restore", flow_jobs=jobs)
    assert code == 2 and "job/busy-ferret  3333" in out and "--stop-flow-runs" in out, out
    assert "done-run" not in out and "failed-run" not in out
    assert [c[2:5] for c in calls] == [["get", "jobs", "-l"]]
    assert calls[0][5] == "prefect.io/flow-run-id"


def test_stop_flow_runs_deletes_the_running_jobs_once_the_worker_is_down(run):
    jobs = (flow_job("done-run", "1111", "Complete"), flow_job("busy-ferret", "3333"))
    code, calls, out = run("restore", "--stop-flow-runs", flow_jobs=jobs)
    assert code == 0, out
    argvs = [c for c in calls if isinstance(c, list)]
    verbs = _verbs(argvs)
    assert "delete job done-run" not in verbs
    deleted = verbs.index("delete job busy-ferret")
    worker_down = next(i for i, c in enumerate(argvs) if c[2:5] == [
        "scale", "deployment", "sentiment-prefect-worker"] and "--replicas=0" in c)
    assert worker_down < deleted < verbs.index("create -f -")


def test_a_flow_run_started_while_the_servers_stopped_is_refused_and_they_start_again(run):
    code, calls, out = run("restore", flow_jobs=(), flow_jobs_later=(flow_job("late-lynx", "4444"),))
    assert code == 2 and "job/late-lynx  4444" in out, out
    assert sum("--replicas=1" in c for c in calls if isinstance(c, list)) == 3
    assert "create -f -" not in _verbs(calls)


def test_finished_flow_run_jobs_do_not_hold_a_restore_back(run):
    jobs = (flow_job("done-run", "1111", "Complete"), flow_job("failed-run", "2222", "Failed"))
    code, calls, out = run("restore", flow_jobs=jobs)
    assert code == 0, out
    assert not any(v.startswith("delete") for v in _verbs(calls))
