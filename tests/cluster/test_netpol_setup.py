"""The local cluster's NetworkPolicy enforcement (kube-router, k8s/cluster/), checked without a cluster.

The enforcement itself is tested with real traffic by `make cluster-verify-netpol`
(k8s/cluster/verify-netpol.sh, run by `make e2e-local`); these tests guard what that script cannot
see: the pinned version, the flags that keep kube-router's vulnerable router and service proxy off,
read-only RBAC, the clean-up, and the test workload's notion of "blocked".
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "k8s" / "cluster"


def _versions() -> dict[str, str]:
    out = {}
    for line in (CLUSTER / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _kube_router_command() -> str:
    """The `start kube-router ...` command of up.sh, continuation lines joined."""
    text = (CLUSTER / "up.sh").read_text().replace("\\\n", " ")
    match = re.search(r"^start kube-router (.*)$", text, re.M)
    assert match, "up.sh does not start kube-router"
    return match.group(1)


def test_wrapper_module_pins_the_version_of_versions_env():
    version = _versions()["KUBE_ROUTER_VERSION"]
    gomod = (CLUSTER / "build" / "kube-router" / "go.mod").read_text()
    module = "github.com/cloudnativelabs/kube-router/v2"
    assert re.search(rf"^require {module} {re.escape(version)}$", gomod, re.M)
    assert f"{module} {version} " in (CLUSTER / "build" / "kube-router" / "go.sum").read_text()


def test_kube_router_runs_the_firewall_only():
    cmd = _kube_router_command()
    for flag in (
        "--run-firewall=true",
        "--run-router=false",  # GoBGP: GO-2026-5653, GO-2026-4736
        "--run-service-proxy=false",  # GO-2026-4724; kube-proxy does this job
        "--run-loadbalancer=false",
        "--health-port=0",  # v2.1.0 binds it to every address
        "--metrics-port=0",
        '--service-cluster-ip-range="$SERVICE_CIDR"',
        '--hostname-override="$NODE_NAME"',
        '--kubeconfig="$CONF/kube-router.conf"',
    ):
        assert flag in cmd, flag


def test_rbac_is_read_only_and_names_the_certificate_user():
    docs = list(yaml.safe_load_all((CLUSTER / "manifests" / "kube-router-rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs <= {"get", "list", "watch"}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    # kube-router exits unless all of its informers sync.
    informers = {"pods", "namespaces", "nodes", "networkpolicies", "services", "endpoints", "endpointslices"}
    assert informers <= resources
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    user = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kube-router"}
    assert binding["subjects"] == [user]
    assert re.search(r"^mkcert kube-router kube-router ", (CLUSTER / "up.sh").read_text(), re.M)


def test_down_removes_what_kube_router_leaves():
    down = (CLUSTER / "down.sh").read_text()
    assert down.index("stop kube-router") < down.index("stop kubelet")
    assert down.index('-X "$chain"') < down.index("ipset destroy")  # rules first, then their sets
    assert "KUBE-SRC-|KUBE-DST-" in down
    assert 'ip rule del iif "$CNI_BRIDGE" to "$SERVICE_CIDR" unreachable' in down


@pytest.mark.parametrize("script", ["up.sh", "down.sh", "build.sh", "verify-netpol.sh"])
def test_scripts_parse(script):
    assert (CLUSTER / script).stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(CLUSTER / script)], check=True)


@pytest.fixture(scope="module")
def netcheck(tmp_path_factory) -> Path:
    go = shutil.which("go")
    # Not a skip: the cluster and every tool are built with Go (make tools needs it too), so a
    # machine without it cannot run what this tests.
    assert go, "no Go toolchain: install golang-go (make tools and the local cluster need it)"
    out = tmp_path_factory.mktemp("netcheck") / "netcheck"
    subprocess.run(
        [go, "build", "-o", str(out), "./netcheck"],
        cwd=CLUSTER / "build",
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
