"""The kind node image built here (images/kind-node/) and the CI docker shim, checked without a cluster.

The image itself is tested by running it: CI's `make kind-up` boots a cluster from it, `make
kind-verify-netpol` checks with real pod traffic that NetworkPolicies are enforced, and the e2e
runs on it. These tests guard what those runs cannot see: the pinned versions, the flags that keep
kube-router's vulnerable router and service proxy off, read-only RBAC, the images the manifests
name being the ones the build makes, the shim changing nothing where the capability exists, and
the test workload's notion of "blocked".
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "images" / "kind-node"
MANIFESTS = NODE / "files" / "kind" / "manifests"
SHIM = ROOT / "scripts" / "ci" / "docker-shim"


def _versions() -> dict[str, str]:
    out = {}
    for line in (NODE / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _manifest(name: str) -> list[dict]:
    # kind renders default-cni.yaml as a Go template ({{ .PodSubnet }}) before applying it.
    text = (MANIFESTS / name).read_text().replace("{{ .PodSubnet }}", "10.244.0.0/16")
    return [d for d in yaml.safe_load_all(text) if d]


def _kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def test_wrapper_modules_pin_the_versions_of_versions_env():
    versions = _versions()
    gomod = (NODE / "build" / "kube-router" / "go.mod").read_text()
    module = "github.com/cloudnativelabs/kube-router/v2"
    assert re.search(rf"^require {module} {re.escape(versions['KUBE_ROUTER_VERSION'])}$", gomod, re.M)
    gosum = (NODE / "build" / "kube-router" / "go.sum").read_text()
    assert f"{module} {versions['KUBE_ROUTER_VERSION']} " in gosum
    assert f"require k8s.io/kubernetes {versions['K8S_VERSION']}" in (NODE / "build" / "go.mod").read_text()
    etcd = (NODE / "build" / "etcd" / "go.mod").read_text()
    assert f"require go.etcd.io/etcd/server/v3 v{versions['ETCD_VERSION']}" in etcd
    assert versions["ETCD_IMAGE_TAG"].startswith(versions["ETCD_VERSION"] + "-")


def _kube_router() -> dict:
    daemonsets = _kind(_manifest("default-cni.yaml"), "DaemonSet")
    ds = next(d for d in daemonsets if d["metadata"]["name"] == "kube-router")
    return ds["spec"]["template"]["spec"]


def test_kube_router_runs_the_firewall_only():
    cmd = next(c for c in _kube_router()["containers"] if c["name"] == "kube-router")["command"]
    assert cmd[0] == "kube-router"
    for flag in (
        "--run-firewall=true",
        "--run-router=false",  # GoBGP: GO-2026-5653, GO-2026-4736
        "--run-service-proxy=false",  # GO-2026-4724; kube-proxy does this job
        "--run-loadbalancer=false",
        "--enable-cni=false",  # the bridge plugin is the CNI
        "--health-port=0",  # v2.1.0 binds it to every address
        "--metrics-port=0",
        "--service-cluster-ip-range=10.96.0.0/16",  # kind's default serviceSubnet
        "--hostname-override=$(NODE_NAME)",
    ):
        assert flag in cmd, flag


def test_rbac_is_read_only_and_bound_to_kube_routers_service_account():
    docs = _manifest("default-cni.yaml")
    role = _kind(docs, "ClusterRole")[0]
    binding = _kind(docs, "ClusterRoleBinding")[0]
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs <= {"get", "list", "watch"}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    # kube-router exits unless all of its informers sync.
    informers = {"pods", "namespaces", "nodes", "networkpolicies", "services", "endpoints", "endpointslices"}
    assert informers <= resources
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = {"kind": "ServiceAccount", "name": "kube-router", "namespace": "kube-system"}
    assert binding["subjects"] == [account]
    assert _kube_router()["serviceAccountName"] == "kube-router"


def test_the_cni_config_uses_kinds_pod_subnet_and_the_bridge_verify_netpol_checks():
    text = (MANIFESTS / "default-cni.yaml").read_text()
    assert "would you kindly template this file" in text  # or kind applies it unrendered
    conf = yaml.safe_load(_kind(_manifest("default-cni.yaml"), "ConfigMap")[0]["data"]["10-bridge.conflist"])
    bridge = conf["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/16"}]]
    assert f"CNI_BRIDGE={bridge['bridge']}" in (NODE / "verify-netpol.sh").read_text()
    init = " ".join(_kube_router()["initContainers"][0]["command"])
    assert f"ip rule add iif {bridge['bridge']} to 10.96.0.0/16 unreachable" in init


def test_every_image_the_node_runs_is_one_the_build_makes_and_nothing_is_pulled():
    build = (NODE / "build.sh").read_text()
    versions = _versions()
    made = {
        f"sentiment.local/kind-node-tools:{versions['K8S_VERSION']}",
        f"sentiment.local/local-path-provisioner:{versions['LOCAL_PATH_PROVISIONER_VERSION']}",
    }
    assert 'TOOLS_IMAGE="sentiment.local/kind-node-tools:$K8S_VERSION"' in build
    assert '"sentiment.local/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"' in build
    pods = []
    for name in ("default-cni.yaml", "default-storage.yaml"):
        for d in _manifest(name):
            if d["kind"] in ("DaemonSet", "Deployment"):
                spec = d["spec"]["template"]["spec"]
                pods += spec.get("initContainers", []) + spec["containers"]
    storage_config = _kind(_manifest("default-storage.yaml"), "ConfigMap")[0]["data"]
    helper = yaml.safe_load(storage_config["helperPod.yaml"])
    pods += helper["spec"]["containers"]
    assert {c["image"] for c in pods} <= made
    assert {c["imagePullPolicy"] for c in pods} == {"Never"}
    provisioner = next(c for c in pods if "local-path-provisioner" in c["image"])
    assert provisioner["command"][provisioner["command"].index("--helper-image") + 1] in made


def test_helper_pods_get_the_service_account_the_provisioner_names():
    docs = _manifest("default-storage.yaml")
    # local-path-provisioner v0.0.30 runs its helper pods as this account (the default of its
    # --service-account-name).
    accounts = {d["metadata"]["name"] for d in _kind(docs, "ServiceAccount")}
    assert "local-path-provisioner-service-account" in accounts
    setup = _kind(docs, "ConfigMap")[0]["data"]["setup"]
    assert 'mkdir -m 0777 -p "$VOL_DIR"' in setup  # hostPath ignores fsGroup; the charts run non-root


@pytest.mark.parametrize(
    "script",
    ["images/kind-node/build.sh", "images/kind-node/build-binaries.sh", "images/kind-node/verify-netpol.sh",
     "images/kind-node/files/kind/bin/preload-images.sh", "scripts/ci/docker-shim/docker",
     "scripts/ci/docker-shim/node-start.sh"],
)
def test_scripts_parse(script):
    assert (ROOT / script).stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(ROOT / script)], check=True)


# --- the CI docker shim -------------------------------------------------------------------------


@pytest.fixture()
def fake_docker(tmp_path) -> Path:
    """A `docker` that prints its arguments, one per line (and an image's entrypoint on inspect)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(
        "#!/bin/bash\n"
        'if [[ "$1 $2" == "image inspect" ]]; then\n'
        '  printf "/usr/local/bin/entrypoint\\n/sbin/init\\n"; exit 0\n'
        "fi\n"
        'printf "%s\\n" "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _shim(fake_docker: Path, capbnd: str, *args: str) -> list[str]:
    env = {**os.environ, "PATH": f"{SHIM}:{fake_docker}:/usr/bin:/bin", "DOCKER_SHIM_CAPBND": capbnd}
    out = subprocess.run([str(SHIM / "docker"), *args], env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


KIND_RUN = ["run", "--name", "n", "--privileged", "--cgroupns=private", "--tmpfs", "/tmp", "kindest/node:x"]


def test_shim_changes_nothing_where_the_capability_exists(fake_docker):
    assert _shim(fake_docker, "000001ffffffffff", *KIND_RUN) == KIND_RUN
    assert _shim(fake_docker, "000001ffffffffff", "exec", "--privileged", "n", "true") == [
        "exec", "--privileged", "n", "true"]


def test_shim_replaces_privileged_only_where_sys_resource_is_missing(fake_docker):
    args = _shim(fake_docker, "000001fffeffffff", *KIND_RUN)
    assert "--privileged" not in args
    assert args[:5] == ["run", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]
    # kind's own flags kept, the image, then the image's entrypoint after node-start.sh
    assert args[args.index("--entrypoint") + 1] == "/kind-ci/node-start.sh"
    assert args[-3:] == ["kindest/node:x", "/usr/local/bin/entrypoint", "/sbin/init"]
    assert "--cgroupns=private" in args
    dropped = _shim(fake_docker, "000001fffeffffff", "exec", "--privileged", "n", "true")
    assert dropped == ["exec", "n", "true"]


def test_shim_passes_other_commands_through(fake_docker):
    for args in (["ps", "-a"], ["run", "--rm", "busybox"], ["build", "."]):
        assert _shim(fake_docker, "000001fffeffffff", *args) == args


@pytest.fixture(scope="module")
def netcheck(tmp_path_factory) -> Path:
    go = shutil.which("go")
    # Not a skip: the node image and every tool are built with Go (make tools needs it too), so a
    # machine without it cannot run what this tests.
    assert go, "no Go toolchain: install golang-go (make tools and the kind node image need it)"
    out = tmp_path_factory.mktemp("netcheck") / "netcheck"
    subprocess.run(
        [go, "build", "-o", str(out), "./netcheck"],
        cwd=NODE / "build",
        check=True,
        timeout=600,
    )
    return out


def _run(netcheck: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(netcheck), *args], capture_output=True, text=True, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_netcheck_reports_reachable_and_blocked(netcheck):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello\n")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        ok = _run(netcheck, "tcp", f"127.0.0.1:{port}")
        assert ok.returncode == 0 and ok.stdout.startswith("connected "), ok
        got = _run(netcheck, "http", f"http://127.0.0.1:{port}/")
        assert got.returncode == 0 and got.stdout == "hello\n", got
        # verify-netpol.sh counts a check as blocked only on exit 1 with "FAIL: ..."
        closed = _run(netcheck, "tcp", f"127.0.0.1:{_free_port()}")
        assert closed.returncode == 1 and closed.stdout.startswith("FAIL: "), closed
    finally:
        server.shutdown()


def test_netcheck_serves_health_and_ports(netcheck):
    port = _free_port()
    proc = subprocess.Popen([netcheck, "serve", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == f"serving on :{port}"
        health = _run(netcheck, "http", f"http://127.0.0.1:{port}/healthz")
        assert health.returncode == 0 and health.stdout == "ok\n"
        page = _run(netcheck, "http", f"http://127.0.0.1:{port}/")
        assert page.returncode == 0 and page.stdout.endswith(f" {port}\n")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0  # exits cleanly on SIGTERM (it is PID 1 in its pod)
