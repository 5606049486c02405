"""Training cost on grown data (bench/grow_data.py): x1 (the real file), x10, x100.

    python bench/train_scale.py 1 10 [100]          # fit only
    python bench/train_scale.py flow 1 10 [100]     # the whole training flow

Each scale runs in a fresh interpreter. Fit only: the file is validated and labelled as training
does (`adapters.data.validate`), preprocessed (`workflows.training.preprocess`: clean, tokenize,
stem, cached) and the production candidate (core.profiles.WINNER) fit on all rows, no CV and no
MLflow: the part of training that grows with the data. Prints and saves wall times and the peak
RSS ($BENCH_OUT/train_scale.json). Targets (issue 14): x100 <= 10 min, peak RSS <= 4 GB.

Whole flow: `workflows.training.run_training`, the function the Prefect flow runs, with the
`full` search profile (BENCH_TRAIN_PROFILE) and the settings of the environment
(SENTIMENT_SEARCH_MAX_ROWS ...), on the CSV of that scale, against a throwaway MLflow (SQLite,
artifacts in a temporary folder), with a production version already registered (the seed
recipe fit on x1, in an interpreter of its own) so the gate scores a champion on the whole test
split. Each step's wall time and the peak RSS of the process tree during it (the gate scores
the champion in a child process; a Job's memory limit counts both), and the whole run's peak
(that, or the process's ru_maxrss if higher) go to $BENCH_OUT/train_scale_flow.json.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grow_data
from common import OUT, load_avg, machine, save, table, tree_memory_mb, winner_candidate

PROFILE = os.environ.get("BENCH_TRAIN_PROFILE", "full")


def scale_child(k: int, candidate: str) -> dict:
    import pyarrow.parquet as pq

    from flipkart_sentiment.adapters.data import validate
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.core.estimators import build_pipeline
    from flipkart_sentiment.core.profiles import candidate as named
    from flipkart_sentiment.workflows.training import preprocess

    path = OUT.resolve().parent / "data" / f"reviews_x{k}.parquet"
    if not path.exists():
        grow_data.grow(k, out=path)
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
    settings = Settings()
    started = time.perf_counter()
    frame, _ = validate(pq.read_table(path).to_pandas(), str(path), settings.label_map)
    out = {"scale": k, "rows": len(frame), "load_s": time.perf_counter() - started,
           "rss_after_load_mb": peak()}
    t = time.perf_counter()
    preprocess(frame)
    out["preprocess_s"] = time.perf_counter() - t
    t = time.perf_counter()
    build_pipeline(named(candidate, "full"), settings.seed).fit(frame, frame["label"])
    out["fit_s"] = time.perf_counter() - t
    out["total_s"] = time.perf_counter() - started
    out["peak_rss_mb"] = peak()
    out["candidate"] = candidate
    return out


def main(scales: list[int]) -> dict:
    results = []
    for k in scales:
        proc = subprocess.run([sys.executable, __file__, "_child", str(k), winner_candidate()],
                              capture_output=True, text=True, timeout=3600)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"x{k} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        r = json.loads(line[7:]) | {"load": load_avg()}
        results.append(r)
        print(f"  x{k}: {r['rows']:,} rows, load {r['load_s']:.1f}s, preprocess "
              f"{r['preprocess_s']:.1f}s, fit {r['fit_s']:.1f}s, total {r['total_s']:.1f}s, "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB (load avg {r['load']})", flush=True)
        save("train_scale", {"machine": machine(), "scales": results})
    print(table(["scale", "rows", "preprocess s", "fit s", "total s", "peak RSS MB"],
                [[f"x{r['scale']}", r["rows"], r["preprocess_s"], r["fit_s"], r["total_s"],
                  r["peak_rss_mb"]] for r in results]))
    return {"scales": results}


def csv_of(k: int) -> Path:
    if k == 1:
        return grow_data.DATA
    path = OUT.resolve().parent / "data" / f"reviews_x{k}.csv"
    if not path.exists():
        grow_data.grow(k, fmt="csv", out=path)
    return path


class StepMeter:
    """A `run_training` step wrapper: each step's wall time and the peak RSS of this process and
    its children while it ran (sampled every 0.2 s)."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}
        self.sizes: dict[str, int] = {}
        self._peak = 0.0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self._peak = max(self._peak, tree_memory_mb(os.getpid())["rss_mb"])
            time.sleep(0.2)

    def step(self, name: str, fn):
        def run(*args, **kwargs):
            self._peak = tree_memory_mb(os.getpid())["rss_mb"]
            started = time.perf_counter()
            try:
                value = fn(*args, **kwargs)
                if name == "split":
                    self.sizes = value.sizes()
                return value
            finally:
                self.steps[name] = {"s": time.perf_counter() - started, "peak_rss_mb": self._peak}
                print(f"    {name}: {self.steps[name]['s']:.1f}s, peak RSS {self._peak:,.0f} MB",
                      file=sys.stderr, flush=True)
        return run


def champion_child() -> None:
    """A production version for the gate to beat: the seed recipe on the real file."""
    import mlflow

    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.workflows.training import run_training

    settings = Settings()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.create_experiment(settings.experiment, artifact_location=os.environ["BENCH_ARTIFACTS"])
    result = run_training(settings, str(grow_data.DATA), "seed")
    assert result.decision.promote, result.decision.reason


def flow_child(k: int, profile: str) -> dict:
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.workflows.training import run_training

    path = csv_of(k)
    meter = StepMeter()
    settings = Settings()
    started = time.perf_counter()
    result = run_training(settings, str(path), profile, step=meter.step)
    total = time.perf_counter() - started
    # The sampler can miss a short spike, which ru_maxrss does not; the children's ru_maxrss is
    # no use here (a forked child counts the parent's pages until it execs).
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"scale": k, "rows": result.data_stats["rows_used"], "profile": profile,
            "search_max_rows": settings.search_max_rows, **meter.sizes, "steps": meter.steps,
            "total_s": total,
            "peak_rss_mb": max(maxrss, *(s["peak_rss_mb"] for s in meter.steps.values())),
            "maxrss_self_mb": maxrss,
            "candidate": result.final.params.name,
            "test_f1_weighted": result.final.test_metrics["f1_weighted"],
            "gate": result.decision.reason}


def main_flow(scales: list[int]) -> dict:
    results = []
    for k in scales:
        work = Path(tempfile.mkdtemp(prefix=f"train-scale-x{k}-"))
        env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
                            "BENCH_ARTIFACTS": (work / "artifacts").as_uri(),
                            "SENTIMENT_ROLLOUT_TARGET": "none", "SENTIMENT_LABELED_DATA": "",
                            "TQDM_DISABLE": "1",
                            "SENTIMENT_GIT_COMMIT": machine()["git_commit"]}
        try:
            subprocess.run([sys.executable, __file__, "_champion"], env=env, check=True,
                           capture_output=True, timeout=1800)
            proc = subprocess.run([sys.executable, __file__, "_flow", str(k), PROFILE], env=env,
                                  stdout=subprocess.PIPE, text=True, timeout=7200)
            artifacts_mb = sum(f.stat().st_size for f in work.rglob("*") if f.is_file()) / 2**20
        finally:
            shutil.rmtree(work, ignore_errors=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"x{k} flow failed ({proc.returncode})")
        r = json.loads(line[7:]) | {"load": load_avg(), "mlflow_store_mb": artifacts_mb}
        results.append(r)
        print(f"  x{k} flow ({r['profile']}, search_max_rows {r['search_max_rows']}): "
              f"{r['rows']:,} rows, total {r['total_s']:.1f}s, peak RSS {r['peak_rss_mb']:,.0f} MB "
              f"(load avg {r['load']})", flush=True)
        save("train_scale_flow", {"machine": machine(), "scales": results})
    steps = ["split", "preprocess", "search", "refit", "evaluate", "register", "promote"]
    print(table(["scale", "rows", "search rows", *(f"{s} s" for s in steps), "total s",
                 "peak RSS MB"],
                [[f"x{r['scale']}", r["rows"], r["search_rows"],
                  *(r["steps"].get(s, {}).get("s") for s in steps), r["total_s"],
                  r["peak_rss_mb"]] for r in results]))
    return {"scales": results}


if __name__ == "__main__":
    if sys.argv[1] == "_child":
        print("RESULT " + json.dumps(scale_child(int(sys.argv[2]), sys.argv[3])), flush=True)
    elif sys.argv[1] == "_champion":
        champion_child()
    elif sys.argv[1] == "_flow":
        print("RESULT " + json.dumps(flow_child(int(sys.argv[2]), sys.argv[3])), flush=True)
    elif sys.argv[1] == "flow":
        main_flow([int(a) for a in sys.argv[2:]])
    else:
        main([int(a) for a in sys.argv[1:]])
