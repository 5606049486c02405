"""End-to-end: the platform on a real cluster, from `helm install` to served, delivered models.

Runs against the current kubeconfig (``make e2e``; CI runs it on the kind cluster of
``make kind-up``, from a node image built without a registry). The steps run in order and share
state; after a failure the rest are skipped, except the uninstall, which always runs (unless
E2E_KEEP=1).

   1. helm install --wait the last release (releases/) with no model yet, in a namespace that
      enforces Pod Security `restricted`: every pod Ready, the model server stands by (503)
   2. the deployments, their schedules paused; prefect deployment run the training flow (the
      seed recipe): a Job; version 1 is rolled out
   3. MLflow (PostgreSQL backend, S3 artifacts) shows the run, version, tags, production alias
   4. the model server serves that exact version through its Service, and says so per response
  4a. helm upgrade to this checkout under load: no request fails, the served version stays, and
      every run, version, alias, deployment and flow run is still there
   5. deleting the model-server pods brings them back, serving the same version
   6. locked down: 401 without credentials from inside the cluster, network policy (who reaches
      what), a privileged pod refused, the trainer's patches limited, job variables ignored
   7. a better challenger is promoted while a load generator runs: no failed request, and once
      the rollout is done every answer comes from the new version
   8. a worse challenger does not move production, nor roll the server
   9. `flipkart-sentiment rollback` and `kubectl rollout undo` each bring the previous version
      back, and the answers say so
  10. a version that cannot load is promoted (the promote-sentiment flow) under load: the rollout
      fails, everything is reverted, nothing stops answering, the flow run fails with the cause
  11. a rotated password takes effect at the next restart (the old one gets 401)
 11b. an upgrade Kubernetes cannot apply (PostgreSQL's volume size) is refused
 11c. a backup; a restore while a training run's Job runs is refused; PostgreSQL's volume and
      pod deleted, then a restore: the same data and the same version served
 11d. score-reviews fans out: each shard of a grown file on the object store is its own
      flow-run Job; 1 and 2 shards write the same labels, all from production (figures)
  12. `helm template | kubectl apply` installs a second platform: Ready, Secrets generated once
  13. helm uninstall leaves nothing running

Each step is logged with its time (.run/e2e/steps.log, summary in .run/e2e/summary.txt).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import pytest
import yaml
from sentiment_testkit.e2e import LOG, ROOT, RUN_DIR, Config, Kube, PortForward, sets_known_to

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3 * 3600)]

REVIEWS = [
    "Excellent racquet, very light and the string quality is superb. Worth every rupee!",
    "Worst product ever. The shuttle broke on the first day, complete waste of money.",
    "It is okay, average quality for the price.",
]
RESTRICTED_LABELS = ("pod-security.kubernetes.io/enforce=restricted",
                     "pod-security.kubernetes.io/enforce-version=latest")
PROMOTE_DEPLOYMENT = "promote-sentiment/manual"
ROLLBACK_DEPLOYMENT = "rollback-sentiment/manual"
MONITOR_DEPLOYMENT = "monitor-sentiment/hourly"
SCORE_DEPLOYMENT = "score-reviews/manual"
SHARD_DEPLOYMENT = "score-reviews-shard/manual"
# The annotation the trainer patches: the chart's global.rollout.annotation.
ROLLOUT_ANNOTATION = yaml.safe_load((ROOT / "charts" / "sentiment-platform" / "values.yaml").read_text())[
    "global"]["rollout"]["annotation"]


# ---------------------------------------------------------------------------------------------
# helpers


def wait_until(what: str, fn, timeout: float, interval: float = 3.0):
    """Call fn until it returns a truthy value; fail with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}"
        + (f" (last error: {last_exc})" if last_exc else "")
    )


def service_for(kube: Kube, port: int, hint: str) -> dict:
    """The Service exposing `port`, preferring one whose name contains `hint`."""
    svcs = kube.json("get", "services")["items"]
    matches = [
        s
        for s in svcs
        if any(p.get("port") == port for p in s["spec"].get("ports", []))
        and s["spec"].get("clusterIP") not in (None, "None")
    ]
    assert matches, f"no Service with port {port} in {kube.cfg.namespace}"
    matches.sort(key=lambda s: hint not in s["metadata"]["name"])
    return matches[0]


def deployment_for(kube: Kube, port: int, hint: str) -> dict:
    deps = kube.json("get", "deployments")["items"]
    matches = [
        d
        for d in deps
        if any(
            cp.get("containerPort") == port
            for c in d["spec"]["template"]["spec"]["containers"]
            for cp in c.get("ports", [])
        )
    ]
    assert matches, f"no Deployment with container port {port} in {kube.cfg.namespace}"
    matches.sort(key=lambda d: hint not in d["metadata"]["name"])
    return matches[0]


def env_value(kube: Kube, container: dict, name: str) -> str | None:
    """An env var of a container spec, following secretKeyRef/configMapKeyRef."""
    for e in container.get("env", []):
        if e["name"] != name:
            continue
        if "value" in e:
            return e["value"]
        ref = e.get("valueFrom", {})
        if "secretKeyRef" in ref:
            r = ref["secretKeyRef"]
            data = kube.json("get", "secret", r["name"])["data"]
            return base64.b64decode(data[r["key"]]).decode()
        if "configMapKeyRef" in ref:
            r = ref["configMapKeyRef"]
            return kube.json("get", "configmap", r["name"])["data"][r["key"]]
    return None


def secret_value(kube: Kube, name: str, key: str) -> str:
    return base64.b64decode(kube.json("get", "secret", name)["data"][key]).decode()


def load_credentials(kube: Kube, cfg: Config, state: dict) -> None:
    """The generated credentials (the generate-secrets Job made them); this process works as
    MLflow's admin from here on, as an operator with access to the Secrets would."""
    r = cfg.release
    state["creds"] = {
        "admin": secret_value(kube, f"{r}-mlflow-auth", "admin-password"),
        "trainer": secret_value(kube, f"{r}-mlflow-auth", "trainer-password"),
        "model-server": secret_value(kube, f"{r}-mlflow-auth", "model-server-password"),
        "prefect": secret_value(kube, f"{r}-prefect-auth", "auth-string"),
    }
    os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
    os.environ["MLFLOW_TRACKING_PASSWORD"] = state["creds"]["admin"]


def venv_bin(name: str) -> str:
    path = os.path.join(os.path.dirname(sys.executable), name)
    return path if os.path.exists(path) else name


def prefect_env(state: dict) -> dict:
    env = dict(os.environ)
    env["PREFECT_API_URL"] = state["prefect_pf"].url + "/api"
    env["PREFECT_API_AUTH_STRING"] = state["creds"]["prefect"]
    env.setdefault("PREFECT_HOME", str(ROOT / ".run" / "e2e" / "prefect-home"))
    return env


def mlflow_client(state: dict):
    """A client on the MLflow forward. Built per use: `.url` restarts a forward whose kubectl has
    exited (a restarted or replaced pod ends it), where a client kept from step 3 would not."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=state["mlflow_pf"].url)


@contextmanager
def prefect_client(state: dict):
    """A sync Prefect client on the port-forwarded API (settings are bound at import time)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: state["prefect_pf"].url + "/api",
                             PREFECT_API_AUTH_STRING: state["creds"]["prefect"]}):
        with get_client(sync_client=True) as client:
            yield client


FLOW_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run_flow(kube: Kube, cfg: Config, state: dict, params: dict[str, str], label: str,
             deployment: str | None = None, expect_failure: bool = False) -> dict:
    """`prefect deployment run` a deployment (default: training), wait for it, return the flow
    run info; with expect_failure, a failed run is returned instead of raised."""
    args = [venv_bin("prefect"), "--no-prompt", "deployment", "run", deployment or cfg.deployment]
    for k, v in params.items():
        args += ["--param", f"{k}={v}"]
    LOG.say("$ " + " ".join(args))
    res = subprocess.run(args, capture_output=True, text=True, env=prefect_env(state), timeout=120)
    assert res.returncode == 0, f"prefect deployment run failed:\n{res.stdout}\n{res.stderr}"
    labelled, anywhere = re.search(r"UUID:\s*([0-9a-f-]{36})", res.stdout), FLOW_RUN_ID.search(res.stdout)
    assert labelled or anywhere, f"no flow run id in:\n{res.stdout}"
    run_id = labelled.group(1) if labelled else anywhere.group(0)
    LOG.say(f"{label}: flow run {run_id} created")

    seen_job: dict = {}

    def job_seen() -> dict:
        if not seen_job:
            jobs = kube.json("get", "jobs", "-A", "-l", f"prefect.io/flow-run-id={run_id}", namespaced=False)[
                "items"
            ]
            if jobs:
                j = jobs[0]
                seen_job.update(
                    name=j["metadata"]["name"],
                    namespace=j["metadata"]["namespace"],
                    image=j["spec"]["template"]["spec"]["containers"][0]["image"],
                )
                LOG.say(
                    f"{label}: worker created Job {j['metadata']['namespace']}/"
                    f"{j['metadata']['name']} (image {seen_job['image']})"
                )
        return seen_job

    last_state = [""]

    def finished():
        job_seen()
        with prefect_client(state) as client:
            fr = client.read_flow_run(uuid.UUID(run_id))
        st = fr.state.type.value if fr.state else "?"
        if st != last_state[0]:
            LOG.say(f"{label}: flow run state {st} ({fr.state.name if fr.state else ''})")
            last_state[0] = st
        if fr.state and fr.state.is_final():
            return fr
        return None

    try:
        fr = wait_until(f"flow run {run_id}", finished, cfg.flow_timeout, interval=5)
    except AssertionError:
        if seen_job:
            logs = kube.run("logs", f"job/{seen_job['name']}", "--tail=60", check=False).stdout
            LOG.say(f"job logs:\n{logs}")
        raise
    if expect_failure and fr.state.is_failed():
        return {"id": run_id, "job": seen_job, "flow_run": fr}
    if not fr.state.is_completed():
        if seen_job:
            logs = kube.run("logs", f"job/{seen_job['name']}", "--tail=80", check=False).stdout
            LOG.say(f"job logs:\n{logs}")
        raise AssertionError(f"flow run {run_id} ended {fr.state.type.value}: {fr.state.message}")
    assert job_seen(), f"no Kubernetes Job labelled prefect.io/flow-run-id={run_id}"
    return {"id": run_id, "job": seen_job, "flow_run": fr}


# Pods the test starts itself meet the restricted Pod Security profile.
RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"}},
    "automountServiceAccountToken": False,
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True}


def run_pod(kube: Kube, state: dict, name: str, code: str, *args: str) -> None:
    """A pod of the model-server image running `python -c code args` (restarts never)."""
    overrides = {"spec": {**RESTRICTED_POD, "containers": [{
        "name": name, "image": state["ms_image"], "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-c", code, *args], "securityContext": RESTRICTED_CONTAINER}]}}
    kube.run("run", name, f"--image={state['ms_image']}", "--restart=Never",
             f"--overrides={json.dumps(overrides)}")


def service_url(kube: Kube, state: dict, path: str = "/invocations") -> str:
    return f"http://{state['ms_service']}.{kube.cfg.namespace}.svc.cluster.local:{state['ms_port']}{path}"


_REQUEST = """
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=60) as r:
        status, headers, body = r.status, r.headers, r.read().decode()
except urllib.error.HTTPError as e:
    status, headers, body = e.code, e.headers, e.read().decode()
print(json.dumps({"status": status, "version": headers.get("X-Model-Version"),
                  "body": json.loads(body)}))
"""


def request_in_cluster(kube: Kube, state: dict, payload: dict) -> dict:
    """POST to the model server through its Service's DNS name, from a pod in the cluster:
    {"status", "version" (X-Model-Version), "body"}."""
    name = f"e2e-request-{uuid.uuid4().hex[:6]}"
    run_pod(kube, state, name, _REQUEST, service_url(kube, state), json.dumps(payload))
    return pod_result(kube, name, "in-cluster request")


def pod_result(kube: Kube, name: str, what: str) -> dict:
    """Wait for a one-shot pod to end, return the JSON of its last log line, delete it."""
    try:
        def done():
            phase = kube.json("get", "pod", name)["status"].get("phase")
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait_until(f"pod {name}", done, 180, interval=1)
        out = kube.run("logs", name, check=False).stdout.strip()
        assert phase == "Succeeded", f"{what} failed: {out}"
        return json.loads(out.splitlines()[-1])
    finally:
        kube.run("delete", "pod", name, "--wait=false", check=False)


_LOAD = """
import json, sys, threading, time, urllib.request, urllib.error
url, seconds = sys.argv[1], float(sys.argv[2])
body = json.dumps({"inputs": ["great shuttle, fast delivery", "worst, broke in a day"]}).encode()
end, lock = time.time() + seconds, threading.Lock()
def worker():
    while time.time() < end:
        t = time.time()
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
                status, version = r.status, r.headers.get("X-Model-Version")
        except urllib.error.HTTPError as e:
            status, version = e.code, e.headers.get("X-Model-Version")
        except Exception as e:
            status, version = 0, type(e).__name__
        with lock:
            print(f"{t:.3f} {status} {version}", flush=True)
        time.sleep(0.02)
threads = [threading.Thread(target=worker) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


class LoadGenerator:
    """Requests without pause (two at a time, each on a new connection, like most clients)
    through the model-server Service from a pod in the cluster; every answer's status and
    X-Model-Version is logged with its time. A context manager: the pod goes on exit."""

    def __init__(self, kube: Kube, state: dict, seconds: int = 1500) -> None:
        self.kube, self.state, self.seconds = kube, state, seconds
        self.name = f"e2e-load-{uuid.uuid4().hex[:6]}"
        self.rows: list[tuple[float, int, str]] = []

    def __enter__(self) -> LoadGenerator:
        run_pod(self.kube, self.state, self.name, _LOAD, service_url(self.kube, self.state),
                str(self.seconds))
        wait_until(f"load generator {self.name} answering", lambda: len(self.records()) > 20, 120, 1)
        LOG.say(f"load generator {self.name} running")
        return self

    def records(self) -> list[tuple[float, int, str]]:
        out = self.kube.run("logs", self.name, check=False).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                rows.append((float(parts[0]), int(parts[1]), parts[2]))
        return rows

    def __exit__(self, *exc) -> None:
        time.sleep(5)  # answers after the last event
        self.rows = self.records()
        self.kube.run("delete", "pod", self.name, "--wait=false", check=False)


def summarize(rows: list[tuple[float, int, str]], since: float) -> dict:
    """Counts of a load generator's answers, and what answered after `since` (epoch seconds)."""
    failed = [r for r in rows if r[1] != 200]
    after = [r for r in rows if r[0] > since]
    versions: dict[str, int] = {}
    for _, _, version in rows:
        versions[version] = versions.get(version, 0) + 1
    span = rows[-1][0] - rows[0][0] if len(rows) > 1 else 0.0
    return {"sent": len(rows), "failed": len(failed), "failures": failed[:5],
            "versions": versions, "after": {v for _, _, v in after}, "n_after": len(after),
            "per_second": len(rows) / span if span else 0.0}


def cli(state: dict, cfg: Config, *args: str) -> subprocess.CompletedProcess:
    """`flipkart-sentiment ...` from this machine, like an operator: the MLflow port-forward,
    the current kubeconfig, the model-server Deployment."""
    env = dict(os.environ) | {
        "MLFLOW_TRACKING_URI": state["mlflow_pf"].url, "SENTIMENT_MODEL_NAME": cfg.model_name,
        "SENTIMENT_ROLLOUT_TARGET": "kubernetes", "SENTIMENT_ROLLOUT_DEPLOYMENT": state["ms_deployment"],
        "SENTIMENT_ROLLOUT_NAMESPACE": cfg.namespace, "SENTIMENT_ROLLOUT_ANNOTATION": ROLLOUT_ANNOTATION,
        "SENTIMENT_ROLLOUT_TIMEOUT_SECONDS": "420",
        "MLFLOW_TRACKING_USERNAME": "trainer", "MLFLOW_TRACKING_PASSWORD": state["creds"]["trainer"]}
    LOG.say("$ flipkart-sentiment " + " ".join(args))
    res = subprocess.run([venv_bin("flipkart-sentiment"), *args], env=env, capture_output=True,
                         text=True, timeout=900)
    LOG.say(f"  -> exit {res.returncode}: {(res.stdout + res.stderr).strip().splitlines()[-1:]}")
    return res


def check_predictions(body: dict, n: int) -> list[dict]:
    preds = body.get("predictions", body)
    assert isinstance(preds, list) and len(preds) == n, f"unexpected response: {body}"
    for p in preds:
        assert p.get("label") in {"Positive", "Negative", "Neutral"}, p
        assert 0.0 <= float(p["probability"]) <= 1.0, p
    return preds


def served_version(kube: Kube, state: dict) -> str | None:
    """The version the Deployment's pod template serves (SERVED_MODEL_URI), checked against the
    annotation the rollout sets with it."""
    dep = kube.json("get", "deployment", state["ms_deployment"])
    template = dep["spec"]["template"]
    container = template["spec"]["containers"][0]
    uri = next((e.get("value") for e in container.get("env", []) if e["name"] == "SERVED_MODEL_URI"), None)
    version = uri.rsplit("/", 1)[-1] if uri else None
    annotation = (template["metadata"].get("annotations") or {}).get(ROLLOUT_ANNOTATION)
    assert annotation == version, f"SERVED_MODEL_URI {uri} but annotation {annotation}"
    return version


def wait_model_server_ready(kube: Kube, state: dict, timeout: float = 600) -> None:
    """`kubectl rollout status`, then until no pod of another version is left (rollout status
    is done while old pods still drain)."""
    kube.run(
        "rollout",
        "status",
        f"deployment/{state['ms_deployment']}",
        f"--timeout={int(timeout)}s",
        timeout=timeout + 30,
    )
    want = served_version(kube, state)
    dep = kube.json("get", "deployment", state["ms_deployment"])
    selector = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())

    def only_that_version() -> bool:
        for pod in kube.pods(selector):
            env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}
            uri = env.get("SERVED_MODEL_URI")
            if (uri.rsplit("/", 1)[-1] if uri else None) != want:
                return False
        return True

    wait_until(f"only version {want} left", only_that_version, timeout, interval=1)


def helm_install(kube: Kube, cfg: Config, chart) -> None:
    """`helm upgrade --install --wait` of a chart (this checkout's, or a packaged release with
    the e2e's values it knows) with the e2e's values."""
    sets = cfg.sets if chart == cfg.chart else sets_known_to(chart, cfg.sets)
    args = ["upgrade", "--install", cfg.release, str(chart), "-n", cfg.namespace, "--wait",
            "--timeout", f"{cfg.install_timeout}s"]
    for v in cfg.values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    try:
        kube.helm_run(*args, timeout=cfg.install_timeout + 120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{kube.describe_problems()}") from None


def inventory(cfg: Config, state: dict) -> dict:
    """What an upgrade or a restore must keep: every MLflow run (status, metrics), registered
    version (run, tags), alias, Prefect deployment (schedules) and finished flow run."""
    client = mlflow_client(state)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = {r.info.run_id: (r.info.status, sorted(r.data.metrics.items()))
            for r in client.search_runs(experiments, max_results=5000)}
    versions = {v.version: (v.run_id, sorted(v.tags.items()))
                for v in client.search_model_versions(f"name='{cfg.model_name}'")}
    aliases = dict(client.get_registered_model(cfg.model_name).aliases or {})
    with prefect_client(state) as prefect:
        flows = {f.id: f.name for f in prefect.read_flows()}
        deployments = {f"{flows.get(d.flow_id, d.flow_id)}/{d.name}": sorted(
            (getattr(s.schedule, "cron", None) or str(s.schedule), s.active) for s in d.schedules)
            for d in prefect.read_deployments()}
        flow_runs = {str(r.id): r.state_type.value for r in prefect.read_flow_runs()
                     if r.state_type and r.state_type.value in ("COMPLETED", "FAILED")}
    return {"runs": runs, "versions": versions, "aliases": aliases,
            "deployments": deployments, "flow_runs": flow_runs}


def inventory_when_answering(cfg: Config, state: dict, timeout: float) -> dict:
    """The inventory, retried while the servers or their forwards come back (an upgrade or a
    restore replaces the pods, which ends their port-forwards).

    Each try gives up at the first refused connection, so that the next one runs on restarted
    forwards: with MLflow's own retries (7, exponential backoff) one try on a dead forward's port
    took about 4 minutes."""
    def attempt() -> dict:
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        try:
            return inventory(cfg, state)
        except Exception:
            for key in ("mlflow_pf", "prefect_pf"):
                state[key].start()
            raise
        finally:
            if retries is None:
                os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
            else:
                os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = retries

    return wait_until("MLflow and Prefect answering", attempt, timeout, 5)


def describe_inventory(inv: dict) -> str:
    return (f"{len(inv['runs'])} MLflow runs, versions {sorted(inv['versions'], key=int)}, "
            f"aliases {inv['aliases']}, {len(inv['deployments'])} deployments "
            f"{sorted(inv['deployments'])}, {len(inv['flow_runs'])} finished flow runs")


def assert_kept(before: dict, after: dict) -> None:
    for key in ("runs", "versions", "aliases", "deployments"):
        assert after[key] == before[key], f"{key} changed:\nbefore {before[key]}\nafter {after[key]}"
    lost = {k: v for k, v in before["flow_runs"].items() if after["flow_runs"].get(k) != v}
    assert not lost, f"flow runs lost or changed: {lost}"


_VALUES = yaml.safe_load((ROOT / "charts" / "sentiment-platform" / "values.yaml").read_text())
BACKUP_BUCKET = _VALUES["backup"]["bucket"]
MONITORING_BUCKET = _VALUES["global"]["monitoring"]["bucket"]


def backups(kube: Kube, cfg: Config) -> dict[str, dict]:
    """The complete backups in the backup bucket: {name: manifest}, read with the object store's
    root keys like the backup Jobs."""
    with root_s3(kube, cfg) as s3:
        found = {}
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BACKUP_BUCKET, Delimiter="/")
        for prefix in [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]:
            try:
                body = s3.get_object(Bucket=BACKUP_BUCKET, Key=prefix + "manifest.json")["Body"]
            except s3.exceptions.NoSuchKey:
                continue
            found[prefix.rstrip("/")] = json.loads(body.read())
        return found


@contextmanager
def root_s3(kube: Kube, cfg: Config):
    """A boto3 S3 client on a port-forward to the object store, with its root keys."""
    import boto3

    s3_pf = PortForward(kube, service_for(kube, 9000, "objectstore")["metadata"]["name"], 9000)
    try:
        yield boto3.client("s3", endpoint_url=s3_pf.url, region_name="us-east-1",
                           aws_access_key_id=secret_value(kube, f"{cfg.release}-objectstore", "root-user"),
                           aws_secret_access_key=secret_value(kube, f"{cfg.release}-objectstore",
                                                              "root-password"))
    finally:
        s3_pf.stop()


def backup_script(kube: Kube, cfg: Config, *args: str, expect: int = 0) -> tuple[float, str]:
    """scripts/k8s/backup.py (what `make k8s-backup` and `make k8s-restore` run), which must
    exit `expect`: seconds, log (stdout and stderr)."""
    started = time.monotonic()
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "k8s" / "backup.py"), "--kubectl",
                          kube.kubectl, "--namespace", cfg.namespace, "--release", cfg.release,
                          "--timeout", "900", *args],
                         capture_output=True, text=True, timeout=1800, check=False)
    took = time.monotonic() - started
    assert res.returncode == expect, (f"backup.py {' '.join(args)} exited {res.returncode}, not "
                                      f"{expect}:\n{res.stdout}\n{res.stderr}")
    return took, res.stdout + res.stderr


# ---------------------------------------------------------------------------------------------
# the steps


def test_1_helm_install(kube: Kube, cfg: Config, state: dict):
    with LOG.step("1. helm install the platform and wait for every pod Ready"):
        kube.run("create", "namespace", cfg.namespace, check=False, namespaced=False)
        # Pod Security `restricted`, enforced: a pod that breaks it is refused, and the test fails.
        kube.run("label", "--overwrite", "namespace", cfg.namespace, *RESTRICTED_LABELS,
                 namespaced=False)
        # The last release first (step 4a upgrades it to this checkout), as users have it.
        chart = cfg.previous_chart or cfg.chart
        LOG.say(f"installing {chart.name}")
        helm_install(kube, cfg, chart)

        def all_ready():
            pods = [p for p in kube.pods() if p["status"].get("phase") != "Succeeded"]
            return pods and all(
                p["status"].get("phase") == "Running"
                and all(c.get("ready") for c in p["status"].get("containerStatuses", []))
                for p in pods
            )

        try:
            wait_until("every pod Ready", all_ready, 600, interval=3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{kube.describe_problems()}") from None
        for p in kube.pods():
            LOG.say(f"  pod {p['metadata']['name']}: {p['status'].get('phase')}")
        state["installed"] = True

        load_credentials(kube, cfg, state)
        # No model yet: the model server stands by, Ready, and says so with a 503.
        dep = deployment_for(kube, 5001, "model-server")
        state.update(ms_deployment=dep["metadata"]["name"], ms_port=5001,
                     ms_service=service_for(kube, 5001, "model-server")["metadata"]["name"],
                     ms_image=dep["spec"]["template"]["spec"]["containers"][0]["image"])
        assert served_version(kube, state) is None
        answer = request_in_cluster(kube, state, {"inputs": ["anything"]})
        LOG.say(f"before any model: HTTP {answer['status']} {answer['body']}")
        assert answer["status"] == 503 and answer["body"]["error_code"] == "MODEL_NOT_READY"


def test_2_training_flow_runs_as_job(kube: Kube, cfg: Config, state: dict):
    with LOG.step("2. prefect deployment run: the worker runs training as a Job; v1 rolled out"):
        svc = service_for(kube, 4200, "prefect")
        state["prefect_pf"] = PortForward(kube, svc["metadata"]["name"], 4200)
        LOG.say(f"Prefect API via port-forward {state['prefect_pf'].url}")
        env = prefect_env(state)

        # Always (deploy.py is idempotent): the steps below count on the schedules being paused.
        LOG.say("flows/deploy.py kubernetes, schedules paused")
        res = subprocess.run(
            [sys.executable, str(ROOT / "flows" / "deploy.py"), "kubernetes", "--image",
             cfg.trainer_image],
            capture_output=True,
            text=True,
            # Paused schedules: the daily training (02:00 UTC) or the hourly monitor would start
            # flow runs in the middle of steps that decide production by their own runs, back up
            # and restore the databases, or count the namespace's pods (a CI run spanning 02:00
            # failed on it). The automation, which step 4c checks, still runs training.
            # And shard Jobs that fit beside the platform on a 2-core node (their default
            # request is a whole core).
            env={**env, "SENTIMENT_SCHEDULES_ACTIVE": "false",
                 "SENTIMENT_SCORING_SHARD_CPU_REQUEST": cfg.shard_cpu_request},
            cwd=ROOT,
            timeout=300,
        )
        assert res.returncode == 0, f"deploy.py failed:\n{res.stdout}\n{res.stderr}"
        with prefect_client(state) as client:
            deployments = {name: client.read_deployment_by_name(name) for name in (
                cfg.deployment, PROMOTE_DEPLOYMENT, ROLLBACK_DEPLOYMENT, MONITOR_DEPLOYMENT,
                SCORE_DEPLOYMENT, SHARD_DEPLOYMENT)}
        crons = {name: [(s.schedule.cron, s.active) for s in deployments[name].schedules]
                 for name in (cfg.deployment, MONITOR_DEPLOYMENT)}
        LOG.say(f"schedules (cron, active): {crons}")
        assert all(len(got) == 1 and got[0][1] is False for got in crons.values()), crons
        # The seed recipe first: a weaker production, so that step 6 has a better challenger.
        run = run_flow(kube, cfg, state, {"search": "seed"}, "run 1")
        assert cfg.trainer_image.split(":")[0] in run["job"]["image"], run["job"]
        state["run1"] = run


def test_3_mlflow_registry(kube: Kube, cfg: Config, state: dict):
    with LOG.step("3. MLflow (PostgreSQL + S3) shows the run, version, tags and production alias"):
        svc = service_for(kube, 5000, "mlflow")
        state["mlflow_pf"] = PortForward(kube, svc["metadata"]["name"], 5000)
        client = mlflow_client(state)
        exp = client.get_experiment_by_name(cfg.experiment)
        assert exp is not None, f"experiment {cfg.experiment} missing"
        runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
        assert runs, "no MLflow runs"
        LOG.say(f"experiment {cfg.experiment}: {len(runs)} runs")
        prod = client.get_model_version_by_alias(cfg.model_name, "production")
        LOG.say(
            f"production = {cfg.model_name} v{prod.version} (run {prod.run_id}), tags {sorted(prod.tags)}"
        )
        assert prod.tags, "the registered version has no tags"
        model = client.get_registered_model(cfg.model_name)
        assert "production" in (model.aliases or {}), model.aliases
        run = client.get_run(prod.run_id)
        assert run.info.status == "FINISHED", run.info.status
        state["prod_version"] = str(prod.version)

        # Its Prometheus metrics (--expose-prometheus) count the API calls just made, for a login.
        import httpx

        metrics_url = state["mlflow_pf"].url + "/metrics"
        assert httpx.get(metrics_url, timeout=30).status_code == 401
        metrics = httpx.get(metrics_url, auth=("admin", state["creds"]["admin"]), timeout=30)
        assert metrics.status_code == 200, metrics.text[:300]
        served = [line for line in metrics.text.splitlines()
                  if line.startswith("mlflow_http_request_total{") and 'status="200"' in line]
        LOG.say(f"MLflow /metrics: {served}")
        assert served and sum(float(line.rsplit(" ", 1)[1]) for line in served) > 0

        # Backend store: the registry rows live in PostgreSQL.
        ml = deployment_for(kube, 5000, "mlflow")
        args = " ".join(ml["spec"]["template"]["spec"]["containers"][0].get("args", []))
        assert "postgresql" in args, f"MLflow backend is not PostgreSQL: {args}"
        pg = [
            p
            for p in kube.pods()
            if "postgres" in p["metadata"]["name"] and p["status"].get("phase") == "Running"
        ]
        assert pg, "no PostgreSQL pod"
        pg_user = env_value(kube, pg[0]["spec"]["containers"][0], "POSTGRES_USER") or "postgres"
        q = kube.run(
            "exec",
            pg[0]["metadata"]["name"],
            "--",
            "psql",
            "-U",
            pg_user,
            "-d",
            "mlflow",
            "-At",
            "-c",
            "select name, version from model_versions order by version",
        )
        LOG.say(f"PostgreSQL mlflow.model_versions: {q.stdout.split()}")
        assert f"{cfg.model_name}|{prod.version}" in q.stdout.split()

        # Artifact store: the model's files are objects in the S3 bucket.
        m = re.search(r"--artifacts-destination\s+s3://([^/\s]+)", args)
        assert m, f"no s3 artifacts destination in MLflow args: {args}"
        bucket = m.group(1)
        container = ml["spec"]["template"]["spec"]["containers"][0]
        s3_svc = service_for(kube, 9000, "objectstore")
        s3_pf = PortForward(kube, s3_svc["metadata"]["name"], 9000)
        try:
            import boto3

            s3 = boto3.client(
                "s3",
                endpoint_url=s3_pf.url,
                region_name="us-east-1",
                aws_access_key_id=env_value(kube, container, "AWS_ACCESS_KEY_ID"),
                aws_secret_access_key=env_value(kube, container, "AWS_SECRET_ACCESS_KEY"),
            )
            keys = [
                o["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])
            ]
        finally:
            s3_pf.stop()
        LOG.say(f"S3 bucket {bucket}: {len(keys)} objects")
        assert any(k.endswith("MLmodel") for k in keys), keys[:20]


def test_4_model_server_serves_production(kube: Kube, cfg: Config, state: dict):
    with LOG.step("4. the model server serves that exact version through its Service"):
        # The flow's delivery set SERVED_MODEL_URI (and the annotation) and waited for the rollout.
        assert served_version(kube, state) == state["prod_version"]
        wait_model_server_ready(kube, state)
        LOG.say(f"deployment/{state['ms_deployment']} serves models:/{cfg.model_name}/"
                f"{served_version(kube, state)}")
        answer = wait_until(
            "a prediction through the Service",
            lambda: (a := request_in_cluster(kube, state, {"inputs": REVIEWS}))["status"] == 200 and a,
            300,
            5,
        )
        LOG.mark("first prediction")
        assert answer["version"] == state["prod_version"], answer
        preds = check_predictions(answer["body"], len(REVIEWS))
        for text, p in zip(REVIEWS, preds, strict=False):
            LOG.say(f"  {p['label']:8} {float(p['probability']):.3f}  {text[:60]}")
        state["preds"] = preds
        # Also from the host, like a user: port-forward + the same request.
        pf = PortForward(kube, state["ms_service"], 5001)
        try:
            import httpx

            r = httpx.post(pf.url + "/invocations", json={"inputs": [REVIEWS[1]]}, timeout=60)
            LOG.say(f"host -> svc/{state['ms_service']}: HTTP {r.status_code} "
                    f"X-Model-Version {r.headers.get('X-Model-Version')} {r.text[:160]}")
            assert r.status_code == 200
            assert r.headers["X-Model-Version"] == state["prod_version"]
            check_predictions(r.json(), 1)
            bad = httpx.post(pf.url + "/invocations", json={"inputs": [None]}, timeout=60)
            LOG.say(f"bad input -> HTTP {bad.status_code} {bad.text[:200]}")
            assert bad.status_code == 400
        finally:
            pf.stop()


def test_4a_helm_upgrade_from_the_last_release_under_load(kube: Kube, cfg: Config, state: dict):
    if cfg.previous_chart is None:
        pytest.skip("E2E_PREVIOUS_CHART=none: this checkout was installed directly")
    with LOG.step(f"4a. helm upgrade {cfg.previous_chart.name} -> this checkout under load: "
                  "nothing lost, no request failed"):
        before = inventory_when_answering(cfg, state, 120)
        LOG.say(f"before: {describe_inventory(before)}")
        with LoadGenerator(kube, state) as load:
            started = time.monotonic()
            helm_install(kube, cfg, cfg.chart)
            wait_model_server_ready(kube, state)
            took = time.monotonic() - started
        LOG.say(f"helm upgrade --wait took {took:.0f}s")
        # The servers' pods were replaced: the forwards went with them.
        for key in ("mlflow_pf", "prefect_pf"):
            state[key].start()
        summary = summarize(load.rows, 0)
        LOG.say(f"load during the upgrade: {summary['sent']} requests "
                f"({summary['per_second']:.1f}/s), {summary['failed']} failed, versions "
                f"{summary['versions']}")
        state.setdefault("figures", {}).update(
            upgrade_s=round(took), upgrade_requests=summary["sent"],
            upgrade_failed=summary["failed"])
        assert summary["sent"] > 50, summary
        assert summary["failed"] == 0, summary["failures"]
        # The served version survives the upgrade (the chart never renders SERVED_MODEL_URI).
        assert summary["versions"] == {state["prod_version"]: summary["sent"]}, summary
        assert served_version(kube, state) == state["prod_version"]
        after = inventory_when_answering(cfg, state, 600)
        LOG.say(f"after: {describe_inventory(after)}")
        assert_kept(before, after)
        # The pre-upgrade hook backed up both databases and the artifacts before migrating.
        hooked = {k: v for k, v in backups(kube, cfg).items() if k.endswith("-pre-upgrade")}
        LOG.say(f"pre-upgrade backups: {hooked}")
        assert len(hooked) == 1, hooked
        chart = kube.json("get", "deployment", state["ms_deployment"])["metadata"]["labels"]
        LOG.say(f"model server now from chart {chart.get('helm.sh/chart')}")
        assert chart.get("helm.sh/chart") != f"model-server-{cfg.previous_chart.name}", chart


PROMETHEUS_ALERTS = {
    "SentimentModelServerErrors", "SentimentModelServerSlow", "SentimentModelServerNoTraffic",
    "SentimentModelServerDown", "SentimentModelNotServing", "SentimentMLflowDown",
    "SentimentPrefectServerDown",
}


def prometheus_query(pf: PortForward, query: str) -> list[dict]:
    import httpx

    r = httpx.get(pf.url + "/api/v1/query", params={"query": query}, timeout=30)
    r.raise_for_status()
    return r.json()["data"]["result"]


def test_4b_prometheus_scrapes_the_platform(kube: Kube, cfg: Config, state: dict):
    with LOG.step("4b. Prometheus finds the model server, MLflow and Prefect and counts the curls"):
        import httpx

        svc = service_for(kube, 9090, "prometheus")
        assert "prometheus" in svc["metadata"]["name"], "no Prometheus Service (prometheus.enabled)"
        pf = PortForward(kube, svc["metadata"]["name"], 9090)
        try:
            # Pod discovery through the API, scrapes through the NetworkPolicies, MLflow's login
            # and Prefect's auth string: every part's target is up.
            def targets_up():
                active = httpx.get(pf.url + "/api/v1/targets", timeout=30).json()["data"][
                    "activeTargets"]
                by_job: dict[str, list[dict]] = {}
                for t in active:
                    by_job.setdefault(t["labels"]["job"], []).append(t)
                state["prom_targets"] = {
                    job: [(t["labels"].get("pod"), t["health"], t.get("lastError", "")) for t in ts]
                    for job, ts in by_job.items()}
                return all(any(t["health"] == "up" for t in by_job.get(job, []))
                           for job in ("model-server", "mlflow", "prefect-server"))

            try:
                wait_until("Prometheus targets up", targets_up, 240, interval=5)
            finally:
                for job, ts in sorted(state.get("prom_targets", {}).items()):
                    LOG.say(f"  target {job}: {ts}")
            # A curl through the Service, then the counter and the prediction labels show it.
            before = prometheus_query(pf, 'sum(sentiment_http_requests_total{job="model-server",'
                                          'path="/invocations",status="200"})')
            before_n = float(before[0]["value"][1]) if before else 0.0
            answer = request_in_cluster(kube, state, {"inputs": REVIEWS})
            assert answer["status"] == 200, answer

            def counted():
                now = prometheus_query(pf, 'sum(sentiment_http_requests_total{job="model-server",'
                                           'path="/invocations",status="200"})')
                return now and float(now[0]["value"][1]) >= before_n + 1 and now

            now = wait_until("the curl in Prometheus", counted, 120, interval=5)
            LOG.say(f"sentiment_http_requests_total /invocations 200: {before_n:g} -> "
                    f"{float(now[0]['value'][1]):g}")
            preds = prometheus_query(pf, 'sum by (label, model_version) '
                                         '(sentiment_predictions_total{job="model-server"})')
            LOG.say("predictions: " + ", ".join(
                f"{p['metric']['label']}@v{p['metric']['model_version']}={p['value'][1]}" for p in preds))
            assert {p["metric"]["model_version"] for p in preds} >= {state["prod_version"]}
            info = prometheus_query(pf, 'max by (model_version) (sentiment_model_info{job="model-server"})')
            assert [i["metric"]["model_version"] for i in info] == [state["prod_version"]], info
            # The platform's alerting rules are loaded, and none fires on a healthy platform
            # (SentimentModelServerNoTraffic needs an hour without traffic).
            groups = httpx.get(pf.url + "/api/v1/rules", timeout=30).json()["data"]["groups"]
            rules = {r["name"]: r for g in groups for r in g["rules"]}
            assert set(rules) >= PROMETHEUS_ALERTS, sorted(rules)
            assert all(r["health"] == "ok" for r in rules.values()), rules
            firing = [n for n, r in rules.items() if r.get("state") == "firing"]
            LOG.say(f"{len(rules)} alerting rules loaded; firing: {firing or 'none'}")
            assert not firing
        finally:
            pf.stop()


def training_runs(state: dict, cfg: Config) -> list:
    """Every flow run of the training deployment."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with prefect_client(state) as client:
        deployment = client.read_deployment_by_name(cfg.deployment)
        return client.read_flow_runs(deployment_filter=DeploymentFilter(
            id=DeploymentFilterId(any_=[deployment.id])))


def retraining_runs(state: dict, cfg: Config, since) -> list:
    """Training flow runs created after `since` that no schedule made: the automation's."""
    return [r for r in training_runs(state, cfg)
            if not r.auto_scheduled and r.created and r.created > since]


def cancel_and_wait(state: dict, run_id: str, label: str, timeout: float = 240):
    """`prefect flow-run cancel`, then wait for the run's final state (the worker deletes the
    Job of a run that has one); returns the final flow run."""
    res = subprocess.run([venv_bin("prefect"), "--no-prompt", "flow-run", "cancel", run_id],
                         capture_output=True, text=True, env=prefect_env(state), timeout=120)
    LOG.say(f"{label}: prefect flow-run cancel {run_id}: exit {res.returncode} "
            f"{(res.stdout + res.stderr).strip()[-200:]}")

    def final():
        with prefect_client(state) as client:
            fr = client.read_flow_run(uuid.UUID(run_id))
        return fr if fr.state and fr.state.is_final() else None

    return wait_until(f"{label} {run_id} to end", final, timeout, interval=3)


def flow_run_job(kube: Kube, run_id: str) -> dict:
    """The Job the worker created for a flow run (waited for)."""
    return wait_until("the flow run's Job", lambda: kube.json(
        "get", "jobs", "-l", f"prefect.io/flow-run-id={run_id}")["items"], 180, 2)[0]


def test_4c_the_monitor_reads_the_prediction_log(kube: Kube, cfg: Config, state: dict):
    with LOG.step("4c. the model server logged the curls to the object store; the monitor flow "
                  "run reads them, and its drift alarm starts retraining"):
        # Every curl so far was scored by the production version; each pod writes a file within
        # predictionLog.flushSeconds (5 s here) of its first record.
        time.sleep(10)
        run = run_flow(kube, cfg, state, {}, "monitor", deployment=MONITOR_DEPLOYMENT)
        client = mlflow_client(state)
        exp = client.get_experiment_by_name("flipkart-sentiment-monitoring")
        assert exp is not None, "the monitor logged no run"
        (latest,) = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"],
                                       max_results=1)
        metrics, tags = latest.data.metrics, latest.data.tags
        LOG.say(f"monitoring run {latest.info.run_id} (flow run {run['id']}): version "
                f"{tags.get('model_version')}, {metrics.get('predictions'):g} predictions from "
                f"{metrics.get('log_files'):g} file(s), {metrics.get('labeled_reviews'):g} labeled, "
                f"crossed: {tags.get('crossed')}")
        assert tags["model_version"] == state["prod_version"]
        # the requests of steps 4 and 4b: through the write-only key, the NetworkPolicies and
        # back through the read-only key
        assert metrics["log_files"] >= 1 and metrics["predictions"] >= len(REVIEWS), metrics
        assert metrics["log_malformed_lines"] == 0
        assert latest.data.params["prediction_log"] == "s3://sentiment-monitoring/predictions"
        # The curls are the same few reviews over and over: their label mix and confidences are
        # far from the training reference, so the monitor raises its drift event, and the
        # automation retrain-sentiment-on-evidence starts train-sentiment/daily at once.
        assert tags["events_emitted"] == "true", f"the monitor raised no event: {tags}"
        since = run["flow_run"].created
        retrains = wait_until("the automation's training run",
                              lambda: retraining_runs(state, cfg, since), 120, 3)
        for retrain in retrains:
            by = getattr(retrain, "created_by", None)
            LOG.say(f"the drift event started training: flow run {retrain.id} "
                    f"({retrain.state.type.value if retrain.state else '?'}, created by "
                    f"{getattr(by, 'type', '?')} {getattr(by, 'display_value', '')})")
        # Those runs (the full search) would race the steps below, which decide what production
        # is by their own runs: stop them before they register a version.
        for retrain in retrains:
            fr = cancel_and_wait(state, str(retrain.id), "the automation's training run")
            LOG.say(f"the automation's training run {retrain.id} ended {fr.state.type.value}")
            assert fr.state.is_cancelled(), f"the automation's run ended {fr.state.type.value}"
        prod = mlflow_client(state).get_model_version_by_alias(cfg.model_name, "production")
        assert str(prod.version) == state["prod_version"]
        state.setdefault("figures", {})["retrain_on_drift"] = [str(r.id) for r in retrains]
        # Prefect's scheduler makes the runs of an active schedule ahead of time (within a
        # minute of the deploy); a paused one must have made none, or one would start mid-e2e.
        scheduled = [f"{r.name} at {r.expected_start_time}" for r in training_runs(state, cfg)
                     if r.auto_scheduled]
        assert not scheduled, f"the paused daily schedule made runs: {scheduled}"


def test_5_model_server_pod_comes_back(kube: Kube, cfg: Config, state: dict):
    with LOG.step("5. deleting the model-server pods brings them back with the same version"):
        dep = kube.json("get", "deployment", state["ms_deployment"])
        sel = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())
        old = {p["metadata"]["name"] for p in kube.pods(sel)}
        LOG.say(f"deleting {sorted(old)}")
        kube.run("delete", "pod", "-l", sel, "--wait=true", timeout=300)

        def new_ready():
            pods = [
                p
                for p in kube.pods(sel)
                if p["metadata"]["name"] not in old and not p["metadata"].get("deletionTimestamp")
            ]
            return (
                pods
                if pods
                and all(all(c.get("ready") for c in p["status"].get("containerStatuses", [])) for p in pods)
                else None
            )

        pods = wait_until("a new Ready model-server pod", new_ready, 600)
        LOG.say(f"new pod(s) {[p['metadata']['name'] for p in pods]} Ready")
        assert served_version(kube, state) == state["prod_version"]
        answer = request_in_cluster(kube, state, {"inputs": REVIEWS})
        assert answer["status"] == 200 and answer["version"] == state["prod_version"], answer
        preds = check_predictions(answer["body"], len(REVIEWS))
        for before, after in zip(state["preds"], preds, strict=False):
            assert before["label"] == after["label"]
            assert abs(float(before["probability"]) - float(after["probability"])) < 1e-6
        LOG.say("same labels and probabilities as before the restart")


_PROBE = """
import base64, json, os, socket, sys, time, urllib.error, urllib.request
# A network-policy controller sets a new pod up a moment after it starts: its peers refuse it
# and its own egress is not yet filtered. `await=<target>` (a peer only the policies let in)
# is retried until it answers, which means the peers know the pod; `settled=<target>` (a peer
# open to anyone but outside the pod's own egress rules) until it is refused, which means the
# pod's egress filter is in place (kube-router installs the two in separate steps: e2e once saw
# a flow-run pod reach the model server in between). The rest are then tried once.

def attempt(target):
    kind, _, rest = target.partition("=")
    if kind in ("tcp", "await"):
        host, port = rest.rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=4).close()
        return "open"
    method, _, rest = rest.partition(":")  # http=<method>:<url>[:<credential env var>]
    url, _, cred = rest.rpartition(":") if rest.count(":") > 2 else (rest, "", "")
    req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                                 headers={"Content-Type": "application/json"})
    if cred:  # ENVVAR (holds user:password) or USER/ENVVAR (holds the password)
        user, _, var = cred.rpartition("/")
        secret = (user + ":" if user else "") + os.environ[var]
        req.add_header("Authorization", "Basic " + base64.b64encode(secret.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code

out = {}
deadline = time.monotonic() + 60
for target in sys.argv[1:]:
    if target.startswith("await="):
        while True:
            try:
                attempt(target)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    sys.exit(f"{target} never answered: {exc}")
                time.sleep(0.5)
        continue
    if target.startswith("settled="):
        while True:
            try:
                attempt("tcp=" + target.partition("=")[2])
            except OSError:
                break
            if time.monotonic() > deadline:
                sys.exit(f"{target} still answers: this pod's egress policy is not enforced")
            time.sleep(0.5)
        continue
    try:
        out[target] = attempt(target)
    except OSError:
        out[target] = "blocked"
print(json.dumps(out))
"""


def probe(kube: Kube, state: dict, as_part: str | None, *targets: str, env: list | None = None) -> dict:
    """Connections from a pod of the model-server image: labelled as a part of the release
    (what its network policies allow; "flow-run" as the worker labels a flow-run pod), or with
    no labels at all (None)."""
    name = f"e2e-probe-{uuid.uuid4().hex[:6]}"
    release = kube.cfg.release
    labels = ({} if as_part is None else
              {"app.kubernetes.io/instance": release, "app.kubernetes.io/component": "flow-run",
               "app.kubernetes.io/name": "daily"} if as_part == "flow-run" else
              {"app.kubernetes.io/instance": release, "app.kubernetes.io/name": as_part})
    overrides = {"metadata": {"labels": labels}, "spec": {**RESTRICTED_POD, "containers": [{
        "name": name, "image": state["ms_image"], "imagePullPolicy": "IfNotPresent",
        "command": ["python", "-c", _PROBE, *targets], "env": env or [],
        # Labelled like a part, it matches that part's Service: never Ready, never an endpoint.
        "readinessProbe": {"exec": {"command": ["false"]}},
        "securityContext": RESTRICTED_CONTAINER}]}}
    kube.run("run", name, f"--image={state['ms_image']}", "--restart=Never",
             f"--overrides={json.dumps(overrides)}")
    return pod_result(kube, name, "probe")


def test_6_the_platform_is_locked_down(kube: Kube, cfg: Config, state: dict):
    with LOG.step("6. locked down: credentials, network policy, job variables, the trainer's patches"):
        r, ns = cfg.release, cfg.namespace
        svc = lambda name, port: f"{r}-{name}.{ns}.svc.cluster.local:{port}"  # noqa: E731
        mlflow_api = f"http://{svc('mlflow', 5000)}/api/2.0/mlflow/experiments/search?max_results=1"
        prefect_api = f"http://{svc('prefect-server', 4200)}/api/flows/filter"
        secret_env = [
            {"name": "MLFLOW_CRED", "valueFrom": {"secretKeyRef": {"name": f"{r}-mlflow-auth",
                                                                   "key": "trainer-password"}}},
            {"name": "PREFECT_CRED", "valueFrom": {"secretKeyRef": {"name": f"{r}-prefect-auth",
                                                                    "key": "auth-string"}}}]
        # 1. Without credentials both control planes answer 401, from inside the cluster (a pod
        #    the network lets through: labelled as a flow run); with them, 200.
        ready = {"flow-run": f"await={svc('mlflow', 5000)}", "mlflow": f"await={svc('postgresql', 5432)}"}
        # neither may reach the model server, which takes anyone: refused once their egress is set
        settled = f"settled={svc('model-server', 5001)}"
        anonymous = probe(kube, state, "flow-run", ready["flow-run"], f"http=GET:{mlflow_api}",
                          f"http=POST:{prefect_api}")
        LOG.say(f"as a flow-run pod, no credentials: {anonymous}")
        assert list(anonymous.values()) == [401, 401], anonymous
        authed = probe(kube, state, "flow-run", ready["flow-run"],
                       f"http=GET:{mlflow_api}:trainer/MLFLOW_CRED",
                       f"http=POST:{prefect_api}:PREFECT_CRED", env=secret_env)
        LOG.say(f"as a flow-run pod, with credentials: {authed}")
        assert list(authed.values()) == [200, 200], authed
        # 2. The network: a pod without the release's labels reaches only the model server.
        stores = [f"tcp={svc('postgresql', 5432)}", f"tcp={svc('objectstore', 9000)}",
                  f"tcp={svc('mlflow', 5000)}", f"tcp={svc('prefect-server', 4200)}",
                  f"tcp={svc('model-server', 5001)}"]
        stranger = probe(kube, state, None, *stores)
        LOG.say(f"from an unlabelled pod: {stranger}")
        assert list(stranger.values()) == ["blocked"] * 4 + ["open"], stranger
        as_trainer = probe(kube, state, "flow-run", ready["flow-run"], settled, *stores)
        LOG.say(f"from a flow-run pod: {as_trainer}")
        assert list(as_trainer.values()) == ["blocked", "open", "open", "open", "blocked"], as_trainer
        as_mlflow = probe(kube, state, "mlflow", ready["mlflow"], settled, *stores)
        LOG.say(f"from an MLflow pod: {as_mlflow}")
        assert list(as_mlflow.values()) == ["open", "open", "blocked", "blocked", "blocked"], as_mlflow
        state.setdefault("figures", {})["network"] = {"unlabelled": stranger, "trainer": as_trainer,
                                                     "mlflow": as_mlflow}
        # 3. The namespace enforces `restricted`: a privileged pod is refused.
        privileged = {"spec": {"containers": [{"name": "x", "image": state["ms_image"],
                                               "securityContext": {"privileged": True}}]}}
        res = kube.run("run", "e2e-privileged", f"--image={state['ms_image']}", "--restart=Never",
                       f"--overrides={json.dumps(privileged)}", "--dry-run=server", check=False)
        LOG.say(f"a privileged pod: {(res.stderr or res.stdout).strip()[:200]}")
        assert res.returncode != 0 and "PodSecurity" in res.stderr + res.stdout
        # 4. The trainer may patch the model server only the way a rollout does.
        trainer = f"system:serviceaccount:{ns}:{r}-trainer"
        deployment = state["ms_deployment"]

        def as_trainer_patch(patch: dict) -> subprocess.CompletedProcess:
            return kube.run("patch", "deployment", deployment, f"--as={trainer}", "--type=strategic",
                            "-p", json.dumps(patch), "--dry-run=server", check=False)

        container = lambda **fields: {"spec": {"template": {"spec": {"containers": [  # noqa: E731
            {"name": "model-server", **fields}]}}}}
        refused = {
            "another image": container(image="busybox:latest"),
            "another command": container(command=["sh", "-c", "cat /var/run/secrets/*"]),
            "a Secret mounted": {"spec": {"template": {"spec": {"volumes": [
                {"name": "loot", "secret": {"secretName": f"{r}-postgresql"}}]}}}},
            "another service account": {"spec": {"template": {"spec": {
                "serviceAccountName": f"{r}-prefect-worker"}}}},
            "more replicas": {"spec": {"replicas": 5}},
            "an env var": container(env=[{"name": "PYTHONPATH", "value": "/tmp"}]),
            "a model from a run": container(env=[{"name": "SERVED_MODEL_URI", "value": "runs:/x/model"}]),
        }
        for what, patch in refused.items():
            res = as_trainer_patch(patch)
            LOG.say(f"trainer patches {what}: exit {res.returncode} {res.stderr.strip()[-160:]}")
            assert res.returncode != 0 and "denied" in res.stderr, (what, res.stderr)
        version = state["prod_version"]
        uri = f"models:/{cfg.model_name}/{version}"
        allowed = container(env=[{"name": "SERVED_MODEL_URI", "value": uri}])
        allowed["spec"]["template"]["metadata"] = {"annotations": {ROLLOUT_ANNOTATION: version}}
        res = as_trainer_patch(allowed)
        LOG.say(f"trainer patches SERVED_MODEL_URI: exit {res.returncode} {res.stdout.strip()[:120]}")
        assert res.returncode == 0, res.stderr
        # 5. A flow run that asks for another image or service account: refused, or ignored.
        args = [venv_bin("prefect"), "--no-prompt", "deployment", "run", cfg.deployment,
                "--param", "search=seed", "--job-variable", "image=busybox:latest",
                "--job-variable", f"service_account_name={r}-prefect-worker"]
        res = subprocess.run(args, capture_output=True, text=True, env=prefect_env(state), timeout=120)
        if res.returncode != 0:
            LOG.say(f"a flow run asking for another image/service account is refused: "
                    f"{(res.stdout + res.stderr).strip()[-300:]}")
            state.setdefault("figures", {})["job_variables"] = "refused"
        else:
            run_id = FLOW_RUN_ID.search(res.stdout).group(0)
            job = flow_run_job(kube, run_id)
            pod = job["spec"]["template"]["spec"]
            LOG.say(f"a flow run asking for busybox and the worker's account got image "
                    f"{pod['containers'][0]['image']}, service account {pod['serviceAccountName']}: ignored")
            # Waited for: a seed run left going would register a version during step 7.
            fr = cancel_and_wait(state, run_id, "the flow run asking for busybox")
            LOG.say(f"the flow run asking for busybox ended {fr.state.type.value}")
            assert pod["containers"][0]["image"] == cfg.trainer_image
            assert pod["serviceAccountName"] == f"{r}-trainer"
            assert fr.state.is_cancelled(), f"the flow run ended {fr.state.type.value}"
            state.setdefault("figures", {})["job_variables"] = "ignored"


def test_7_better_challenger_is_promoted_under_load(kube: Kube, cfg: Config, state: dict):
    with LOG.step("7. a better challenger is promoted while requests keep coming: none fails"):
        with LoadGenerator(kube, state) as load:
            run = run_flow(kube, cfg, state, {"search": "quick"}, "run 2")
            state["run2"] = run
            done = time.time()
        rows = load.rows
        client = mlflow_client(state)
        prod = client.get_model_version_by_alias(cfg.model_name, "production")
        new = str(prod.version)
        assert new != state["prod_version"], "the quick profile's winner did not beat the seed recipe"
        assert served_version(kube, state) == new
        tags = client.get_model_version(cfg.model_name, new).tags
        assert tags["rollout"] == "succeeded" and tags["previous_production"] == state["prod_version"]
        load_summary = summarize(rows, done)
        LOG.say(f"promotion under load: {load_summary['sent']} requests "
                f"({load_summary['per_second']:.0f}/s), {load_summary['failed']} failed; answers by "
                f"version {load_summary['versions']}; rollout: {tags['rollout_reason']}")
        state.setdefault("figures", {})["promotion"] = load_summary | {"rollout": tags["rollout_reason"]}
        assert load_summary["failed"] == 0, f"failed requests: {load_summary['failures']}"
        assert load_summary["n_after"] > 0 and load_summary["after"] == {new}, load_summary
        state["prod_version"], state["v1"], state["v2"] = new, state["prod_version"], new


def test_8_worse_challenger_keeps_production(kube: Kube, cfg: Config, state: dict):
    with LOG.step("8. a worse challenger does not move production, nor roll the server"):
        client = mlflow_client(state)
        before = {v.version for v in client.search_model_versions(f"name='{cfg.model_name}'")}
        ms_before = kube.json("get", "deployment", state["ms_deployment"])["metadata"]["generation"]
        # "seed" is the deliberately weaker recipe on its own (see flipkart_sentiment.core.profiles).
        run = run_flow(kube, cfg, state, {"search": "seed"}, "run 3")
        state["run3"] = run
        prod = client.get_model_version_by_alias(cfg.model_name, "production")
        after = {v.version for v in client.search_model_versions(f"name='{cfg.model_name}'")}
        LOG.say(f"versions before {sorted(before)} after {sorted(after)}; production v{prod.version}")
        assert str(prod.version) == state["prod_version"], "production moved to a worse model"
        assert served_version(kube, state) == state["prod_version"]
        ms_after = kube.json("get", "deployment", state["ms_deployment"])["metadata"]["generation"]
        assert ms_after == ms_before, "the model server was rolled although production did not move"
        assert request_in_cluster(kube, state, {"inputs": REVIEWS[:1]})["version"] == state["prod_version"]


def test_9_rollback_and_rollout_undo_bring_the_previous_version_back(
        kube: Kube, cfg: Config, state: dict):
    with LOG.step("9. flipkart-sentiment rollback and kubectl rollout undo bring v1 back"):
        client, v1, v2 = mlflow_client(state), state["v1"], state["v2"]

        def answered_by() -> str:
            answer = request_in_cluster(kube, state, {"inputs": REVIEWS[:1]})
            assert answer["status"] == 200, answer
            return answer["version"]

        res = cli(state, cfg, "rollback")
        assert res.returncode == 0, res.stderr
        assert client.get_model_version_by_alias(cfg.model_name, "production").version == v1
        assert served_version(kube, state) == v1 and answered_by() == v1
        LOG.say(f"after `flipkart-sentiment rollback`: production v{v1}, answers from v{v1}")

        res = cli(state, cfg, "promote", "--version", v2)
        assert res.returncode == 0, res.stderr
        assert served_version(kube, state) == v2 and answered_by() == v2

        # The emergency brake for serving alone: the previous ReplicaSet is the previous version.
        kube.run("rollout", "undo", f"deployment/{state['ms_deployment']}")
        wait_model_server_ready(kube, state)
        assert served_version(kube, state) == v1 and answered_by() == v1
        LOG.say(f"after `kubectl rollout undo`: the Deployment serves v{v1} and answers say so "
                f"(production still names v{v2}: undo is for serving only)")
        res = cli(state, cfg, "promote", "--version", v2)  # back to a consistent state
        assert res.returncode == 0, res.stderr
        assert served_version(kube, state) == v2 and answered_by() == v2


def test_10_a_version_that_cannot_load_is_reverted(kube: Kube, cfg: Config, state: dict):
    with LOG.step("10. a version that cannot load is promoted: reverted, and nothing stops answering"):
        import mlflow
        from sentiment_testkit.models import register_broken

        client, good = mlflow_client(state), state["v2"]
        mlflow.set_tracking_uri(state["mlflow_pf"].url)
        broken = register_broken(cfg.model_name)
        LOG.say(f"registered v{broken}: its pipeline artifact is not a pipeline")
        with LoadGenerator(kube, state) as load:
            started = time.time()
            run = run_flow(kube, cfg, state, {"version": broken}, "promote broken",
                           deployment=PROMOTE_DEPLOYMENT, expect_failure=True)
            done = time.time()
        rows = load.rows
        message = run["flow_run"].state.message or ""
        LOG.say(f"flow run {run['id']} {run['flow_run'].state.type.value} after "
                f"{done - started:.0f}s: {message}")
        assert run["flow_run"].state.is_failed(), "promoting a broken version must fail the run"
        assert f"version {broken} was not rolled out" in message, message
        assert "CrashLoopBackOff" in message or "last error" in message, "the cause is named"
        assert "cannot be unpickled" in message, "the cause is the model's, not a wrapper's"
        assert f"production is back on version {good}" in message, message
        assert client.get_model_version_by_alias(cfg.model_name, "production").version == good
        assert served_version(kube, state) == good
        tags = client.get_model_version(cfg.model_name, broken).tags
        assert tags["rollout"] == "failed" and tags["rollout_reason"], tags
        load_summary = summarize(rows, done)
        LOG.say(f"failed rollout under load: {load_summary['sent']} requests, "
                f"{load_summary['failed']} failed; answers by version {load_summary['versions']}")
        state.setdefault("figures", {})["revert"] = load_summary | {"message": message[-200:]}
        assert load_summary["failed"] == 0, f"failed requests: {load_summary['failures']}"
        assert set(load_summary["versions"]) == {good}, load_summary


def test_11_a_rotated_password_takes_effect_at_the_next_restart(kube: Kube, cfg: Config, state: dict):
    with LOG.step("11. rotate the model server's MLflow password: new one works, old one is refused"):
        import secrets as random

        import httpx

        r = cfg.release
        old, new = state["creds"]["model-server"], random.token_urlsafe(24)
        patch = {"data": {"model-server-password": base64.b64encode(new.encode()).decode()}}
        kube.run("patch", "secret", f"{r}-mlflow-auth", "-p", json.dumps(patch))
        started = time.monotonic()
        # MLflow's sync-users sets the new password on start; the model server reads it on start.
        for deployment in (f"{r}-mlflow", state["ms_deployment"]):
            kube.run("rollout", "restart", f"deployment/{deployment}")
            kube.run("rollout", "status", f"deployment/{deployment}", "--timeout=600s", timeout=630)
        wait_model_server_ready(kube, state)
        LOG.say(f"rotated and restarted in {time.monotonic() - started:.0f}s")
        state["mlflow_pf"].start()  # the forward went to the replaced MLflow pod
        url = state["mlflow_pf"].url + "/api/2.0/mlflow/registered-models/get"
        query = {"name": cfg.model_name}
        answers = {label: wait_until(f"MLflow answering ({label})", lambda pw=pw: httpx.get(
            url, params=query, auth=("model-server", pw), timeout=30).status_code, 120, 2)
                   for label, pw in (("old password", old), ("new password", new))}
        LOG.say(f"MLflow as model-server: {answers}")
        assert answers == {"old password": 401, "new password": 200}
        # The restarted model-server pods downloaded their model with the new password.
        answer = request_in_cluster(kube, state, {"inputs": REVIEWS[:1]})
        assert answer["status"] == 200 and answer["version"] == state["prod_version"], answer
        state["creds"]["model-server"] = new


def test_11b_an_upgrade_kubernetes_cannot_apply_is_refused_before_anything_changes(
        kube: Kube, cfg: Config, state: dict):
    with LOG.step("11b. helm upgrade with a new PostgreSQL volume size: refused, release untouched"):
        def last_revision() -> dict:
            history = json.loads(kube.helm_run("history", cfg.release, "-n", cfg.namespace,
                                               "-o", "json").stdout)
            return history[-1]

        before = last_revision()
        sts = kube.json("get", "statefulset", f"{cfg.release}-postgresql")
        size = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        res = kube.helm_run("upgrade", cfg.release, str(cfg.chart), "-n", cfg.namespace,
                            "--reuse-values", "--set", "postgresql.persistence.size=7Gi",
                            check=False, timeout=300)
        LOG.say(f"helm upgrade -> exit {res.returncode}: {res.stderr.strip()[-400:]}")
        assert res.returncode != 0, "an immutable change must not be applied"
        assert f"postgresql.persistence.size cannot change from {size} to 7Gi" in res.stderr, res.stderr
        assert "kubectl patch pvc" in res.stderr  # and says what to do instead
        after = last_revision()
        assert (after["revision"], after["status"]) == (before["revision"], "deployed"), after


def test_11c_a_lost_database_comes_back_from_the_last_backup(kube: Kube, cfg: Config, state: dict):
    with LOG.step("11c. make k8s-backup; a restore while a flow run runs is refused; PostgreSQL's "
                  "volume and pod deleted; make k8s-restore: the same runs, versions, aliases, "
                  "deployments; the same version served"):
        before = inventory_when_answering(cfg, state, 120)
        backup_s, out = backup_script(kube, cfg, "backup")
        LOG.say(f"backup in {backup_s:.0f}s:\n" + "\n".join(
            line for line in out.splitlines() if "[store]" in line or "[db]" in line))
        newest = max(backups(kube, cfg).items())
        LOG.say(f"newest backup {newest[0]}: {json.dumps(newest[1])[:400]}")

        # A restore while a flow run's Job runs is refused before it stops anything: the run
        # would write into the restored databases what the backup does not have.
        r, claim = cfg.release, f"data-{cfg.release}-postgresql-0"
        args = [venv_bin("prefect"), "--no-prompt", "deployment", "run", cfg.deployment,
                "--param", "search=seed"]
        res = subprocess.run(args, capture_output=True, text=True, env=prefect_env(state), timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        run_id = FLOW_RUN_ID.search(res.stdout).group(0)
        job = flow_run_job(kube, run_id)["metadata"]["name"]
        _, out = backup_script(kube, cfg, "restore", expect=2)
        LOG.say(f"restore while job/{job} runs: exit 2: " + " | ".join(
            line.strip() for line in out.splitlines() if line.startswith(("refused", "  job/"))))
        assert f"job/{job}  {run_id}" in out, out
        assert kube.json("get", "deployment", f"{r}-mlflow")["spec"]["replicas"] >= 1
        fr = cancel_and_wait(state, run_id, "the run that held the restore back")
        assert fr.state.is_cancelled(), fr.state.type.value

        def its_job_ended() -> bool:
            jobs = kube.json("get", "jobs", "-l", f"prefect.io/flow-run-id={run_id}")["items"]
            return all(any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
                           for c in j.get("status", {}).get("conditions", [])) for j in jobs)

        wait_until(f"job/{job} deleted or ended", its_job_ended, 120, 3)

        lost = kube.json("get", "pvc", claim)["metadata"]["uid"]
        kube.run("delete", "pvc", claim, "--wait=false")
        kube.run("delete", "pod", f"{r}-postgresql-0", "--wait=true", timeout=300)
        kube.run("rollout", "status", f"statefulset/{r}-postgresql", "--timeout=600s", timeout=630)
        pvc = kube.json("get", "pvc", claim)
        LOG.say(f"PostgreSQL back on a new, empty volume {pvc['spec'].get('volumeName')}")
        assert pvc["metadata"]["uid"] != lost

        restore_s, out = backup_script(kube, cfg, "restore")
        LOG.say(f"restore (servers stopped, restored, started, model server restarted) in "
                f"{restore_s:.0f}s:\n" + "\n".join(
                    line for line in out.splitlines() if "[store]" in line or "[db]" in line
                    or line.startswith("restored")))
        after = inventory_when_answering(cfg, state, 600)
        LOG.say(f"after the restore: {describe_inventory(after)}")
        assert_kept(before, after)
        wait_model_server_ready(kube, state)
        answer = request_in_cluster(kube, state, {"inputs": REVIEWS[:1]})
        assert answer["status"] == 200 and answer["version"] == state["prod_version"], answer
        state.setdefault("figures", {}).update(
            backup_s=round(backup_s), restore_s=round(restore_s),
            dump_bytes=sum(int(v["bytes"]) for v in newest[1]["databases"].values()),
            artifact_objects=newest[1]["artifacts"]["objects"])


def shard_runs(state: dict, parent_id: str) -> list:
    """The flow runs the parent started with run_deployment (its subflows), oldest first."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with prefect_client(state) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[uuid.UUID(parent_id)])))
    return sorted(runs, key=lambda r: r.start_time or r.created)


def test_11d_batch_scoring_runs_one_job_per_shard(kube: Kube, cfg: Config, state: dict):
    shards = ", ".join(map(str, cfg.scale_shards))
    with LOG.step(f"11d. score-reviews on x{cfg.scale} grown data with {shards} shard(s), each "
                  "shard a flow-run Job: every row scored by production, the same labels"):
        import statistics

        import pyarrow.parquet as pq

        data = RUN_DIR / "e2e" / f"reviews_x{cfg.scale}.parquet"
        if not data.exists():
            subprocess.run([sys.executable, str(ROOT / "bench" / "grow_data.py"), "--scale",
                            str(cfg.scale), "--out", str(data)], check=True, timeout=1800)
        rows = pq.ParquetFile(data).metadata.num_rows
        prefix = "batch/e2e"
        with root_s3(kube, cfg) as s3:
            s3.upload_file(str(data), MONITORING_BUCKET, f"{prefix}/{data.name}")
        input_uri = f"s3://{MONITORING_BUCKET}/{prefix}/{data.name}"
        LOG.say(f"{rows:,} reviews uploaded to {input_uri}")

        measured: dict[int, list[dict]] = {}
        labels: dict[int, list[str]] = {}
        for n in cfg.scale_shards:
            for repeat in range(cfg.scale_repeats):
                out_key = f"{prefix}/{data.stem}.scored-{n}.parquet"
                run = run_flow(kube, cfg, state, {
                    "input_uri": input_uri, "executor": "deployments", "shards": str(n),
                    "output_uri": f"s3://{MONITORING_BUCKET}/{out_key}"},
                    f"score, {n} shard(s), run {repeat + 1}", deployment=SCORE_DEPLOYMENT)
                parent = run["flow_run"]
                children = shard_runs(state, run["id"])
                done = [c for c in children if c.state and c.state.is_completed()]
                LOG.say(f"{len(children)} shard run(s): " + ", ".join(
                    f"{c.name} {c.state.type.value if c.state else '?'} "
                    f"{(c.total_run_time.total_seconds() if c.total_run_time else 0):.0f}s"
                    for c in children))
                assert len(done) == n, f"{n} shards wanted, {len(done)} completed: {children}"
                for child in done:
                    jobs = kube.json("get", "jobs", "-l", f"prefect.io/flow-run-id={child.id}")["items"]
                    assert len(jobs) == 1, f"shard run {child.id} ran as {len(jobs)} Job(s)"
                wall = (parent.end_time - parent.start_time).total_seconds()
                phase = (max(c.end_time for c in done) - min(c.start_time for c in done)).total_seconds()
                measured.setdefault(n, []).append({"wall_s": wall, "shards_s": phase})
                LOG.say(f"{n} shard(s): {wall:.0f}s end to end ({rows / wall:,.0f} reviews/s), "
                        f"shard Jobs from first start to last end {phase:.0f}s "
                        f"({rows / phase:,.0f} reviews/s)")
            local = RUN_DIR / "e2e" / f"{data.stem}.scored-{n}.parquet"
            with root_s3(kube, cfg) as s3:
                s3.download_file(MONITORING_BUCKET, out_key, str(local))
            table = pq.read_table(local, columns=["predicted_label", "model_version"])
            assert table.num_rows == rows, f"{n} shard(s): {table.num_rows} rows written of {rows}"
            versions = set(table.column("model_version").to_pylist())
            assert versions == {state["prod_version"]}, versions
            labels[n] = table.column("predicted_label").to_pylist()
        base = cfg.scale_shards[0]
        for n in cfg.scale_shards[1:]:
            differ = sum(a != b for a, b in zip(labels[base], labels[n], strict=True))
            assert differ == 0, f"{differ} labels differ between {base} and {n} shard(s)"
        figures = {}
        first = statistics.median(r["wall_s"] for r in measured[base])
        for n, runs in measured.items():
            wall = statistics.median(r["wall_s"] for r in runs)
            phase = statistics.median(r["shards_s"] for r in runs)
            # throughput against the first shard count's, on the same data in the same run
            figures[n] = {"wall_s": round(wall), "shard_jobs_s": round(phase),
                          "reviews_per_s": round(rows / wall), "x_of_first": round(first / wall, 2)}
        LOG.say(f"batch scoring, {rows:,} reviews, median of {cfg.scale_repeats}: "
                + json.dumps(figures))
        state.setdefault("figures", {})["batch_scoring"] = {"rows": rows, **figures}


def test_12_an_install_with_helm_template_and_kubectl_apply_works(kube: Kube, cfg: Config, state: dict):
    with LOG.step("12. GitOps-style install: helm template | kubectl apply, no secret values"):
        ns = f"{cfg.namespace}-gitops"
        kube.run("create", "namespace", ns, namespaced=False)
        kube.run("label", "namespace", ns, *RESTRICTED_LABELS, namespaced=False)
        # kind's values: small requests, so a second platform fits beside the first one.
        args = ["template", "gitops", str(cfg.chart), "-n", ns, "--set", "model-server.replicas=1",
                "-f", str(cfg.chart / "values-kind.yaml")]
        for v in cfg.values:
            args += ["-f", v]
        rendered = kube.helm_run(*args).stdout
        again = kube.helm_run(*args).stdout
        assert rendered == again, "two renders differ: something is generated at render time"
        manifest = RUN_DIR / "e2e" / "gitops.yaml"
        manifest.write_text(rendered)
        started = time.monotonic()
        kube.run("apply", "-n", ns, "-f", str(manifest), namespaced=False, timeout=300)

        def ready() -> bool:  # the servers Ready (Job pods may fail and retry meanwhile)
            pods = kube.json("get", "pods", "-n", ns, namespaced=False)["items"]
            serving = [p for p in pods if not any(o["kind"] == "Job" for o in
                                                  p["metadata"].get("ownerReferences", []))]
            return bool(serving) and all(
                p["status"].get("phase") == "Running"
                and all(c.get("ready") for c in p["status"].get("containerStatuses", []))
                for p in serving)

        try:
            wait_until("every pod of the kubectl-applied platform Ready", ready, 600, 3)
            secrets = {s["metadata"]["name"] for s in kube.json("get", "secrets", "-n", ns,
                                                                namespaced=False)["items"]}
            LOG.say(f"applied without Helm, Ready in {time.monotonic() - started:.0f}s; generated "
                    f"Secrets {sorted(secrets)}")
            assert {"gitops-postgresql", "gitops-objectstore", "gitops-mlflow-auth",
                    "gitops-prefect-auth"} <= secrets
            # Applying the same manifests again changes nothing (no new passwords).
            before = kube.json("get", "secret", "gitops-mlflow-auth", "-n", ns, namespaced=False)["data"]
            kube.run("apply", "-n", ns, "-f", str(manifest), namespaced=False, timeout=300)
            after = kube.json("get", "secret", "gitops-mlflow-auth", "-n", ns, namespaced=False)["data"]
            assert before == after
            state.setdefault("figures", {})["gitops_ready_s"] = round(time.monotonic() - started)
        finally:
            kube.run("delete", "-n", ns, "-f", str(manifest), "--wait=false", namespaced=False,
                     check=False, timeout=300)
            kube.run("delete", "namespace", ns, "--wait=true", "--timeout=300s", namespaced=False,
                     check=False, timeout=330)


@pytest.mark.always
def test_13_helm_uninstall_leaves_nothing_running(kube: Kube, cfg: Config, state: dict):
    LOG.say(f"figures: {json.dumps(state.get('figures', {}), default=str)}")
    for key in ("prefect_pf", "mlflow_pf"):
        if state.get(key):
            state[key].stop()
    if cfg.keep:
        pytest.skip("E2E_KEEP set: platform left installed")
    with LOG.step("13. helm uninstall leaves nothing running"):
        kube.helm_run(
            "uninstall",
            cfg.release,
            "-n",
            cfg.namespace,
            "--wait",
            "--timeout",
            "300s",
            check=False,
        )

        def nothing_running():
            pods = [p for p in kube.pods() if p["status"].get("phase") in ("Running", "Pending")]
            return not pods

        try:
            wait_until("no pod Running/Pending", nothing_running, 300)
        except AssertionError:
            left = [p["metadata"]["name"] for p in kube.pods()]
            raise AssertionError(f"still running after helm uninstall: {left}") from None
        left = kube.run(
            "get", "deployments,statefulsets,services,jobs,cronjobs", "-o", "name", check=False
        ).stdout.split()
        LOG.say(f"left in {cfg.namespace} after uninstall: {left or 'nothing'}")
        assert not [r for r in left if not r.startswith("job.batch/")], left
        # Flow-run Jobs belong to Prefect, not Helm; they are finished (ttl cleans them up).
        # Delete the namespace so the PVCs (kept by Helm) and their volumes go too.
        kube.run(
            "delete",
            "namespace",
            cfg.namespace,
            "--wait=true",
            "--timeout=300s",
            namespaced=False,
            check=False,
            timeout=330,
        )
