"""Screenshots of what an operator sees in the local platform's UIs (`make screenshots`).

After `make demo`: MLflow (runs table, a run's plots, the registered model, the production
version's card) and Prefect (the training flow run and its steps' logs, its deployment, the
training-summary artifact), captured with Debian's Chromium
into docs/img/ (or --out DIR). Reads the platform's ports from MLFLOW_PORT/PREFECT_PORT and its
credentials from $RUN_DIR/credentials.env, as scripts/local/platform.sh writes them.

    python scripts/local/screenshots.py [--out DIR] [--max-kb 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx
from sentiment_testkit import browser as ui
from sentiment_testkit.paths import ROOT

MODEL = os.environ.get("SENTIMENT_MODEL_NAME", "flipkart-sentiment")
EXPERIMENT = os.environ.get("SENTIMENT_EXPERIMENT", MODEL)
FLOW, DEPLOYMENT, ARTIFACT_KEY = "train-sentiment", "daily", "training-summary"
# Runs-table columns, each with the name older runs logged it under.
METRIC_COLUMNS = [("test/f1_weighted", "test_f1_weighted"), ("test/f1_macro", "test_f1_macro"),
                  ("cv/f1_weighted", "cv_f1_weighted")]
PLOTS = ("search_comparison.png", "confusion_matrix_test.png")  # the first the run has


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def read_credentials(run_dir: Path) -> dict[str, str]:
    path = run_dir / "credentials.env"
    if not path.exists():
        fail(f"no {path}: the local platform is not set up; run `make demo` first")
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


class Platform:
    """The running local platform: its URLs, credentials, and the things to show."""

    def __init__(self, run_dir: Path):
        host = os.environ.get("HOST", "127.0.0.1")
        self.mlflow = f"http://{host}:{os.environ.get('MLFLOW_PORT', '5000')}"
        self.prefect = f"http://{host}:{os.environ.get('PREFECT_PORT', '4200')}"
        creds = read_credentials(run_dir)
        self.mlflow_password = creds.get("MLFLOW_ADMIN_PASSWORD", "")
        self.prefect_auth = creds.get("PREFECT_AUTH_STRING", "")
        user, _, password = self.prefect_auth.partition(":")
        self._mlflow = httpx.Client(base_url=f"{self.mlflow}/api/2.0/mlflow", timeout=30,
                                    auth=("admin", self.mlflow_password))
        self._prefect = httpx.Client(base_url=f"{self.prefect}/api", timeout=30,
                                     auth=(user, password) if self.prefect_auth else None)

    def check_up(self) -> None:
        for name, url in (("MLflow", f"{self.mlflow}/health"), ("Prefect", f"{self.prefect}/api/health")):
            try:
                httpx.get(url, timeout=5).raise_for_status()
            except httpx.HTTPError as exc:
                fail(f"{name} does not answer at {url} ({type(exc).__name__}): run `make demo` first")

    def parent_run(self) -> dict:
        """The newest training run (a run without a parent) of the experiment."""
        experiment = self._mlflow.get("/experiments/get-by-name", params={"experiment_name": EXPERIMENT})
        if experiment.status_code == 404:
            fail(f"no MLflow experiment {EXPERIMENT!r} yet: run `make demo` first")
        experiment.raise_for_status()
        experiment_id = experiment.json()["experiment"]["experiment_id"]
        runs = self._mlflow.post("/runs/search", json={
            "experiment_ids": [experiment_id], "order_by": ["attributes.start_time DESC"],
            "max_results": 200}).raise_for_status().json().get("runs", [])
        for run in runs:
            tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
            if "mlflow.parentRunId" not in tags:
                return run["info"]
        fail(f"no training run in MLflow experiment {EXPERIMENT!r}: run `make demo` first")

    def plot(self, run_id: str) -> str:
        files = self._mlflow.get("/artifacts/list", params={"run_id": run_id}).raise_for_status()
        pngs = [f["path"] for f in files.json().get("files", []) if f["path"].endswith(".png")]
        for name in PLOTS:
            if name in pngs:
                return name
        if not pngs:
            fail(f"run {run_id} has no PNG artifact at its top level")
        return pngs[0]

    def flow_run(self) -> dict:
        """The newest training flow run that ran (not a scheduled one)."""
        runs = self._prefect.post("/flow_runs/filter", json={
            "flows": {"name": {"any_": [FLOW]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "RUNNING",
                                                        "CANCELLED"]}}},
            "sort": "START_TIME_DESC", "limit": 1}).raise_for_status().json()
        if not runs:
            fail(f"no run of the Prefect flow {FLOW!r}: run `make demo` first")
        return runs[0]

    def production_version(self) -> str:
        response = self._mlflow.get("/registered-models/alias",
                                    params={"name": MODEL, "alias": "production"})
        if response.status_code == 404:
            fail(f"no {MODEL}@production yet: run `make demo` first")
        return response.raise_for_status().json()["model_version"]["version"]

    def deployment(self) -> dict:
        response = self._prefect.get(f"/deployments/name/{FLOW}/{DEPLOYMENT}")
        if response.status_code == 404:
            fail(f"no Prefect deployment {FLOW}/{DEPLOYMENT}: run `make demo` first")
        return response.raise_for_status().json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img",
                        help="directory for the PNGs (default: docs/img)")
    parser.add_argument("--max-kb", type=int, default=300,
                        help="a larger PNG is reduced to 256 colours (default: 300)")
    parser.add_argument("--mlflow-view", choices=["machine_learning", "genai", "default"],
                        default="machine_learning",
                        help="MLflow's navigation, as its GenAI / Model training switch sets it "
                             "(default: machine_learning; 'default': the UI's own, GenAI)")
    args = parser.parse_args(argv)
    run_dir = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
    platform = Platform(run_dir)
    platform.check_up()
    run = platform.parent_run()
    plot = platform.plot(run["run_id"])
    flow_run, deployment = platform.flow_run(), platform.deployment()
    out: Path = args.out
    max_bytes = args.max_kb * 1000

    def shot(page, name: str, what: str) -> None:
        ui.settle(page, 3_000)
        size = ui.save_png(page, out / name, max_bytes=max_bytes)
        print(f"  {out / name}  {size / 1000:.0f} KB  ({what})", flush=True)

    print(f"capturing into {out}: MLflow {platform.mlflow}, Prefect {platform.prefect}", flush=True)
    start = time.monotonic()
    with ui.chromium() as browser:
        view = None if args.mlflow_view == "default" else args.mlflow_view
        mlflow = ui.mlflow_context(browser, "admin", platform.mlflow_password, workflow_type=view)
        page = mlflow.new_page()
        ui.open_runs_table(page, platform.mlflow, EXPERIMENT)
        columns = ui.show_columns(page, METRIC_COLUMNS)
        ui.expand_run(page, run.get("run_name"))
        if columns:
            ui.scroll_to_columns(page, columns)
        shot(page, "mlflow-runs.png", f"runs table, {run.get('run_name')} expanded, columns {columns}")
        ui.open_run_artifact(page, platform.mlflow, run["run_id"], plot)
        shot(page, "mlflow-run-plots.png", f"run {run.get('run_name')}, artifact {plot}")
        ui.open_registered_model(page, platform.mlflow, MODEL)
        shot(page, "mlflow-model.png", f"registered model {MODEL}")
        version = platform.production_version()
        ui.open_model_version(page, platform.mlflow, MODEL, version)
        shot(page, "mlflow-version.png", f"{MODEL} version {version}, its card")
        mlflow.close()

        prefect = ui.prefect_context(browser, platform.prefect_auth)
        page = prefect.new_page()
        ui.open_flow_run(page, platform.prefect, flow_run["id"], flow_run["name"], platform.prefect_auth)
        shot(page, "prefect-flow-run.png", f"flow run {flow_run['name']}")
        ui.scroll_to_log(page, "winner of ")
        shot(page, "prefect-flow-run-logs.png", f"flow run {flow_run['name']}, the steps' logs")
        ui.open_deployment(page, platform.prefect, deployment["id"], deployment["name"],
                           platform.prefect_auth, flow_run_name=flow_run["name"])
        shot(page, "prefect-deployment.png", f"deployment {FLOW}/{deployment['name']}")
        ui.open_custom_run(page, platform.prefect, deployment["id"], platform.prefect_auth,
                           choose="search")
        shot(page, "prefect-custom-run.png",
             f"deployment {FLOW}/{deployment['name']}, a custom run's parameter form")
        ui.open_artifact(page, platform.prefect, ARTIFACT_KEY, platform.prefect_auth)
        shot(page, "prefect-artifact.png", f"artifact {ARTIFACT_KEY}")
        prefect.close()
    print(f"done in {time.monotonic() - start:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ui.BrowserMissing as exc:
        fail(str(exc))
