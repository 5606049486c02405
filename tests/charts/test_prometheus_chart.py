"""The Prometheus part: its scrape config and alerting rules pass promtool (the pinned Debian
promtool of the stand-in image), the alerts fire on the series they are meant for
(tests/charts/prometheus/alerts-test.yaml), pod discovery needs no more than reading pods, and
the Operator's PodMonitors and PrometheusRule carry the same targets and rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from sentiment_testkit.charts import BIN, KIND_VALUES, ROOT, docs, find, pod_spec, render

R = "sentiment"
HERE = Path(__file__).parent
ALERTS = {"SentimentModelServerErrors", "SentimentModelServerSlow", "SentimentModelServerNoTraffic",
          "SentimentModelServerDown", "SentimentModelNotServing", "SentimentMLflowDown",
          "SentimentPrefectServerDown"}


@pytest.fixture(scope="module")
def promtool() -> Path:
    path = BIN / "promtool"
    if not path.exists():
        subprocess.run(["make", "-C", str(ROOT), "tool-promtool"], check=True)
    return path


@pytest.fixture(scope="module")
def kind(helm) -> list[dict]:
    return docs(render(helm, values=[KIND_VALUES]))


def config_map(manifests: list[dict]) -> dict[str, str]:
    return find(manifests, "ConfigMap", f"{R}-prometheus")["data"]


def run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(promtool), *args], cwd=cwd, capture_output=True, text=True)


def test_the_rules_pass_promtool_check(promtool, kind, tmp_path):
    (tmp_path / "alerts.yaml").write_text(config_map(kind)["alerts.yaml"])
    out = run(promtool, "check", "rules", "alerts.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout, out.stdout


def test_the_alerts_fire_when_they_should(promtool, kind, tmp_path):
    rules = yaml.safe_load(config_map(kind)["alerts.yaml"])
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "alerts-test.yaml").write_text((HERE / "prometheus" / "alerts-test.yaml").read_text())
    out = run(promtool, "test", "rules", "alerts-test.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # every alert is exercised by a case that expects it to fire
    cases = yaml.safe_load((HERE / "prometheus" / "alerts-test.yaml").read_text())["tests"]
    fired = {t["alertname"] for c in cases for t in c["alert_rule_test"] if t["exp_alerts"]}
    assert fired == ALERTS


def test_a_broken_rule_fails_the_check(promtool, kind, tmp_path):
    """The check can fail: a rule with a PromQL syntax error is refused."""
    text = config_map(kind)["alerts.yaml"].replace("> 0.05", "> > 0.05", 1)
    (tmp_path / "alerts.yaml").write_text(text)
    assert run(promtool, "check", "rules", "alerts.yaml", cwd=tmp_path).returncode != 0


def test_thresholds_come_from_values(helm):
    out = docs(render(helm, "--set", "prometheus.enabled=true", "--set-json",
                      "prometheus.alerts.errorRatio=0.2", "--set", "prometheus.alerts.noTrafficFor=3h"))
    rules = yaml.safe_load(config_map(out)["alerts.yaml"])
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert "> 0.2" in exprs["SentimentModelServerErrors"]
    assert "[3h]" in exprs["SentimentModelServerNoTraffic"]
    assert "__" not in config_map(out)["alerts.yaml"].split("groups:", 1)[1]


def test_the_scrape_config_passes_promtool_check(promtool, kind, tmp_path):
    cfg = yaml.safe_load(config_map(kind)["prometheus.yml"])
    # point the credential and rule files at stand-ins in tmp_path (they are mounted in the pod)
    for job in cfg["scrape_configs"]:
        for key in ("username_file", "password_file"):
            if key in job.get("basic_auth", {}):
                (tmp_path / key).write_text("x")
                job["basic_auth"][key] = str(tmp_path / key)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "alerts.yaml").write_text(config_map(kind)["alerts.yaml"])
    cfg["rule_files"] = [str(tmp_path / "rules" / "*.yaml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    out = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = {j["job_name"]: j for j in yaml.safe_load(config_map(kind)["prometheus.yml"])[
        "scrape_configs"]}
    assert set(jobs) == {"prometheus", "model-server", "mlflow", "prefect-server"}
    assert jobs["prefect-server"]["metrics_path"] == "/api/metrics"
    assert jobs["prefect-server"]["basic_auth"] == {
        "username_file": "/run/credentials/prefect-username",
        "password_file": "/run/credentials/prefect-password"}
    for name in ("model-server", "mlflow", "prefect-server"):
        (sd,) = jobs[name]["kubernetes_sd_configs"]
        assert sd["role"] == "pod" and sd["namespaces"]["names"] == [R]
        assert sd["selectors"][0]["label"] == (
            f"app.kubernetes.io/instance={R},app.kubernetes.io/name={name}")


def test_discovery_reads_pods_in_its_namespace_only(kind):
    role = find(kind, "Role", f"{R}-prometheus")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list", "watch"]}]
    binding = find(kind, "RoleBinding", f"{R}-prometheus")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"{R}-prometheus",
                                    "namespace": R}]
    assert not [d for d in kind if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_credentials_are_mounted_never_inlined(kind):
    dep = find(kind, "Deployment", f"{R}-prometheus")
    spec = pod_spec(dep)
    vols = {v["name"]: v for v in spec["volumes"]}
    assert set(vols) == {"config", "data", "prefect-auth", "credentials"}
    assert vols["prefect-auth"]["secret"] == {
        "secretName": f"{R}-prefect-auth", "items": [{"key": "auth-string", "path": "auth-string"}]}
    assert vols["credentials"]["emptyDir"]["medium"] == "Memory"
    (init,) = spec["initContainers"]
    assert init["command"] == ["/bin/sh", "/scripts/prefect-credentials.sh"]
    assert "env" not in spec["containers"][0]
    assert "auth-string" not in config_map(kind)["prometheus.yml"]


def test_mlflow_metrics_come_from_a_sidecar_only_prometheus_reaches(kind):
    """MLflow's basic-auth app answers /metrics to admins only: the sidecar serves the workers'
    multiprocess files on the `metrics` port, and only Prometheus may connect to it."""
    spec = pod_spec(find(kind, "Deployment", f"{R}-mlflow"))
    server, sidecar = spec["containers"]
    assert server["args"][server["args"].index("--expose-prometheus") + 1] == "/tmp/prometheus-metrics"
    assert sidecar["name"] == "metrics-exporter"
    assert sidecar["command"] == ["python", "/scripts/metrics_exporter.py"]
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus-metrics"
    assert sidecar["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    assert mounts["tmp"] == "/tmp"  # the same emptyDir as the server's
    policy = find(kind, "NetworkPolicy", f"{R}-mlflow")
    metrics_rules = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == 9102]
    assert metrics_rules == [{"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/instance": R, "app.kubernetes.io/name": "prometheus"}}}],
        "ports": [{"protocol": "TCP", "port": 9102}]}]
    cfg = yaml.safe_load(config_map(kind)["prometheus.yml"])
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "mlflow")
    assert "basic_auth" not in job
    assert job["relabel_configs"][0] == {"source_labels": ["__meta_kubernetes_pod_container_port_name"],
                                         "regex": "metrics", "action": "keep"}


def test_off_by_default_and_the_operator_resources_instead(helm):
    assert not [d for d in docs(render(helm)) if "prometheus" in d["metadata"]["name"]]
    out = docs(render(helm, "--set", "prometheus.operator.podMonitors=true",
                      "--set", "prometheus.operator.prometheusRule=true",
                      "--set", "prometheus.operator.labels.release=kube-prometheus-stack"))
    assert not [d for d in out if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("prometheus")]
    monitors = {d["metadata"]["name"]: d for d in out if d["kind"] == "PodMonitor"}
    # no Prefect monitor without a Secret holding the auth string's parts
    assert set(monitors) == {f"{R}-model-server", f"{R}-mlflow"}
    for name, m in monitors.items():
        assert m["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        (ep,) = m["spec"]["podMetricsEndpoints"]
        assert ep["relabelings"] == [{"targetLabel": "job", "replacement": name[len(R) + 1:]}]
    assert monitors[f"{R}-mlflow"]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert "basicAuth" not in monitors[f"{R}-mlflow"]["spec"]["podMetricsEndpoints"][0]
    (rule,) = [d for d in out if d["kind"] == "PrometheusRule"]
    assert {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]} == ALERTS
    with_prefect = docs(render(helm, "--set", "prometheus.operator.podMonitors=true", "--set",
                               "prometheus.operator.prefectBasicAuthSecret=prefect-scrape"))
    prefect = find(with_prefect, "PodMonitor", f"{R}-prefect-server")
    ep = prefect["spec"]["podMetricsEndpoints"][0]
    assert ep["path"] == "/api/metrics"
    assert ep["basicAuth"]["password"] == {"name": "prefect-scrape", "key": "password"}
