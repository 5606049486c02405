"""What the rendered chart must contain: non-root pods, probes, resources, no secret values
inline, the exact RBAC rules, the worker's pool and base job template, the model URI."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys

import pytest
import yaml
from sentiment_testkit.charts import (
    CHART,
    NAMESPACE,
    ROOT,
    docs,
    env_of,
    find,
    pod_spec,
    render,
    workloads,
)
from sentiment_testkit.servers import free_port

pytestmark = pytest.mark.charts

R = "sentiment"  # release name used by the fixtures
PLATFORM_IMAGES = {
    "sentiment-mlflow:0.1.0",
    "sentiment-prefect:0.1.0",
    "sentiment-model-server:0.1.0",
}
SECRETISH = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN|API_KEY|AUTH_STRING", re.I)


def containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def script(manifests: list[dict], configmap: str, key: str) -> str:
    return find(manifests, "ConfigMap", f"{R}-{configmap}")["data"][key]


# --- pods: non-root, hardened, resources, probes -----------------------------------------------


def test_every_pod_runs_as_non_root(manifests):
    # 5 Deployments, 1 StatefulSet, 3 hook Jobs, and Prometheus where it is on (kind values); the
    # backup CronJobs' pods: tests/charts/test_backup.py
    prometheus = [w for w in workloads(manifests) if w["metadata"]["name"] == f"{R}-prometheus"]
    assert len(workloads(manifests)) == 9 + len(prometheus)
    for w in workloads(manifests):
        spec = pod_spec(w)
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, w["metadata"]["name"]
        assert psc["runAsUser"] > 0 and psc["runAsGroup"] > 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        for c in containers(w):
            sc = c["securityContext"]
            assert sc.get("runAsUser", psc["runAsUser"]) != 0
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert "privileged" not in sc


def test_our_images_run_as_uid_10001(manifests):
    for w in workloads(manifests):
        images = {c["image"] for c in containers(w)}
        if images & (PLATFORM_IMAGES | {"sentiment-trainer:0.1.0"}):
            assert pod_spec(w)["securityContext"]["runAsUser"] == 10001


def test_every_container_has_requests_and_limits(manifests):
    for w in workloads(manifests):
        for c in containers(w):
            res = c["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res[kind]), f"{w['metadata']['name']}/{c['name']}"


def test_images_and_pull_policy(manifests):
    seen = set()
    for w in workloads(manifests):
        for c in containers(w):
            assert c["imagePullPolicy"] == "IfNotPresent", c["name"]
            seen.add(c["image"])
    assert PLATFORM_IMAGES <= seen
    assert "postgres:16-bookworm" in seen
    assert any(i.startswith("minio/minio:RELEASE.") for i in seen)


def test_long_running_containers_have_probes(manifests):
    for w in workloads(manifests):
        if w["kind"] == "Job":
            continue
        for c in pod_spec(w)["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{w['metadata']['name']}/{c['name']} has no {probe}"


def _http(c: dict, probe: str) -> tuple[str, str | int]:
    get = c[probe]["httpGet"]
    return get["path"], get["port"]


def test_probe_endpoints(manifests):
    mlflow = pod_spec(find(manifests, "Deployment", f"{R}-mlflow"))["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert _http(mlflow, probe) == ("/health", "http")
    server = pod_spec(find(manifests, "Deployment", f"{R}-model-server"))["containers"][0]
    assert _http(server, "readinessProbe") == ("/ping", "http")
    assert _http(server, "livenessProbe") == ("/health", "http")
    prefect = pod_spec(find(manifests, "Deployment", f"{R}-prefect-server"))["containers"][0]
    assert _http(prefect, "livenessProbe")[0] == "/api/health"
    assert _http(prefect, "readinessProbe")[0] == "/api/ready"
    worker = pod_spec(find(manifests, "Deployment", f"{R}-prefect-worker"))["containers"][0]
    assert _http(worker, "livenessProbe") == ("/health", "health")
    pg = pod_spec(find(manifests, "StatefulSet", f"{R}-postgresql"))["containers"][0]
    assert "pg_isready" in " ".join(pg["readinessProbe"]["exec"]["command"])


# --- secrets -----------------------------------------------------------------------------------


GENERATED = {f"{R}-postgresql", f"{R}-objectstore", f"{R}-mlflow-auth", f"{R}-prefect-auth"}


def generated_secrets(manifests: list[dict]) -> list[dict]:
    cm = find(manifests, "ConfigMap", f"{R}-generate-secrets")
    return json.loads(cm["data"]["secrets.json"])


def test_no_secret_values_inline(manifests):
    """Secret-looking env vars come from secretKeyRef to a Secret the Job generates (or an
    existingSecret); no literal credentials anywhere, and the chart renders no Secret at all."""
    assert not [m for m in manifests if m["kind"] == "Secret"], "Secrets are generated in-cluster"
    secrets = {s["name"] for s in generated_secrets(manifests)}
    for w in workloads(manifests):
        for c in containers(w):
            for e in c.get("env", []):
                # (..._SECRET_NAME / _SECRET_KEY name where a secret is, they hold none)
                if SECRETISH.search(e["name"]) and not e["name"].endswith(("_SECRET_NAME", "_SECRET_KEY")):
                    assert "value" not in e, f"{c['name']}: {e['name']} is inline"
                    ref = e["valueFrom"]["secretKeyRef"]
                    assert ref["name"] in secrets, f"{e['name']} -> unknown Secret {ref['name']}"
                if "value" in e:
                    assert not re.search(r"://[^/@\s]+:[^/@\s]+@", e["value"]), e  # user:pass@
            for arg in c.get("args", []) + c.get("command", []):
                assert not re.search(r"://[^/@\s]+:[^/@\s]+@", arg), arg
    for m in manifests:
        if m["kind"] == "ConfigMap":
            for key, text in m["data"].items():
                # a literal after `password=`/`secret:`; a variable of that name is fine
                assert not re.search(
                    r"(password|secret)[\"']?\s*[:=]\s*[\"']?(?!password\b)\w{8,}", text, re.I
                ), key


def test_secrets_are_generated_in_the_cluster_and_renders_are_stable(helm, manifests):
    """No `lookup`, no random value in a template: two renders are identical, and the Job that
    runs before install/upgrade creates what is missing, key by key."""
    wanted = {s["name"]: set(s["keys"]) for s in generated_secrets(manifests)}
    assert wanted == {
        f"{R}-postgresql": {"postgres-password", "mlflow-password", "prefect-password"},
        f"{R}-objectstore": {"root-user", "root-password", "mlflow-access-key", "mlflow-secret-key",
                             *MONITORING_KEYS},
        f"{R}-mlflow-auth": {"admin-password", "trainer-password", "model-server-password",
                             "flask-secret-key"},
        f"{R}-prefect-auth": {"auth-string"},
    }
    job = find(manifests, "Job", f"{R}-generate-secrets")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert pod_spec(job)["serviceAccountName"] == f"{R}-generate-secrets"
    role = find(manifests, "Role", f"{R}-generate-secrets")
    rules = {(tuple(r["resources"]), tuple(r["verbs"]), tuple(sorted(r.get("resourceNames", []))))
             for r in role["rules"]}
    assert rules == {(("secrets",), ("create",), ()),
                     (("secrets",), ("get", "patch"), tuple(sorted(GENERATED)))}
    assert render(helm) == render(helm), "a render must not differ from the next"
    for path in CHART.rglob("templates/*"):
        if path.is_file():
            # The one `lookup` allowed: the upgrade guards (`*.checkImmutable`, each the last
            # template of its file), which only fail a render and never put what they find in one.
            text = re.sub(r'\{\{-? define "[\w-]+\.checkImmutable".*\Z', "", path.read_text(),
                          flags=re.S)
            assert "lookup \"" not in text and "randAlphaNum" not in text, path


def test_values_files_hold_no_secrets():
    """Keys that name a credential hold nothing (names of Secret keys, `...Key`, are fine)."""
    pattern = re.compile(r"^\s*(\w*(password|secret|token|credential)\w*)\s*:\s*([^\s#]+)",
                         re.I | re.M)
    for path in CHART.rglob("values*.yaml"):
        for m in pattern.finditer(path.read_text()):
            if m.group(1).endswith("Key"):
                continue
            assert m.group(3) in ('""', "''", "null", "{}", "[]"), f"{path}: {m.group(0)}"


def test_existing_secrets_replace_the_generated_ones(helm):
    sets = ["global.postgresql.auth.existingSecret=pg-creds",
            "global.objectstore.auth.existingSecret=s3-creds",
            "global.mlflow.auth.existingSecret=mlflow-creds",
            "global.prefect.auth.existingSecret=prefect-creds"]
    out = docs(render(helm, *[a for s in sets for a in ("--set", s)]))
    assert not [m for m in out if m["kind"] == "Secret"]
    assert not [m for m in out if m["kind"] == "Job" and m["metadata"]["name"].endswith(
        "generate-secrets")], "nothing left to generate: no Job"
    refs = set()
    for w in workloads(out):
        for c in containers(w):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add(ref["name"])
    template = json.loads(find(out, "ConfigMap", f"{R}-prefect-worker-base-job-template")["data"][
        "base-job-template.json"])
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    for e in pod["containers"][0]["env"]:
        if "secretKeyRef" in e.get("valueFrom", {}):
            refs.add(e["valueFrom"]["secretKeyRef"]["name"])
    assert refs == {"pg-creds", "s3-creds", "mlflow-creds", "prefect-creds"}
    # with one part's own Secret, the Job still makes the others
    partial = docs(render(helm, "--set", sets[0]))
    assert {s["name"] for s in generated_secrets(partial)} == GENERATED - {f"{R}-postgresql"}


MONITORING_KEYS = {"prediction-writer-access-key", "prediction-writer-secret-key",
                   "monitor-access-key", "monitor-secret-key"}


def _store_keys(c: dict) -> set[str]:
    return {e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env", [])
            if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == f"{R}-objectstore"}


def test_each_client_of_the_store_holds_only_its_own_keys(manifests):
    """Root keys for the store and its bucket Job; MLflow the artifact bucket's; the model server
    the prediction log's write-only keys; flow runs the monitoring bucket's read-only keys."""
    expected = {f"{R}-objectstore": {"root-user", "root-password"},
                f"{R}-objectstore-create-bucket": {"root-user", "root-password"},
                # the pre-upgrade hook's backup step (admin Job, like the backup CronJob)
                f"{R}-pre-upgrade": {"root-user", "root-password"},
                f"{R}-mlflow": {"mlflow-access-key", "mlflow-secret-key"},
                f"{R}-model-server": {"prediction-writer-access-key", "prediction-writer-secret-key"}}
    for w in workloads(manifests):
        name = w["metadata"]["name"]
        keys = set().union(*(_store_keys(c) for c in containers(w)))
        assert keys == expected.get(name, set()), f"{name} reads {keys} of the store's Secret"
        for c in containers(w):
            assert bool(keys) or not any(k.startswith("AWS_") for k in env_of(c)), name
            if name.endswith("model-server"):  # and, from MLflow, the read-only user
                assert {(e["name"], e["valueFrom"]["secretKeyRef"]["key"]) for e in c["env"]
                        if "secretKeyRef" in e.get("valueFrom", {})} >= {
                    ("MLFLOW_TRACKING_PASSWORD", "model-server-password")}
            if name.endswith("prefect-worker"):  # its one credential: the Prefect auth string
                refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", [])
                        if "secretKeyRef" in e.get("valueFrom", {})}
                assert refs == {f"{R}-prefect-auth"}, f"{name}/{c['name']} reads Secrets {refs}"
    flow_run = _flow_run_env(manifests)
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in flow_run.values()
            if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == f"{R}-objectstore"} == {
        "monitor-access-key", "monitor-secret-key"}


def test_the_monitoring_loop_reads_what_the_model_server_writes(manifests):
    server = env_of(containers(find(manifests, "Deployment", f"{R}-model-server"))[0])
    flow_run = _flow_run_env(manifests)
    # one variable, one place: the server's log is the monitor's
    assert server["SENTIMENT_PREDICTION_LOG"]["value"] == "s3://sentiment-monitoring/predictions"
    assert flow_run["SENTIMENT_PREDICTION_LOG"] == server["SENTIMENT_PREDICTION_LOG"]
    assert flow_run["SENTIMENT_LABELED_DATA"]["value"] == "s3://sentiment-monitoring/labeled/"
    # batch scoring's fan-out: its work folder, under the one prefix flow runs may write
    assert flow_run["SENTIMENT_SCORING_WORK_URI"]["value"] == "s3://sentiment-monitoring/batch/_scoring"
    for env in (server, flow_run):
        assert env["AWS_ENDPOINT_URL_S3"]["value"] == f"http://{R}-objectstore:9000"
    # the policies behind those keys: the writer may only put objects under predictions/, the
    # flow runs' may list and get, and write and delete only under batch/
    job = find(manifests, "Job", f"{R}-objectstore-create-bucket")
    assert env_of(containers(job)[0])["BUCKETS"]["value"] == "mlflow sentiment-monitoring"
    scripts = find(manifests, "ConfigMap", f"{R}-objectstore-scripts")["data"]
    writer = json.loads(scripts["policy-predictions-write.json"])["Statement"]
    reader = json.loads(scripts["policy-monitoring-read.json"])["Statement"]
    assert {r for st in writer for r in st["Resource"]} == {
        "arn:aws:s3:::sentiment-monitoring/predictions/*"}
    assert not {a for st in writer for a in st["Action"]} - {
        "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
    assert {a for st in reader for a in st["Action"]} == {
        "s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
        "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
    assert all(st["Effect"] == "Allow" for st in reader)
    read_only = {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"}
    writes = {r for st in reader if set(st["Action"]) - read_only for r in st["Resource"]}
    assert writes == {"arn:aws:s3:::sentiment-monitoring/batch/*"}, writes
    # so: no write to the prediction log, the labeled reviews or the bucket itself
    for key in ("predictions/x.jsonl", "labeled/x.csv", "batchx/y", "x"):
        assert not any(fnmatch.fnmatchcase(f"arn:aws:s3:::sentiment-monitoring/{key}", r)
                       for r in writes), key
    assert fnmatch.fnmatchcase("arn:aws:s3:::sentiment-monitoring/batch/_scoring/r/part-00000.parquet",
                               next(iter(writes)))
    users = next(v for v in pod_spec(job)["volumes"] if v["name"] == "users")["projected"]["sources"]
    paths = {i["path"] for src in users for i in next(iter(src.values()))["items"]}
    assert {f"{u}/{f}" for u in ("mlflow-rw", "predictions-write", "monitoring-read")
            for f in ("policy.json", "access-key", "secret-key")} == paths


def test_the_monitoring_loop_can_be_turned_off(helm):
    out = docs(render(helm, "--set", "global.monitoring.enabled=false"))
    server = env_of(containers(find(out, "Deployment", f"{R}-model-server"))[0])
    assert "SENTIMENT_PREDICTION_LOG" not in server and "AWS_ACCESS_KEY_ID" not in server
    assert "SENTIMENT_PREDICTION_LOG" not in _flow_run_env(out)
    assert "SENTIMENT_SCORING_WORK_URI" not in _flow_run_env(out)
    objectstore = next(s for s in generated_secrets(out) if s["name"] == f"{R}-objectstore")
    assert not set(objectstore["keys"]) & MONITORING_KEYS
    job = find(out, "Job", f"{R}-objectstore-create-bucket")
    assert env_of(containers(job)[0])["BUCKETS"]["value"] == "mlflow"


# --- RBAC --------------------------------------------------------------------------------------


def _rules(role: dict) -> list[tuple]:
    return sorted(
        (
            tuple(r["apiGroups"]),
            tuple(r["resources"]),
            tuple(sorted(r["verbs"])),
            tuple(r.get("resourceNames", [])),
        )
        for r in role["rules"]
    )


def test_no_cluster_wide_rbac(manifests):
    kinds = {m["kind"] for m in manifests}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    for m in manifests:
        if m["kind"] in ("Role", "RoleBinding"):
            assert m["metadata"]["namespace"] == NAMESPACE


def test_worker_role_is_exactly_jobs_pods_logs_events(manifests):
    role = find(manifests, "Role", f"{R}-prefect-worker")
    assert _rules(role) == sorted(
        [
            (("batch",), ("jobs",), ("create", "delete", "get", "list", "watch"), ()),
            (("",), ("pods",), ("get", "list", "watch"), ()),
            (("",), ("pods/log",), ("get",), ()),
            (("",), ("events",), ("create", "get", "list", "watch"), ()),
        ]
    )
    binding = find(manifests, "RoleBinding", f"{R}-prefect-worker")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": f"{R}-prefect-worker",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{R}-prefect-worker", "namespace": NAMESPACE}
    ]
    worker = find(manifests, "Deployment", f"{R}-prefect-worker")
    assert pod_spec(worker)["serviceAccountName"] == f"{R}-prefect-worker"


def test_trainer_role_may_only_roll_the_model_server(manifests):
    """get and patch the model-server Deployment by name; read pods to follow the rollout."""
    role = find(manifests, "Role", f"{R}-trainer")
    assert _rules(role) == [
        (("",), ("pods",), ("get", "list"), ()),
        (("apps",), ("deployments",), ("get", "patch"), (f"{R}-model-server",)),
    ]
    binding = find(manifests, "RoleBinding", f"{R}-trainer")
    assert binding["roleRef"]["name"] == f"{R}-trainer"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{R}-trainer", "namespace": NAMESPACE}
    ]
    find(manifests, "ServiceAccount", f"{R}-trainer")
    find(manifests, "Deployment", f"{R}-model-server")  # the Deployment the Role names exists


def test_pods_without_api_access_get_no_token(manifests):
    for w in workloads(manifests):
        if not w["metadata"]["name"].endswith(("prefect-worker", "generate-secrets", "prometheus")):
            assert pod_spec(w)["automountServiceAccountToken"] is False, w["metadata"]["name"]


# --- Prefect worker, work pool and base job template -------------------------------------------


def _template(manifests: list[dict]) -> tuple[dict, str]:
    cm = find(manifests, "ConfigMap", f"{R}-prefect-worker-base-job-template")
    text = cm["data"]["base-job-template.json"]
    return json.loads(text), text


def test_worker_runs_a_kubernetes_worker_on_the_pool(manifests):
    worker = find(manifests, "Deployment", f"{R}-prefect-worker")
    c = pod_spec(worker)["containers"][0]
    args = c["command"] + c["args"]
    joined = " ".join(args)
    assert joined.startswith("prefect worker start")
    assert "--type kubernetes" in joined and "--pool kubernetes" in joined
    assert "--base-job-template /etc/prefect/base-job-template.json" in joined
    env = env_of(c)
    assert env["PREFECT_API_URL"]["value"] == f"http://{R}-prefect-server:4200/api"
    assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"]["value"] == NAMESPACE


def test_worker_never_needs_kube_system(manifests):
    """The cluster UID comes from the environment (both setting names), fixed per release."""
    worker = find(manifests, "Deployment", f"{R}-prefect-worker")
    for c in containers(worker):
        env = env_of(c)
        uid = env["PREFECT_INTEGRATIONS_KUBERNETES_CLUSTER_UID"]["value"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", uid)
        assert env["PREFECT_KUBERNETES_CLUSTER_UID"]["value"] == uid


def test_pool_is_created_or_its_template_overwritten_on_start(manifests):
    worker = find(manifests, "Deployment", f"{R}-prefect-worker")
    spec = pod_spec(worker)
    init = {c["name"]: c for c in spec["initContainers"]}["sync-work-pool"]
    assert init["command"] == ["/bin/sh", "/scripts/sync-work-pool.sh"]
    sync = script(manifests, "prefect-worker-scripts", "sync-work-pool.sh")
    assert re.search(
        r'prefect work-pool create "\$WORK_POOL" --type kubernetes\s*\\?\s*'
        r"--base-job-template /etc/prefect/base-job-template.json --overwrite",
        sync,
    ), sync
    assert env_of(init)["WORK_POOL"]["value"] == "kubernetes"
    mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    assert mounts["/etc/prefect"] == "base-job-template"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert (
        volumes["base-job-template"]["configMap"]["name"] == f"{R}-prefect-worker-base-job-template"
    )
    # a changed template restarts the worker, which re-syncs the pool
    _, text = _template(manifests)
    checksum = worker["spec"]["template"]["metadata"]["annotations"]["checksum/base-job-template"]
    assert checksum == hashlib.sha256(text.rstrip("\n").encode()).hexdigest()


def test_base_job_template_is_the_k8s_file(manifests):
    """k8s/base-job-template.json is the chart's file; the release fills in what it locks and
    how flow runs log in, and nothing else of its structure changes."""
    k8s_file = ROOT / "k8s" / "base-job-template.json"
    chart_file = CHART / "charts" / "prefect-worker" / "files" / "base-job-template.json"
    assert (
        k8s_file.resolve() == chart_file.resolve()
        or k8s_file.read_bytes() == chart_file.read_bytes()
    )
    template, _ = _template(manifests)
    source = json.loads(chart_file.read_text())
    assert set(template) == {"job_configuration", "variables"}
    assert set(template["variables"]["properties"]) == set(source["variables"]["properties"])
    locked = {k for k, v in template["variables"]["properties"].items()
              if "Locked by the chart" in v.get("description", "")}
    assert locked == {"image", "service_account_name", "namespace"}
    assert set(template["job_configuration"]) == set(source["job_configuration"])
    text = json.dumps(template["job_configuration"])
    for variable in locked:  # the manifest no longer reads them
        assert "{{ " + variable + " }}" not in text, variable


def test_base_job_template_points_flow_runs_at_the_platform(manifests):
    template, _ = _template(manifests)
    v = {k: p.get("default") for k, p in template["variables"]["properties"].items()}
    assert v["image_pull_policy"] == "IfNotPresent"
    jc = template["job_configuration"]
    assert jc["namespace"] == NAMESPACE and jc["env"] == "{{ env }}"
    job = jc["job_manifest"]
    assert job["metadata"]["namespace"] == NAMESPACE
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"{R}-trainer"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/instance"] == R  # the network policies' selector
    assert pod_labels["app.kubernetes.io/component"] == "flow-run"
    (c,) = pod["containers"]
    assert c["image"] == "sentiment-trainer:0.1.0" and c["imagePullPolicy"] == "{{ image_pull_policy }}"
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    env = env_of(c)
    assert env["MLFLOW_TRACKING_URI"]["value"] == f"http://{R}-mlflow:5000"
    assert env["SENTIMENT_ROLLOUT_DEPLOYMENT"]["value"] == f"{R}-model-server"
    assert env["SENTIMENT_ROLLOUT_ANNOTATION"]["value"] == "flipkart-sentiment/model-version"
    assert (
        env["SENTIMENT_ROLLOUT_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"]
        == "metadata.namespace"
    )
    assert env["SENTIMENT_MODEL_NAME"]["value"] == "flipkart-sentiment"
    # flow runs log in to MLflow as the trainer, the password by reference
    assert env["MLFLOW_TRACKING_USERNAME"]["value"] == "trainer"
    assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{R}-mlflow-auth", "key": "trainer-password"}
    # keys only by reference (the S3 endpoint and region are addresses, not secrets)
    assert not [k for k, e in env.items() if (SECRETISH.search(k) or k.startswith("AWS_"))
                and "value" in e and k not in ("AWS_ENDPOINT_URL_S3", "AWS_REGION")]


def test_flow_runs_wait_for_their_peers_before_prefect_starts(manifests, tmp_path):
    """The init container runs the chart's script against the Prefect API and MLflow. Run as
    rendered (with this Python), it passes for listening peers and fails, naming them, for
    peers that refuse."""
    template, _ = _template(manifests)
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "wait-for-peers"
    assert init["image"] == pod["containers"][0]["image"]
    assert init["securityContext"] == pod["containers"][0]["securityContext"]
    python, flag, script, timeout, *urls = init["command"]
    assert (python, flag, timeout) == ("python", "-c", "120")
    assert urls == [f"http://{R}-prefect-server:4200/api", f"http://{R}-mlflow:5000"]

    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen()
        up = [f"http://127.0.0.1:{s.getsockname()[1]}/api" for s in (a, b)]
        ok = subprocess.run([sys.executable, "-c", script, "5", *up], capture_output=True,
                            text=True, timeout=60)
        assert ok.returncode == 0, ok.stderr
        assert "peers reachable" in ok.stdout
        closed = free_port()
        bad = subprocess.run([sys.executable, "-c", script, "1", up[0], f"http://127.0.0.1:{closed}"],
                             capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"unreachable after 1 s: 127.0.0.1:{closed}" in bad.stderr
    assert up[0].split("//")[1].split("/")[0] not in bad.stderr  # only the peer that refused


def test_mlflow_clients_download_through_the_proxy_only(manifests):
    """MLflow 3 hands clients presigned URLs to the S3 store unless told not to; the network
    policies let only MLflow reach the store."""
    template, _ = _template(manifests)
    trainer = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    server = pod_spec(find(manifests, "Deployment", f"{R}-model-server"))["containers"][0]
    for c in (trainer, server):
        assert env_of(c)["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"]["value"] == "false"


def test_model_server_pods_announce_their_metrics(manifests, helm):
    ms = find(manifests, "Deployment", f"{R}-model-server")
    annotations = ms["spec"]["template"]["metadata"]["annotations"]
    port = pod_spec(ms)["containers"][0]["ports"][0]["containerPort"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port) and annotations["prometheus.io/path"] == "/metrics"
    assert env_of(pod_spec(ms)["containers"][0])["SENTIMENT_SERVE_METRICS"]["value"] == "true"
    off = find(docs(render(helm, "--set", "model-server.metrics.enabled=false")), "Deployment",
               f"{R}-model-server")
    assert "prometheus.io/scrape" not in off["spec"]["template"]["metadata"]["annotations"]
    assert env_of(pod_spec(off)["containers"][0])["SENTIMENT_SERVE_METRICS"]["value"] == "false"


def test_prefect_server_serves_metrics(manifests):
    server = pod_spec(find(manifests, "Deployment", f"{R}-prefect-server"))["containers"][0]
    assert env_of(server)["PREFECT_SERVER_METRICS_ENABLED"]["value"] == "true"


def test_mlflow_runs_without_its_job_runner(manifests):
    """MLflow's job runner (seven huey consumers) took the pod over its memory limit."""
    mlflow = pod_spec(find(manifests, "Deployment", f"{R}-mlflow"))["containers"][0]
    assert env_of(mlflow)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"


def test_job_variables_that_would_escalate_are_locked_unless_opened(helm):
    """A flow run cannot pick the image, service account or namespace of its Job; an operator
    may open them explicitly."""
    opened = docs(render(helm, "--set", "prefect-worker.trainer.openJobVariables={image}"))
    template = json.loads(find(opened, "ConfigMap", f"{R}-prefect-worker-base-job-template")["data"][
        "base-job-template.json"])
    assert template["variables"]["properties"]["image"]["default"] == "sentiment-trainer:0.1.0"
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "{{ image }}"
    assert pod["serviceAccountName"] == f"{R}-trainer"  # still locked
    bad = helm("template", R, str(CHART), "--set", "prefect-worker.trainer.openJobVariables={env}",
               check=False)
    assert bad.returncode != 0


def test_the_worker_hands_flow_runs_the_auth_string_by_reference(manifests):
    worker = pod_spec(find(manifests, "Deployment", f"{R}-prefect-worker"))
    for c in worker["initContainers"] + worker["containers"]:
        env = env_of(c)
        assert env["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{R}-prefect-auth", "key": "auth-string"}
        assert env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME"]["value"] == (
            f"{R}-prefect-auth")
    server = env_of(pod_spec(find(manifests, "Deployment", f"{R}-prefect-server"))["containers"][0])
    assert server["PREFECT_SERVER_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"]["name"] == (
        f"{R}-prefect-auth")


def test_base_job_template_follows_release_and_namespace(helm):
    out = docs(helm("template", "acme", str(CHART), "--namespace", "ml").stdout)
    template = json.loads(
        find(out, "ConfigMap", "acme-prefect-worker-base-job-template")["data"][
            "base-job-template.json"
        ]
    )
    job = template["job_configuration"]["job_manifest"]
    assert template["job_configuration"]["namespace"] == "ml" == job["metadata"]["namespace"]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "acme-trainer"
    env = env_of(job["spec"]["template"]["spec"]["containers"][0])
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://acme-mlflow:5000"
    assert env["SENTIMENT_ROLLOUT_DEPLOYMENT"]["value"] == "acme-model-server"
    role = find(out, "Role", "acme-trainer")
    assert role["rules"][0]["resourceNames"] == ["acme-model-server"]
    worker = find(out, "Deployment", "acme-prefect-worker")
    assert env_of(pod_spec(worker)["containers"][0])["PREFECT_API_URL"]["value"] == (
        "http://acme-prefect-server:4200/api"
    )


def test_job_variable_defaults_are_overridable_and_checked(helm):
    out = docs(render(helm, "--set", "prefect-worker.trainer.jobVariableDefaults.memory_limit=6Gi"))
    template = json.loads(
        find(out, "ConfigMap", f"{R}-prefect-worker-base-job-template")["data"][
            "base-job-template.json"
        ]
    )
    assert template["variables"]["properties"]["memory_limit"]["default"] == "6Gi"
    bad = helm(
        "template",
        R,
        str(CHART),
        "--set",
        "prefect-worker.trainer.jobVariableDefaults.nope=1",
        check=False,
    )
    assert bad.returncode != 0 and "not a variable" in bad.stderr


# --- MLflow ------------------------------------------------------------------------------------


def test_mlflow_server(manifests):
    d = find(manifests, "Deployment", f"{R}-mlflow")
    spec = pod_spec(d)
    c = spec["containers"][0]
    cmd = c["command"] + c["args"]
    assert cmd[:2] == ["mlflow", "server"]
    joined = " ".join(cmd)
    assert f"--backend-store-uri postgresql://mlflow@{R}-postgresql:5432/mlflow" in joined
    assert "--serve-artifacts" in cmd
    assert "--artifacts-destination s3://mlflow/" in joined
    assert "--expose-prometheus /tmp/prometheus-metrics" in joined  # GET /metrics
    env = env_of(c)
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == f"http://{R}-objectstore:9000"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{R}-postgresql",
        "key": "mlflow-password",
    }
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"].split(",")
    assert f"{R}-mlflow:5000" in allowed and "localhost:*" in allowed
    # database check / migration before the server starts, then the users of basic auth
    init, users = spec["initContainers"]
    assert init["name"] == "db-migrate" and init["image"] == c["image"]
    assert users["name"] == "sync-users" and users["command"] == ["python", "/scripts/sync_users.py"]
    user_env = env_of(users)
    assert user_env["MLFLOW_TRAINER_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{R}-mlflow-auth", "key": "trainer-password"}
    assert user_env["MLFLOW_READER_USERNAME"]["value"] == "model-server"
    # authentication on: the basic-auth app, its settings from a ConfigMap, its admin from a Secret
    assert cmd[cmd.index("--app-name") + 1] == "basic-auth"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{R}-mlflow-auth"
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "flask-secret-key"
    ini = find(manifests, "ConfigMap", f"{R}-mlflow-auth")["data"]["basic_auth.ini"]
    assert (f"database_uri = postgresql://mlflow@{R}-postgresql:5432/mlflow"
            "?options=-csearch_path=mlflow_auth") in ini
    assert "default_permission = READ" in ini
    assert (
        env_of(init)["MLFLOW_BACKEND_STORE_URI"]["value"]
        == env["MLFLOW_BACKEND_STORE_URI"]["value"]
    )
    script = find(manifests, "ConfigMap", f"{R}-mlflow-scripts")["data"]["db_check.py"]
    assert 'mlflow", "db", "upgrade"' in script or "'mlflow', 'db', 'upgrade'" in script
    svc = find(manifests, "Service", f"{R}-mlflow")
    assert svc["spec"]["ports"][0]["port"] == 5000


# --- model server ------------------------------------------------------------------------------


def test_model_server_serves_what_the_rollout_sets(manifests):
    """The chart renders no model URI: serve.py serves SERVED_MODEL_URI, which only the rollout writes
    into the pod template (so helm upgrade keeps it), and stands by without one."""
    d = find(manifests, "Deployment", f"{R}-model-server")
    c = pod_spec(d)["containers"][0]
    assert c["command"] == ["python", "/scripts/serve.py"]
    env = env_of(c)
    assert "SERVED_MODEL_URI" not in env, "the chart must never render the served version"
    assert env["PORT"]["value"] == "5001" and env["MODEL_NAME"]["value"] == "flipkart-sentiment"
    assert env["MLFLOW_TRACKING_URI"]["value"] == f"http://{R}-mlflow:5000"
    serve = script(manifests, "model-server-scripts", "serve.py")
    assert '"mlflow", "models", "serve", "-m", uri, "--env-manager", "local"' in serve
    assert "503" in serve and "MODEL_NOT_READY" in serve  # stand-by before the first promotion
    assert c["ports"][0]["containerPort"] == 5001
    svc = find(manifests, "Service", f"{R}-model-server")
    assert svc["spec"]["ports"][0]["port"] == 5001


def test_model_server_rolls_out_without_a_gap(manifests):
    """New pods first (surge, none unavailable); Ready means loaded and warmed up (/ping);
    a terminating pod drains before SIGTERM; a crash's log tail is its termination message."""
    d = find(manifests, "Deployment", f"{R}-model-server")
    rolling = d["spec"]["strategy"]["rollingUpdate"]
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1
    assert d["spec"]["progressDeadlineSeconds"] > 0
    assert "initContainers" not in pod_spec(d), "an install must not wait for a model"
    c = pod_spec(d)["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/ping"
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] >= 1
    assert pod_spec(d)["terminationGracePeriodSeconds"] > c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"


def _values(part: str | None = None) -> dict:
    path = CHART / "charts" / part / "values.yaml" if part else CHART / "values.yaml"
    return yaml.safe_load(path.read_text())


def test_model_version_annotation_is_left_to_the_flow(manifests):
    """helm upgrade must not reset what the promote step patched: the chart never renders it."""
    d = find(manifests, "Deployment", f"{R}-model-server")
    annotations = d["spec"]["template"]["metadata"].get("annotations") or {}
    assert "flipkart-sentiment/model-version" not in annotations
    # one value, global.rollout.annotation, read by the prefect-worker part (flow-run env)
    for part in (None, "model-server", "prefect-worker"):
        assert _values(part)["global"]["rollout"]["annotation"] == "flipkart-sentiment/model-version"
    assert "annotation" not in _values("model-server")["rollout"]


def _flow_run_env(manifests: list[dict], release: str = R) -> dict[str, dict]:
    cm = find(manifests, "ConfigMap", f"{release}-prefect-worker-base-job-template")
    job = json.loads(cm["data"]["base-job-template.json"])["job_configuration"]["job_manifest"]
    return env_of(job["spec"]["template"]["spec"]["containers"][0])


@pytest.mark.parametrize("override", [None, "models.example.com/revision"])
def test_flow_runs_get_the_rollout_annotation(helm, override):
    """SENTIMENT_ROLLOUT_ANNOTATION follows global.rollout.annotation; the model-server
    Deployment renders neither the default nor the overridden annotation."""
    extra = ["--set", f"global.rollout.annotation={override}"] if override else []
    expected = override or "flipkart-sentiment/model-version"
    out = docs(render(helm, *extra))
    assert _flow_run_env(out)["SENTIMENT_ROLLOUT_ANNOTATION"]["value"] == expected
    d = find(out, "Deployment", f"{R}-model-server")
    annotations = d["spec"]["template"]["metadata"].get("annotations") or {}
    assert not {expected, "flipkart-sentiment/model-version"} & set(annotations)
    assert set(annotations) == {"checksum/scripts", "prometheus.io/scrape", "prometheus.io/port",
                                "prometheus.io/path"}
    # the part on its own reads the same global
    worker = CHART / "charts" / "prefect-worker"
    alone = docs(helm("template", R, str(worker), "-n", NAMESPACE, *extra).stdout)
    assert _flow_run_env(alone)["SENTIMENT_ROLLOUT_ANNOTATION"]["value"] == expected


# --- PostgreSQL, object store, Prefect server --------------------------------------------------


def test_postgresql_statefulset_with_pvc(manifests):
    sts = find(manifests, "StatefulSet", f"{R}-postgresql")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    c = pod_spec(sts)["containers"][0]
    assert c["image"] == "postgres:16-bookworm"
    env = env_of(c)
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == f"{R}-postgresql"
    initdb = find(manifests, "ConfigMap", f"{R}-postgresql-initdb")["data"]
    assert "\\set db_name $name" in initdb["10-databases.sh"]
    # the databases the script creates: <database> <role> <password env var> [<extension>...]
    assert initdb["databases.list"].splitlines() == [
        "mlflow mlflow PG_DB_MLFLOW_PASSWORD",
        "prefect prefect PG_DB_PREFECT_PASSWORD pg_trgm",
    ]
    for db in ("mlflow", "prefect"):
        assert f"PG_DB_{db.upper()}_PASSWORD" in env


def test_objectstore_with_pvc_and_bucket_job(manifests):
    pvc = find(manifests, "PersistentVolumeClaim", f"{R}-objectstore")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    job = find(manifests, "Job", f"{R}-objectstore-create-bucket")
    assert "post-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    c = pod_spec(job)["containers"][0]
    assert env_of(c)["BUCKETS"]["value"].split()[0] == "mlflow"
    assert c["command"] + c["args"] == ["/bin/sh", "-ec", "exec /bin/sh /scripts/create-bucket.sh"]
    bucket = script(manifests, "objectstore-scripts", "create-bucket.sh")
    assert 'mc mb --ignore-existing "store/$bucket"' in bucket
    assert "for dir in /users/*/" in bucket  # a user per mounted policy folder
    # a hung pod is replaced well before the Job's own deadline, with retries left
    assert pod_spec(job)["activeDeadlineSeconds"] * 3 < job["spec"]["activeDeadlineSeconds"]
    assert job["spec"]["backoffLimit"] >= 3


def test_prefect_server_on_postgresql_with_ui(manifests):
    d = find(manifests, "Deployment", f"{R}-prefect-server")
    c = pod_spec(d)["containers"][0]
    assert (c["command"] + c["args"])[:3] == ["prefect", "server", "start"]
    env = env_of(c)
    assert env["PREFECT_SERVER_DATABASE_DRIVER"]["value"] == "postgresql+asyncpg"
    assert env["PREFECT_SERVER_DATABASE_HOST"]["value"] == f"{R}-postgresql"
    assert (
        env["PREFECT_SERVER_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"]
        == "prefect-password"
    )
    assert env["PREFECT_UI_ENABLED"]["value"] == "true"
    assert find(manifests, "Service", f"{R}-prefect-server")["spec"]["ports"][0]["port"] == 4200


# --- scripts: each part's files/, mounted from a ConfigMap -------------------------------------

# part, workload, container, ConfigMap, key (= file under files/), mount path, argv (None: the
# image's entrypoint runs what it finds in the mount)
SCRIPTS = [
    ("postgresql", ("StatefulSet", "postgresql"), "postgresql", "postgresql-initdb",
     "10-databases.sh", "/docker-entrypoint-initdb.d", None),
    ("objectstore", ("Job", "objectstore-create-bucket"), "create-bucket", "objectstore-scripts",
     "create-bucket.sh", "/scripts", ["/bin/sh", "-ec", "exec /bin/sh /scripts/create-bucket.sh"]),
    ("mlflow", ("Deployment", "mlflow"), "db-migrate", "mlflow-scripts",
     "db_check.py", "/scripts", ["python", "/scripts/db_check.py"]),
    ("mlflow", ("Deployment", "mlflow"), "sync-users", "mlflow-scripts",
     "sync_users.py", "/scripts", ["python", "/scripts/sync_users.py"]),
    ("prefect-server", ("Deployment", "prefect-server"), "wait-for-db", "prefect-server-scripts",
     "wait_for_db.py", "/scripts", ["python", "/scripts/wait_for_db.py"]),
    ("prefect-worker", ("Deployment", "prefect-worker"), "sync-work-pool", "prefect-worker-scripts",
     "sync-work-pool.sh", "/scripts", ["/bin/sh", "/scripts/sync-work-pool.sh"]),
    ("model-server", ("Deployment", "model-server"), "model-server", "model-server-scripts",
     "serve.py", "/scripts", ["python", "/scripts/serve.py"]),
]  # fmt: skip


@pytest.mark.parametrize("part,workload,container,configmap,key,mount,argv", SCRIPTS)
def test_scripts_come_from_the_parts_files(
    manifests, part, workload, container, configmap, key, mount, argv
):
    """Every init/helper script is files/<name> of its part, rendered into a ConfigMap, mounted
    read-only (readable by the pod's non-root user) and run from the mount."""
    source = CHART / "charts" / part / "files" / key
    assert script(manifests, configmap, key) == source.read_text()
    lines = source.read_text().splitlines()
    header = lines[1:] if lines[0].startswith("#!") else lines
    assert header[0].startswith("# ") and header[1].startswith("# "), f"{key}: no header comment"
    obj = find(manifests, workload[0], f"{R}-{workload[1]}")
    spec = pod_spec(obj)
    c = {c["name"]: c for c in containers(obj)}[container]
    if argv is not None:
        assert c["command"] + c.get("args", []) == argv
    (volume_mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == mount]
    assert volume_mount["readOnly"] is True
    volume = {v["name"]: v for v in spec["volumes"]}[volume_mount["name"]]
    assert volume["configMap"]["name"] == f"{R}-{configmap}"
    assert volume["configMap"]["defaultMode"] & 0o444 == 0o444
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    checksum = obj["spec"]["template"]["metadata"]["annotations"]["checksum/scripts"]
    assert re.fullmatch(r"[0-9a-f]{64}", checksum)


def test_no_script_is_inline(manifests):
    """Scripts live in files/: no command or arg of any container is a multi-line script."""
    for w in workloads(manifests):
        for c in containers(w):
            for arg in c.get("command", []) + c.get("args", []):
                assert "\n" not in arg, f"{w['metadata']['name']}/{c['name']}: inline script"


def test_a_changed_script_rolls_the_pods(helm, tmp_path):
    """checksum/scripts on each pod template follows its part's script, and only that one."""
    chart = tmp_path / "sentiment-platform"
    shutil.copytree(CHART, chart)

    def checksums() -> dict[str, str]:
        out = docs(helm("template", R, str(chart), "-n", NAMESPACE).stdout)
        return {
            w["metadata"]["name"]: w["spec"]["template"]["metadata"]["annotations"]["checksum/scripts"]
            for w in workloads(out)
            # MinIO itself runs no script; the secrets and pre-upgrade Jobs are hooks with their
            # scripts beside them (the backup scripts: tests/charts/test_backup.py)
            if w["metadata"]["name"] not in (f"{R}-objectstore", f"{R}-generate-secrets", f"{R}-pre-upgrade")
        }

    before = checksums()
    assert set(before) == {f"{R}-{workload[1]}" for _, workload, *_ in SCRIPTS}
    for part, (_, name), _container, _configmap, key, _mount, _argv in SCRIPTS:
        path = chart / "charts" / part / "files" / key
        path.write_text(path.read_text() + "# changed\n")
        after = checksums()
        assert after[f"{R}-{name}"] != before[f"{R}-{name}"], part
        assert {k for k in after if after[k] != before[k]} == {f"{R}-{name}"}, part
        before = after


def test_prefect_server_rolls_without_downtime_and_keeps_no_volume(manifests):
    """RollingUpdate is safe: the state is in PostgreSQL (a ReadWriteOnce claim would need
    Recreate) and the pre-upgrade hook migrates before the new pod starts."""
    deploy = find(manifests, "Deployment", f"{R}-prefect-server")
    assert deploy["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    volumes = deploy["spec"]["template"]["spec"]["volumes"]
    assert not [v for v in volumes if "persistentVolumeClaim" in v]


# --- kind --------------------------------------------------------------------------------------


def test_kind_port_mappings_match_the_node_ports(rendered_text):
    kind_cfg = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    mappings = {
        m["containerPort"]: m["hostPort"] for m in kind_cfg["nodes"][0]["extraPortMappings"]
    }
    out = docs(rendered_text["kind"])
    expected = {
        f"{R}-mlflow": 5000, f"{R}-prefect-server": 4200, f"{R}-model-server": 5001,
        f"{R}-prometheus": 9090,
    }
    for name, host_port in expected.items():
        svc = find(out, "Service", name)
        assert svc["spec"]["type"] == "NodePort"
        port = svc["spec"]["ports"][0]
        assert mappings[port["nodePort"]] == host_port == port["port"]
    assert len(mappings) == len(expected)
