"""Backups, restore and the pre-upgrade hook as rendered (templates/backup.yaml, pre-upgrade.yaml,
files/backup-db.sh, files/backup-store.sh): the CronJobs' schedule, suspend and concurrency;
hardened pods without a service-account token; the hook's order (after generate-secrets, backup
before both migrations); the hook's own network policies; the ordinary policies let the backup
pods reach PostgreSQL and the object store and nothing else; everything can be turned off.
The scripts themselves run for real in tests/integration/test_k8s_backup_scripts.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from sentiment_testkit.charts import CHART, docs, env_of, find, render
from test_network_policy import allowed  # the same model of how policies are enforced

pytestmark = pytest.mark.charts

R = "sentiment"
FILES = CHART / "files"
SCRIPTS = {"backup-db.sh", "backup-store.sh"}
HOOK = "helm.sh/hook"


@pytest.fixture(scope="module")
def out(helm) -> list[dict]:
    return docs(render(helm))


def job_pod(obj: dict) -> dict:
    return (
        obj["spec"]["jobTemplate"]["spec"]["template"]
        if obj["kind"] == "CronJob"
        else obj["spec"]["template"]
    )


def steps(obj: dict) -> list[dict]:
    spec = job_pod(obj)["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def backup_pods(out: list[dict]) -> list[dict]:
    return [
        find(out, "CronJob", f"{R}-backup"),
        find(out, "CronJob", f"{R}-restore"),
        find(out, "Job", f"{R}-pre-upgrade"),
    ]


def is_hook(obj: dict) -> bool:
    return HOOK in obj["metadata"].get("annotations", {})


def test_backup_cronjob_schedule_and_concurrency(out):
    cron = find(out, "CronJob", f"{R}-backup")
    assert cron["spec"]["schedule"] == "17 3 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert "suspend" not in cron["spec"]
    assert cron["spec"]["successfulJobsHistoryLimit"] == 3 and cron["spec"]["failedJobsHistoryLimit"] == 3
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] <= 2
    # dump (postgres image) first, then upload (mc image)
    assert [(c["name"], c["command"][1:], c["image"].split(":")[0]) for c in steps(cron)] == [
        ("dump", ["/scripts/backup-db.sh", "dump"], "postgres"),
        ("upload", ["/scripts/backup-store.sh", "upload"], "minio/mc"),
    ]
    upload = env_of(steps(cron)[1])
    assert upload["BACKUP_BUCKET"]["value"] == "sentiment-backups" and upload["KEEP"]["value"] == "7"
    assert upload["ARTIFACT_BUCKET"]["value"] == "mlflow"
    assert env_of(steps(cron)[0])["DATABASES"]["value"] == "mlflow prefect"


def test_restore_cronjob_is_suspended_and_verifies_before_changing_anything(out):
    cron = find(out, "CronJob", f"{R}-restore")
    assert cron["spec"]["suspend"] is True and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert [(c["name"], c["command"][-1]) for c in steps(cron)] == [
        ("fetch", "fetch"),
        ("verify", "verify"),
        ("artifacts", "artifacts"),
        ("databases", "restore"),
    ]
    assert env_of(steps(cron)[0])["BACKUP"]["value"] == "latest"


def test_backup_pods_are_hardened_and_have_no_token(out):
    for obj in backup_pods(out):
        spec = job_pod(obj)["spec"]
        name = obj["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["restartPolicy"] == "Never"
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0 and psc["runAsGroup"] > 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        for c in steps(obj):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"], c["name"]
            for e in c.get("env", []):  # credentials only from Secrets
                if any(w in e["name"] for w in ("PASSWORD", "ROOT_USER")):
                    assert "secretKeyRef" in e["valueFrom"], (name, e["name"])


def test_scripts_are_mounted_from_the_charts_files(out):
    cm = find(out, "ConfigMap", f"{R}-backup-scripts")
    hook_cm = find(out, "ConfigMap", f"{R}-pre-upgrade-scripts")
    for key in SCRIPTS:
        assert cm["data"][key].rstrip("\n") == (FILES / key).read_text().rstrip("\n")
        assert hook_cm["data"][key] == cm["data"][key]  # one source, two ConfigMaps
    for obj, configmap in zip(backup_pods(out), [cm, cm, hook_cm], strict=True):
        volumes = {v["name"]: v for v in job_pod(obj)["spec"]["volumes"]}
        assert volumes["scripts"]["configMap"]["name"] == configmap["metadata"]["name"]
        for c in steps(obj):
            if c["command"][0] == "/bin/sh":
                assert c["command"][1].removeprefix("/scripts/") in SCRIPTS
                assert {"name": "scripts", "mountPath": "/scripts", "readOnly": True} in c["volumeMounts"]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_scripts_are_valid_posix_shell(script):
    subprocess.run(["sh", "-n", str(FILES / script)], check=True)
    if shutil.which("shellcheck"):
        out = subprocess.run(["shellcheck", "-s", "sh", str(FILES / script)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout


def test_pre_upgrade_hook_backs_up_then_migrates_after_generate_secrets(out):
    job = find(out, "Job", f"{R}-pre-upgrade")
    ann = job["metadata"]["annotations"]
    assert ann[HOOK] == "pre-upgrade"
    assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation"  # a failed one stays
    secrets_job = find(out, "Job", f"{R}-generate-secrets")["metadata"]["annotations"]
    assert int(ann["helm.sh/hook-weight"]) > int(secrets_job["helm.sh/hook-weight"])
    spec = job_pod(job)["spec"]
    assert [c["name"] for c in spec["initContainers"]] == [
        "backup-dump",
        "backup-upload",
        "mlflow-db-upgrade",
    ]
    assert [c["name"] for c in spec["containers"]] == ["prefect-db-upgrade"]
    upload, mlflow, prefect = spec["initContainers"][1], spec["initContainers"][2], spec["containers"][0]
    assert env_of(upload)["BACKUP_SUFFIX"]["value"] == "-pre-upgrade"
    assert mlflow["command"] == ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"]
    assert prefect["command"] == ["prefect", "server", "database", "upgrade", "-y"]
    assert job["spec"]["backoffLimit"] == 0
    # The same connection as the servers' own
    server = find(out, "Deployment", f"{R}-mlflow")["spec"]["template"]["spec"]["initContainers"][0]
    for key in ("MLFLOW_BACKEND_STORE_URI", "PGPASSWORD"):
        assert env_of(mlflow)[key] == env_of(server)[key]
    server = find(out, "Deployment", f"{R}-prefect-server")["spec"]["template"]["spec"]["containers"][0]
    db_env = {k: v for k, v in env_of(server).items() if k.startswith("PREFECT_SERVER_DATABASE_")}
    db_env.pop("PREFECT_SERVER_DATABASE_MIGRATE_ON_START")
    assert {k: env_of(prefect)[k] for k in db_env} == db_env


def test_hook_setup_comes_before_the_job_and_goes_after_it(out):
    job_weight = int(find(out, "Job", f"{R}-pre-upgrade")["metadata"]["annotations"]["helm.sh/hook-weight"])
    setup = [d for d in out if d["metadata"]["name"].startswith(f"{R}-pre-upgrade") and d["kind"] != "Job"]
    assert {(d["kind"], d["metadata"]["name"]) for d in setup} == {
        ("ConfigMap", f"{R}-pre-upgrade-scripts"),
        ("NetworkPolicy", f"{R}-pre-upgrade"),
        ("NetworkPolicy", f"{R}-pre-upgrade-postgresql"),
        ("NetworkPolicy", f"{R}-pre-upgrade-objectstore"),
    }
    for d in setup:
        ann = d["metadata"]["annotations"]
        assert ann[HOOK] == "pre-upgrade" and int(ann["helm.sh/hook-weight"]) < job_weight
        assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"


def _labels(out: list[dict]) -> dict[str, dict]:
    pods = {
        "backup": job_pod(find(out, "CronJob", f"{R}-backup"))["metadata"]["labels"],
        "restore": job_pod(find(out, "CronJob", f"{R}-restore"))["metadata"]["labels"],
        "pre-upgrade": job_pod(find(out, "Job", f"{R}-pre-upgrade"))["metadata"]["labels"],
    }
    for kind, name in (
        ("StatefulSet", "postgresql"),
        ("Deployment", "objectstore"),
        ("Deployment", "mlflow"),
        ("Deployment", "prefect-server"),
        ("Deployment", "model-server"),
    ):
        pods[name] = find(out, kind, f"{R}-{name}")["spec"]["template"]["metadata"]["labels"]
    return pods


PORTS = {
    "postgresql": 5432,
    "objectstore": 9000,
    "mlflow": 5000,
    "prefect-server": 4200,
    "model-server": 5001,
}


def test_ordinary_policies_let_backup_pods_reach_the_stores_and_nothing_else(out):
    policies = [d for d in out if d["kind"] == "NetworkPolicy" and not is_hook(d)]
    labels = _labels(out)
    for pod in ("backup", "restore", "pre-upgrade"):
        reach = {dst for dst, port in PORTS.items() if allowed(policies, labels, pod, dst, port)}
        assert reach == {"postgresql", "objectstore"}, pod
        assert not allowed(policies, labels, pod, "postgresql", 80)


def test_hook_policies_alone_let_the_hook_in_under_an_old_releases_default_deny(out):
    """An old release has the default deny but no rule for backup pods: the hook's own policies
    must be enough."""
    old = [find(out, "NetworkPolicy", f"{R}-default-deny")]
    hooks = [d for d in out if d["kind"] == "NetworkPolicy" and is_hook(d)]
    labels = _labels(out)
    assert not allowed(old, labels, "pre-upgrade", "postgresql", 5432)
    reach = {dst for dst, port in PORTS.items() if allowed(old + hooks, labels, "pre-upgrade", dst, port)}
    assert reach == {"postgresql", "objectstore"}
    (egress,) = [d for d in hooks if d["metadata"]["name"] == f"{R}-pre-upgrade"]
    assert any(p.get("port") == 53 for rule in egress["spec"]["egress"] for p in rule["ports"])


def test_everything_can_be_turned_off(helm):
    names = {(d["kind"], d["metadata"]["name"]) for d in docs(render(helm, "--set", "backup.enabled=false"))}
    assert not {n for n in names if n[1].startswith((f"{R}-backup", f"{R}-restore"))}
    # The hook still migrates, without a backup step and without the object store's door.
    job = find(docs(render(helm, "--set", "backup.enabled=false")), "Job", f"{R}-pre-upgrade")
    assert [c["name"] for c in steps(job)] == ["mlflow-db-upgrade", "prefect-db-upgrade"]
    assert ("NetworkPolicy", f"{R}-pre-upgrade-objectstore") not in names
    names = {
        (d["kind"], d["metadata"]["name"]) for d in docs(render(helm, "--set", "upgradeHook.enabled=false"))
    }
    assert not {n for n in names if n[1].startswith(f"{R}-pre-upgrade")}
    assert ("CronJob", f"{R}-backup") in names
    both = docs(render(helm, "--set", "upgradeHook.enabled=false", "--set", "backup.enabled=false"))
    assert not [d for d in both if "backup" in str(d["metadata"]) or "pre-upgrade" in d["metadata"]["name"]]


def test_backup_needs_the_releases_own_stores(helm):
    out = docs(render(helm, "--set", "objectstore.enabled=false"))
    assert not [d for d in out if d["kind"] == "CronJob"]
