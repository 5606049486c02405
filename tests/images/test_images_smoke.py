"""Smoke tests of the four images: they build, run as uid 10001 with pinned dependencies, and do
their job against real servers (see conftest.py for the fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
from sentiment_testkit.images import (
    LOG_DIR,
    NAMES,
    ROOT,
    HostProcess,
    http,
    run,
    wait_http_ok,
)
from sentiment_testkit.servers import (
    CREDENTIALS,
    free_port,
    host_postgres_cmd,
    init_host_postgres,
    postgres_bins,
    prefect_auth,
)

pytestmark = [pytest.mark.images, pytest.mark.timeout(3600)]

LABELS = {"Positive", "Neutral", "Negative"}
# What the trainer image must hold byte for byte from src/flipkart_sentiment and flows/: the code
# and the package data (workflows/checklist.yaml).
SHIPPED = (".py", ".yaml")


@pytest.mark.parametrize("name", NAMES)
def test_image_is_non_root_and_pinned(images, name):
    image = images.get(name)
    user = run(["docker", "image", "inspect", "-f", "{{.Config.User}}", image], timeout=30)
    assert user.stdout.strip() == "10001:10001"
    uid = run(["docker", "run", "--rm", "--entrypoint", "id", image, "-u"], timeout=120)
    assert uid.stdout.strip() == "10001"
    # HOME is the app user's and writable (Prefect, matplotlib and MLflow keep state there).
    home = run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            image,
            "-c",
            'touch "$HOME/.w" && find "$HOME" ! -user 10001 | head -n 5',
        ],
        timeout=120,
    )
    assert home.stdout.strip() == "", f"not owned by 10001: {home.stdout}"
    # Every installed distribution is pinned by the lock (or images/constraints.txt).
    res = run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{ROOT}:/src:ro",
            "--entrypoint",
            "python",
            image,
            "/src/images/pins.py",
            "verify",
            "--skip",
            "flipkart-sentiment",
            "/src/requirements.lock",
            "/src/images/constraints.txt",
        ],
        timeout=120,
    )
    assert "all pinned" in res.stdout


def test_trainer_holds_current_code_and_data(images):
    """The trainer's package (code and package data), flows and data are byte-identical to the
    tree (no stale layer, no file missing from the wheel)."""
    image = images.get("trainer")
    script = (
        "import hashlib, pathlib, flipkart_sentiment as p\n"
        "roots = {'src': pathlib.Path(p.__file__).parent, 'flows': pathlib.Path('/app/flows')}\n"
        "for key, root in roots.items():\n"
        f"    for f in sorted(f for f in root.rglob('*') if f.suffix in {SHIPPED!r}):\n"
        "        print(key, f.relative_to(root), hashlib.sha256(f.read_bytes()).hexdigest())\n"
        "import os; d = os.environ['SENTIMENT_DATA_PATH']\n"
        "print('data', os.path.basename(d), hashlib.sha256(open(d, 'rb').read()).hexdigest())\n"
    )
    res = run(["docker", "run", "--rm", image, "python", "-c", script], timeout=120)
    in_image = set(res.stdout.split("\n")) - {""}

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def shipped(root: Path) -> list[Path]:
        return [f for f in root.rglob("*") if f.suffix in SHIPPED]

    tree = {
        f"src {f.relative_to(ROOT / 'src/flipkart_sentiment')} {digest(f)}"
        for f in shipped(ROOT / "src/flipkart_sentiment")
    } | {f"flows {f.relative_to(ROOT / 'flows')} {digest(f)}" for f in shipped(ROOT / "flows")}
    code_in_image = {line for line in in_image if not line.startswith("data ")}
    if code_in_image != tree:
        # The tree may be edited while the session runs: only files older than the image count.
        created = run(["docker", "image", "inspect", "-f", "{{.Created}}", image], timeout=30)
        built_at = datetime.fromisoformat(created.stdout.strip()[:26].rstrip("Z") + "+00:00")
        changed = {line.rsplit(" ", 1)[0] for line in code_in_image ^ tree}
        paths = [
            ROOT / ("src/flipkart_sentiment" if key == "src" else "flows") / rel
            for key, rel in (c.split(" ", 1) for c in changed)
        ]
        stale = [p for p in paths if p.exists() and p.stat().st_mtime < built_at.timestamp()]
        if not stale:
            pytest.skip(f"edited after the image was built: {sorted(changed)}")
        assert code_in_image == tree, f"image is stale for {stale}"
    data_sha = "3897e984cf8bdea31c58ee6663b980d40980d92b74596954ccd1bca03cdd42ae"
    assert f"data flipkart_reviews_badminton.csv {data_sha}" in in_image


def test_mlflow_image_answers_health(images, containers):
    """The image's default command (mlflow server on 5000) answers /health."""
    image = images.get("mlflow")
    port = free_port()
    name = containers.start(
        image, docker_args=("-p", f"127.0.0.1:{port}:5000"), prefix="sentiment-test-mlflow"
    )
    took = wait_http_ok(
        f"http://127.0.0.1:{port}/health",
        300,
        lambda: containers.running(name),
        f"{image} container",
    )
    code, body = http("GET", f"http://127.0.0.1:{port}/health")
    assert (code, body.strip()) == (200, "OK")
    print(f"{image}: /health 200 after {took:.0f}s")
    drivers = run(
        [
            "docker",
            "run",
            "--rm",
            image,
            "python",
            "-c",
            "import psycopg, psycopg2, boto3, mlflow; print(mlflow.__version__)",
        ],
        timeout=120,
    )
    assert drivers.stdout.strip() == "3.17.2"


def _postgres_bins() -> tuple[str, str] | None:
    return postgres_bins() if os.geteuid() == 0 else None


@pytest.mark.skipif(_postgres_bins() is None, reason="needs root and PostgreSQL server binaries")
def test_mlflow_image_with_postgres_backend(images, containers):
    """psycopg2 for real: the mlflow container migrates and uses a PostgreSQL backend store."""
    initdb, postgres = _postgres_bins()
    image = images.get("mlflow")
    # postgres refuses to run as root: run it as nobody, in a directory nobody can reach.
    base = Path(tempfile.mkdtemp(prefix="sentiment-images-pg-"))
    pgdata = init_host_postgres(base, initdb, "mlflow")
    pg_port, port = free_port(), free_port()
    pg = HostProcess(
        "host-postgres",
        host_postgres_cmd(postgres, pgdata, pg_port),
        env={**os.environ},
        cwd=pgdata,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready to accept connections" not in pg.tail(100_000):
            assert pg.alive() and time.monotonic() < deadline, f"postgres did not start\n{pg.tail()}"
            time.sleep(0.5)
        name = containers.start(
            image,
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"postgresql://mlflow@127.0.0.1:{pg_port}/postgres",
            docker_args=("--network", "host"),
            prefix="sentiment-test-mlflow-pg",
        )
        wait_http_ok(
            f"http://127.0.0.1:{port}/health",
            300,
            lambda: containers.running(name),
            f"{image} on PostgreSQL",
        )
        code, body = http(
            "POST",
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/create",
            {"name": "images-smoke"},
        )
        assert code == 200, body
        code, body = http(
            "GET",
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=images-smoke",
        )
        assert code == 200 and json.loads(body)["experiment"]["name"] == "images-smoke"
        # The psycopg2 driver works too, for charts that spell the URI postgresql+psycopg2://.
        check = (
            "import sqlalchemy as sa, sys; e = sa.create_engine(sys.argv[1]); "
            "c = e.connect(); "
            "print(c.execute(sa.text('select count(*) from experiments')).scalar())"
        )
        res = run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "host",
                image,
                "python",
                "-c",
                check,
                f"postgresql+psycopg2://mlflow@127.0.0.1:{pg_port}/postgres",
            ],
            timeout=120,
        )
        assert int(res.stdout.strip()) >= 2  # Default + images-smoke
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_prefect_image_serves_api_and_has_k8s_worker(images, containers):
    image = images.get("prefect")
    port = free_port()
    name = containers.start(
        image, docker_args=("-p", f"127.0.0.1:{port}:4200"), prefix="sentiment-test-prefect"
    )
    wait_http_ok(
        f"http://127.0.0.1:{port}/api/health",
        300,
        lambda: containers.running(name),
        f"{image} container",
    )
    res = run(["docker", "run", "--rm", image, "prefect", "worker", "start", "--help"], timeout=180)
    assert "--type" in res.stdout
    res = run(
        [
            "docker",
            "run",
            "--rm",
            image,
            "python",
            "-c",
            "import prefect_kubernetes.worker as w, asyncpg; print(w.KubernetesWorker.type)",
        ],
        timeout=180,
    )
    assert res.stdout.strip() == "kubernetes"


def test_trainer_runs_flow_and_registers_model(trained_model):
    """The trainer container ran the flow against the host MLflow and Prefect servers."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=trained_model.tracking_uri)
    mv = client.get_model_version("flipkart-sentiment", trained_model.version)
    assert mv.status == "READY"
    assert "production" in mv.aliases
    staging = client.get_model_version_by_alias("flipkart-sentiment", "staging")
    assert staging.version
    print(f"trainer: registered flipkart-sentiment v{mv.version} in {trained_model.seconds:.0f}s")

    # The flow run the container executed is COMPLETED on the Prefect server.
    code, body = http("GET", f"{trained_model.prefect_api}/flow_runs/{trained_model.flow_run_id}",
                      auth=prefect_auth())
    assert code == 200, body
    flow_run = json.loads(body)
    assert flow_run["state_type"] == "COMPLETED", flow_run.get("state")
    assert flow_run["parameters"] == {"search": "quick"}


def test_model_server_serves_production_model(images, containers, trained_model):
    """The model-server container loads models:/flipkart-sentiment@production and answers curl."""
    image = images.get("model-server")
    port = free_port()
    name = containers.start(
        image,
        docker_args=(
            "--network",
            "host",
            "-e",
            f"MLFLOW_TRACKING_URI={trained_model.tracking_uri}",
            "-e",
            f"PORT={port}",
            # the registry's read-only user, as the chart gives the model server
            *[arg for key, value in CREDENTIALS.mlflow_as("model-server").items()
              for arg in ("-e", f"{key}={value}")],
        ),
        prefix="sentiment-test-model-server",
    )
    took = wait_http_ok(
        f"http://127.0.0.1:{port}/ping", 420, lambda: containers.running(name), f"{image} container"
    )
    print(f"{image}: /ping 200 after {took:.0f}s")

    def curl(payload: dict) -> tuple[int, str]:
        res = run(
            [
                "curl",
                "-sS",
                "-m",
                "60",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-H",
                "Content-Type: application/json",
                "-d",
                json.dumps(payload),
                f"http://127.0.0.1:{port}/invocations",
            ],
            timeout=90,
        )
        body, _, code = res.stdout.rpartition("\n")
        return int(code), body

    reviews = [
        "Terrific purchase, the shuttles are great and durable",
        "Worthless. Feathers broke on the first day, waste of money",
    ]
    code, body = curl({"inputs": reviews})
    assert code == 200, body
    preds = json.loads(body)["predictions"]
    assert len(preds) == 2
    assert all(p["label"] in LABELS and 0.0 <= p["probability"] <= 1.0 for p in preds), preds
    assert preds[0]["label"] == "Positive" and preds[1]["label"] == "Negative", preds

    # Records with an optional title (the pyfunc takes {"inputs": [{"title", "text"}, ...]}).
    code, body = curl({"inputs": [{"title": "Awesome", "text": "very good quality"}]})
    assert code == 200, body
    assert json.loads(body)["predictions"][0]["label"] in LABELS

    code, body = curl({"inputs": [None]})
    assert code == 400, body
    assert "Traceback" not in body
    (LOG_DIR / "model-server-sample.json").write_text(body)


def test_images_summary(images):
    """Sizes of whatever was built this session (printed with -s / in the log)."""
    built = {n: r for n, r in images.results.items() if isinstance(r, str)}
    if not built:
        pytest.skip("no image was built in this session")
    lines = []
    for name, ref in built.items():
        size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", ref], timeout=30).stdout)
        lines.append(f"{ref}\t{size / 1e6:.0f}MB\tbuild step {images.seconds.get(name, 0)}s")
    text = "\n".join(lines)
    (LOG_DIR / "summary.txt").write_text(text + "\n")
    print(text)
    assert set(built) <= set(NAMES)
