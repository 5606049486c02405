#!/usr/bin/env python3
"""Backup and restore of a Helm release of the platform on Kubernetes (make k8s-backup,
make k8s-restore; docs/kubernetes.md, "Backups and restore").

  backup.py [options] backup                  a Job from cronjob/<release>-backup, now
  backup.py [options] restore [--backup NAME] [--stop-flow-runs]
                                              NAME: a folder of the backup bucket, or `latest`

restore: refuse while flow-run Jobs are running (--stop-flow-runs deletes them first), scale
MLflow, the Prefect server and the worker to 0 (the restore drops and re-creates their
databases and refuses while anything is connected), run a Job from the suspended
cronjob/<release>-restore with BACKUP=NAME, then scale them back and restart the model server
(it loads the restored registry's production model). `kubectl create job --from` cannot set an
environment variable, so the Job is created with --dry-run=client -o json, edited here and
applied. If the restore fails after it began changing data, the servers stay stopped (started on
half-restored databases they would create empty schemas): fix, run the restore again.

Standard library only; every cluster call is a kubectl command, printed before it runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time

STOPPED = ("mlflow", "prefect-server", "prefect-worker")
# The label the Prefect worker puts on each flow run's Job (training, scoring shards...).
FLOW_RUN_LABEL = "prefect.io/flow-run-id"
# Restore steps that change data; if one of them started, a failed restore changed something.
CHANGING = ("artifacts", "databases")


class Kubectl:
    def __init__(self, command: str, namespace: str):
        self.base = [*shlex.split(command), "-n", namespace]

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        print("$ kubectl", " ".join(args), flush=True)
        proc = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, check=False)
        if check and proc.returncode:
            sys.exit(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc.stdout

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "-o", "json"))


def ended(job: dict) -> str | None:
    """"Complete" or "Failed" once the Job has ended, else None."""
    for c in job.get("status", {}).get("conditions", []):
        if c["status"] == "True" and c["type"] in ("Complete", "Failed"):
            return c["type"]
    return None


def wait_job(kubectl: Kubectl, name: str, timeout: float) -> bool:
    """True when the Job completed, False when it failed; its log tail is printed either way."""
    deadline = time.monotonic() + timeout
    state = None
    while state is None:
        state = ended(kubectl.json("get", "job", name))
        if state is None:
            if time.monotonic() > deadline:
                state = "timed out"
                break
            time.sleep(5)
    print(f"--- job {name}: {state}; log (all steps, last lines) ---", flush=True)
    print(kubectl("logs", f"job/{name}", "--all-containers", "--prefix", "--tail=40", check=False))
    return state == "Complete"


def backup(kubectl: Kubectl, release: str, timeout: float) -> int:
    name = f"{release}-backup-manual-{int(time.time())}"
    kubectl("create", "job", f"--from=cronjob/{release}-backup", name)
    return 0 if wait_job(kubectl, name, timeout) else 1


def restore_job(kubectl: Kubectl, release: str, backup_name: str) -> str:
    name = f"{release}-restore-{int(time.time())}"
    job = kubectl.json("create", "job", f"--from=cronjob/{release}-restore", name, "--dry-run=client")
    spec = job["spec"]["template"]["spec"]
    fetch = next(c for c in spec["initContainers"] if c["name"] == "fetch")
    env = [e for e in fetch.get("env", []) if e["name"] != "BACKUP"]
    fetch["env"] = [*env, {"name": "BACKUP", "value": backup_name}]
    kubectl("create", "-f", "-", stdin=json.dumps(job))
    return name


def changed_anything(kubectl: Kubectl, job: str) -> bool:
    pods = kubectl.json("get", "pods", "-l", f"job-name={job}")["items"]
    for pod in pods:
        status = pod.get("status", {})
        for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
            if c["name"] in CHANGING and (
                "running" in c.get("state", {}) or "terminated" in c.get("state", {})
            ):
                return True
    return False


def running_flow_runs(kubectl: Kubectl) -> list[tuple[str, str]]:
    """(Job, flow run id) of the flow-run Jobs that have not ended."""
    jobs = kubectl.json("get", "jobs", "-l", FLOW_RUN_LABEL)["items"]
    return [(j["metadata"]["name"], j["metadata"].get("labels", {}).get(FLOW_RUN_LABEL, "?"))
            for j in jobs if ended(j) is None]


def refuse_for(running: list[tuple[str, str]]) -> int:
    print("refused: flow runs are still running (their Jobs, and flow run ids):\n"
          + "\n".join(f"  job/{job}  {run}" for job, run in running)
          + "\nThey would write into the restored databases what the backup does not have. "
          "Let them end, or cancel them (prefect flow-run cancel <id>), and restore again; "
          "or pass --stop-flow-runs (make k8s-restore STOP_FLOW_RUNS=1) to delete their Jobs "
          "first.", file=sys.stderr)
    return 2


def start_servers(kubectl: Kubectl, release: str, replicas: dict[str, int]) -> None:
    for part, n in replicas.items():
        kubectl("scale", "deployment", f"{release}-{part}", f"--replicas={n}")
    for part in replicas:
        kubectl("rollout", "status", f"deployment/{release}-{part}", "--timeout=600s")


def restore(kubectl: Kubectl, release: str, backup_name: str, timeout: float,
            stop_flow_runs: bool = False) -> int:
    # Stopping the worker does not stop the Jobs it started. A flow run still going when the
    # servers come back would write what the backup does not know (a run, a registered version,
    # a promotion) into the restored databases, or fail on runs they no longer have. Checked
    # before anything stops, and again once the worker is down (it may have started one since).
    if (running := running_flow_runs(kubectl)) and not stop_flow_runs:
        return refuse_for(running)
    replicas = {}
    for part in STOPPED:
        deploy = kubectl.json("get", "deployment", f"{release}-{part}")
        replicas[part] = max(1, deploy["spec"].get("replicas", 1))
    print(f"stopping {', '.join(STOPPED)} (replicas to restore: {replicas})", flush=True)
    for part in STOPPED:
        kubectl("scale", "deployment", f"{release}-{part}", "--replicas=0")
    # Until their pods are gone (`kubectl wait --for=delete` fails when none match).
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/name in ({','.join(STOPPED)})"
    deadline = time.monotonic() + 300
    while kubectl("get", "pods", "-l", selector, "-o", "name").strip():
        if time.monotonic() > deadline:
            sys.exit(
                f"their pods are still there after 300 s; start them again with kubectl scale ({replicas})"
            )
        time.sleep(3)
    if (running := running_flow_runs(kubectl)) and not stop_flow_runs:
        print("a flow run started while the servers were stopping: starting them again", flush=True)
        start_servers(kubectl, release, replicas)
        return refuse_for(running)
    for job, run in running:
        print(f"stopping flow run {run}: deleting job/{job}", flush=True)
        kubectl("delete", "job", job, "--cascade=foreground", "--wait=true", "--ignore-not-found")
    job = restore_job(kubectl, release, backup_name)
    ok = wait_job(kubectl, job, timeout)
    if not ok and changed_anything(kubectl, job):
        print(
            f"restore {job} failed after it began changing data: {', '.join(STOPPED)} stay stopped.\n"
            "Fix the cause (log above) and run the restore again; to start them anyway:\n"
            + "\n".join(
                f"  kubectl -n <ns> scale deployment {release}-{p} --replicas={n}"
                for p, n in replicas.items()
            ),
            file=sys.stderr,
        )
        return 1
    print("starting them again" + ("" if ok else " (the restore changed nothing)"), flush=True)
    start_servers(kubectl, release, replicas)
    if ok:
        # The model server keeps serving what it loaded; a rolling restart loads the restored
        # registry's production model (absent: the part is off).
        if kubectl("get", "deployment", f"{release}-model-server", "--ignore-not-found", "-o", "name"):
            kubectl("rollout", "restart", f"deployment/{release}-model-server")
            kubectl("rollout", "status", f"deployment/{release}-model-server", "--timeout=600s")
        print(f"restored backup {backup_name} into release {release}", flush=True)
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kubectl", default="kubectl", help="kubectl command (with --context etc.)")
    parser.add_argument("--namespace", default="sentiment")
    parser.add_argument("--release", default="sentiment")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the Job")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backup")
    r = sub.add_parser("restore")
    r.add_argument("--backup", default="latest", help="backup name (its folder) or latest")
    r.add_argument("--stop-flow-runs", action="store_true",
                   help="delete the Jobs of flow runs still running (refused otherwise)")
    args = parser.parse_args(argv)
    kubectl = Kubectl(args.kubectl, args.namespace)
    if args.command == "backup":
        return backup(kubectl, args.release, args.timeout)
    return restore(kubectl, args.release, args.backup or "latest", args.timeout,
                   args.stop_flow_runs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
