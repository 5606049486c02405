"""The NetworkPolicies allow exactly the connections of the architecture (the table in
docs/kubernetes.md, "Network"), computed from the rendered policies the way a network plugin
enforces them; the trainer's admission policy is bound to the trainer alone."""

from __future__ import annotations

import itertools

import pytest
from sentiment_testkit.charts import base_job_template, docs, flow_run_jobs, render, workloads

R = "sentiment"
PARTS = ["postgresql", "objectstore", "mlflow", "prefect-server", "prefect-worker", "trainer",
         "model-server", "objectstore-create-bucket", "generate-secrets", "prometheus",
         "backup"]  # the backup, restore and pre-upgrade pods
OUTSIDE = "a pod outside the release"
PORTS = {"postgresql": 5432, "objectstore": 9000, "mlflow": 5000, "prefect-server": 4200,
         "model-server": 5001, "prometheus": 9090}
# (from, to): the allowed connections between pods (DNS and the Kubernetes API aside).
ALLOWED = {
    ("mlflow", "postgresql"), ("prefect-server", "postgresql"),
    ("mlflow", "objectstore"), ("objectstore-create-bucket", "objectstore"), ("trainer", "objectstore"),
    ("trainer", "mlflow"), ("model-server", "mlflow"), ("model-server", "objectstore"),
    ("prefect-worker", "prefect-server"), ("trainer", "prefect-server"),
    (OUTSIDE, "model-server"),
    ("prometheus", "prefect-server"), ("prometheus", "model-server"),
    ("backup", "postgresql"), ("backup", "objectstore"),
}


def selects(selector: dict, pod: dict[str, str]) -> bool:
    return all(pod.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peers: list[dict] | None, pod: dict[str, str]) -> bool:
    if peers is None:  # no from/to: anyone
        return True
    # (ipBlocks never match pods here: the external rule excepts the pod network)
    return any("podSelector" in p and "namespaceSelector" not in p and selects(p["podSelector"], pod)
               for p in peers)


def port_matches(ports: list[dict] | None, port: int) -> bool:
    return ports is None or any(p.get("port") == port for p in ports)


def allowed(policies: list[dict], labels: dict, src: str, dst: str, port: int) -> bool:
    s, d = labels[src], labels[dst]

    def direction(kind: str, pod: dict, peer: dict) -> bool:
        mine = [p for p in policies if selects(p["spec"]["podSelector"], pod)
                and kind in p["spec"]["policyTypes"]]
        if not mine:
            return True  # not isolated in that direction
        key, peers = ("egress", "to") if kind == "Egress" else ("ingress", "from")
        return any(peer_matches(rule.get(peers), peer) and port_matches(rule.get("ports"), port)
                   for p in mine for rule in p["spec"].get(key, []))

    return direction("Egress", s, d) and direction("Ingress", d, s)


@pytest.fixture(scope="module")
def rendered(helm) -> list[dict]:
    # Prometheus on: its scrapes are connections of the architecture too.
    return docs(render(helm, "--set", "prometheus.enabled=true"))


@pytest.fixture(scope="module")
def policies(rendered) -> list[dict]:
    return [d for d in rendered if d["kind"] == "NetworkPolicy"]


@pytest.fixture(scope="module")
def labels(rendered, tmp_path_factory) -> dict[str, dict[str, str]]:
    """Each part's pod labels as rendered; the trainer's as the Prefect worker writes them on a
    flow-run pod (it replaces app.kubernetes.io/name, part-of, version and managed-by)."""
    pods = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]:
            d["spec"]["template"]["metadata"]["labels"] for d in workloads(rendered)}
    job = flow_run_jobs({"job": base_job_template(rendered)},
                        tmp_path_factory.mktemp("prefect-home"))["job"]
    pods["trainer"] = job["spec"]["template"]["metadata"]["labels"]
    assert pods["trainer"]["app.kubernetes.io/name"] == "daily"  # what the worker does
    pods[OUTSIDE] = {}
    assert set(pods) == {*PARTS, OUTSIDE}
    return pods


def test_exactly_the_architectures_connections(policies, labels):
    got = set()
    for src, dst in itertools.product([*PARTS, OUTSIDE], PORTS):
        if src != dst and allowed(policies, labels, src, dst, PORTS[dst]):
            got.add((src, dst))
    assert got == ALLOWED, {"unexpected": got - ALLOWED, "missing": ALLOWED - got}


def test_nothing_else_on_other_ports(policies, labels):
    for src, dst in itertools.product(PARTS, [p for p in PARTS if p not in PORTS]):
        for port in (22, 80, 8080):
            assert not allowed(policies, labels, src, dst, port), (src, dst, port)


def test_every_release_pod_may_resolve_names_and_nothing_more_in_kube_system(policies):
    dns = next(p for p in policies if p["metadata"]["name"] == f"{R}-dns")
    assert dns["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/instance": R}
    (rule,) = dns["spec"]["egress"]
    assert {p["port"] for p in rule["ports"]} == {53}
    assert rule["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_only_the_worker_flow_runs_the_secrets_job_and_prometheus_reach_the_kubernetes_api(
    policies, labels
):
    api = [p["spec"]["podSelector"] for p in policies for rule in p["spec"].get("egress", [])
           if any(port.get("port") in (443, 6443) for port in rule.get("ports", []))]
    reaching = {part for part, pod in labels.items() if any(selects(s, pod) for s in api)}
    assert reaching == {"prefect-worker", "trainer", "generate-secrets", "prometheus"}


def test_kind_opens_the_uis_to_outside_the_pod_network_only(helm):
    from sentiment_testkit.charts import KIND_VALUES

    out = [d for d in docs(render(helm, values=[KIND_VALUES])) if d["kind"] == "NetworkPolicy"]
    mlflow = next(p for p in out if p["metadata"]["name"] == f"{R}-mlflow")
    blocks = [peer["ipBlock"] for rule in mlflow["spec"]["ingress"] for peer in rule["from"]
              if "ipBlock" in peer]
    assert blocks == [{"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"]}]
    pg = next(p for p in out if p["metadata"]["name"] == f"{R}-postgresql")
    assert not [peer for rule in pg["spec"]["ingress"] for peer in rule["from"] if "ipBlock" in peer]


def test_only_prometheus_reaches_mlflows_metrics_port_and_it_reaches_nothing_else_there(
    policies, labels
):
    """Prometheus scrapes MLflow's metrics-exporter sidecar (9102), not its API (5000)."""
    reaching = {src for src in [*PARTS, OUTSIDE] if src != "mlflow"
                and allowed(policies, labels, src, "mlflow", 9102)}
    assert reaching == {"prometheus"}
    assert not allowed(policies, labels, "prometheus", "mlflow", 5000)


def test_prometheus_off_opens_nothing_for_it(helm):
    out = [d for d in docs(render(helm)) if d["kind"] == "NetworkPolicy"]
    assert f"{R}-prometheus" not in {p["metadata"]["name"] for p in out}
    assert "prometheus" not in str([p["spec"].get("ingress") for p in out])


def test_policies_can_be_turned_off(helm):
    assert not [d for d in docs(render(helm, "--set", "networkPolicy.enabled=false"))
                if d["kind"] == "NetworkPolicy"]


def test_the_rollout_policy_binds_to_the_trainer_and_this_namespace(helm):
    out = docs(render(helm))
    policy = next(d for d in out if d["kind"] == "ValidatingAdmissionPolicy")
    binding = next(d for d in out if d["kind"] == "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": R}
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == f'request.userInfo.username == "system:serviceaccount:{R}:{R}-trainer"'
    rules = " ".join(v["expression"] for v in policy["spec"]["validations"])
    for field in ("image", "volumes", "serviceAccountName", "securityContext", "hostNetwork",
                  "replicas", "SERVED_MODEL_URI"):
        assert field in rules, field
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_no_job_pod_is_an_endpoint_of_a_service(helm):
    """A Job's pod that matched a Service's selector would receive that Service's traffic."""
    out = docs(render(helm))
    services = [d for d in out if d["kind"] == "Service"]
    for job in (d for d in out if d["kind"] == "Job"):
        pod = job["spec"]["template"]["metadata"].get("labels", {})
        for svc in services:
            selector = svc["spec"].get("selector", {})
            assert not (selector and all(pod.get(k) == v for k, v in selector.items())), (
                f"{job['metadata']['name']} would serve {svc['metadata']['name']}")
