"""Batch-scoring benchmark: `workflows.scoring.run_scoring` (read -> score -> write, the job of
the `score-reviews` flow) on grown data (bench/grow_data.py), with 1, 2 and 4 local shards, as
ratios against the 1-shard run measured in the same run (median of 3); the compiled scorer's
in-process rate on one core; and ~1M reviews end to end on every core.

The production model is the full search's pick (core.profiles.WINNER) fit on the real data and
registered as `@production` in a throwaway MLflow store. Each measurement runs in a fresh
interpreter (what a flow run or `flipkart-sentiment score` pays: imports, model load, spawn).
Writes $BENCH_OUT/batch_scoring.json. BENCH_QUICK=1: x2 data, one run, no 1M run.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grow_data
from common import OUT, QUICK, load_avg, machine, save, table, winner_candidate

SCALE = 2 if QUICK else 10
SHARDS = [1, 2, 4]
RUNS = 1 if QUICK else 3
MILLION_SCALE = 118  # 8,518 x 118 = 1,005,124 reviews
NAME = "flipkart-sentiment"


def child(args: list[str], env: dict, timeout: float = 1800) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         timeout=timeout, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{args} failed ({out.returncode}):\n{out.stderr[-3000:]}")


# --- children ---------------------------------------------------------------------------------

def register_child(candidate: str) -> dict:
    import mlflow
    from mlflow.tracking import MlflowClient

    from flipkart_sentiment.adapters.data import from_bytes, read_bytes
    from flipkart_sentiment.adapters.tracking import log_pipeline_model
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.core.estimators import build_pipeline
    from flipkart_sentiment.core.profiles import candidate as named

    settings = Settings()
    frame = from_bytes(read_bytes(settings.data_path), settings.data_path).frame
    pipeline = build_pipeline(named(candidate, "full"), settings.seed).fit(frame, frame["label"])
    mlflow.set_tracking_uri(settings.tracking_uri)
    with mlflow.start_run():
        info = log_pipeline_model(pipeline)
    version = str(mlflow.register_model(info.model_uri, NAME).version)
    MlflowClient().set_registered_model_alias(NAME, "production", version)
    return {"version": version, "candidate": candidate}


def score_child(path: str, shards: int, out: str) -> dict:
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.workflows.scoring import run_scoring

    started = time.perf_counter()
    summary = run_scoring(Settings(), path, shards=shards, workers=shards, output_uri=out)
    wall = time.perf_counter() - started
    Path(out).unlink()
    return {"rows": summary.rows, "wall_s": wall, "shard_s": summary.shard_seconds,
            "reviews_per_s": summary.rows / wall,
            "peak_rss_parent_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_rss_shard_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def inprocess_child(path: str) -> dict:
    """The compiled scorer alone on one core: titles and texts in memory, no I/O."""
    import mlflow
    import pyarrow.parquet as pq

    from flipkart_sentiment.config import Settings

    mlflow.set_tracking_uri(Settings().tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@production").unwrap_python_model()
    table = pq.read_table(path, columns=["Review Title", "Review text"])
    titles = table.column("Review Title").to_pylist()
    texts = table.column("Review text").to_pylist()
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for i in range(0, len(texts), 20_000):
            model.scorer.predict_proba(titles[i:i + 20_000], texts[i:i + 20_000])
        best = max(best, len(texts) / (time.perf_counter() - started))
    return {"rows": len(texts), "reviews_per_s": best}


# --- the benchmark ----------------------------------------------------------------------------

def main() -> dict:
    info = machine()
    print(f"batch-scoring benchmark ({'quick' if QUICK else 'full'}): load {info['load_avg_1_5_15']}",
          flush=True)
    data = OUT.resolve().parent / "data"
    started = time.perf_counter()
    grown = grow_data.grow(SCALE, out=data / f"reviews_x{SCALE}.parquet")
    grow_s = time.perf_counter() - started
    print(f"  grew x{SCALE} -> {grown} in {grow_s:.1f}s", flush=True)
    result = {"machine": info, "scale": SCALE, "grow_s": grow_s, "runs": RUNS}
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        env = os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
                            "MLFLOW_REGISTRY_URI": f"sqlite:///{tmp}/mlflow.db",
                            "SENTIMENT_MODEL_NAME": NAME}
        os.chdir(tmp)  # the sqlite store's default artifact root (./mlruns) goes here too
        result["model"] = child(["_register", winner_candidate()], env)
        print(f"  model {result['model']}", flush=True)
        result["in_process"] = child(["_inprocess", str(grown)], env)
        print(f"  compiled scorer in-process, one core: "
              f"{result['in_process']['reviews_per_s']:,.0f} reviews/s", flush=True)
        runs: dict[int, list[dict]] = {s: [] for s in SHARDS}
        for r in range(RUNS):
            for shards in SHARDS:
                got = child(["_score", str(grown), str(shards), f"{tmp}/out.parquet"], env)
                got["load"] = load_avg()
                runs[shards].append(got)
                print(f"  run {r + 1} shards {shards}: {got['rows']:,} rows in {got['wall_s']:.1f}s "
                      f"= {got['reviews_per_s']:,.0f} reviews/s (load {got['load']})", flush=True)
        result["shards"] = {str(s): v for s, v in runs.items()}
        if not QUICK:
            big = grow_data.grow(MILLION_SCALE, out=data / f"reviews_x{MILLION_SCALE}.parquet")
            cpus = os.cpu_count() or 1
            result["million_by_shards"] = {}
            for shards in sorted({1, cpus}):
                got = child(["_score", str(big), str(shards), f"{tmp}/out.parquet"], env)
                got |= {"shards": shards, "load": load_avg()}
                result["million_by_shards"][str(shards)] = got
                print(f"  1M: {got['rows']:,} rows on {shards} shard(s) in {got['wall_s']:.1f}s "
                      f"(load {got['load']})", flush=True)
            result["million"] = result["million_by_shards"][str(cpus)]
    result["load_after"] = load_avg()
    save("batch_scoring", result)
    print(render(result))
    return result


def render(r: dict) -> str:
    med = {s: statistics.median(x["reviews_per_s"] for x in v) for s, v in r["shards"].items()}
    base = med["1"]
    rows = [[f"{s} shard(s)", v[0]["rows"], f"{statistics.median(x['wall_s'] for x in v):.1f}",
             med[s], f"{med[s] / base:.2f}x",
             ", ".join(f"{x['reviews_per_s']:,.0f}" for x in v),
             ("- / " if s == "1" else f"{max(x['peak_rss_shard_mb'] for x in v):.0f} / ")
             + f"{max(x['peak_rss_parent_mb'] for x in v):.0f}"]
            for s, v in r["shards"].items()]
    out = [f"Batch scoring (`run_scoring`: stage, score in shard processes, merge to Parquet) of "
           f"x{r['scale']} grown data (bench/grow_data.py), model `{r['model']['candidate']}`, "
           f"each run a fresh interpreter; median of {r['runs']} run(s), ratio against the "
           "1-shard median of the same run.", "",
           table(["local shards", "rows", "wall s (median)", "reviews/s (median)", "vs 1 shard",
                  "each run, reviews/s", "peak RSS MB: a shard process / the job's"], rows), "",
           f"- compiled scorer in-process, one core, no I/O: "
           f"{r['in_process']['reviews_per_s']:,.0f} reviews/s (target >= 100,000)"]
    if r.get("million"):
        m = r["million"]
        out.append(f"- {m['rows']:,} reviews end to end (read -> score -> write Parquet) on "
                   f"{m['shards']} shards: {m['wall_s']:.1f} s = {m['reviews_per_s']:,.0f} reviews/s "
                   f"(target <= 60 s on 2 cores); peak RSS a shard {m['peak_rss_shard_mb']:.0f} MB, "
                   f"parent {m['peak_rss_parent_mb']:.0f} MB")
        one = r.get("million_by_shards", {}).get("1")
        if one and m["shards"] != 1:
            out.append(f"- the same on 1 shard (in the job's process): {one['wall_s']:.1f} s = "
                       f"{one['reviews_per_s']:,.0f} reviews/s; {m['shards']} shards are "
                       f"{one['wall_s'] / m['wall_s']:.2f}x as fast; peak RSS "
                       f"{one['peak_rss_parent_mb']:.0f} MB")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_register":
        print("RESULT " + json.dumps(register_child(sys.argv[2])), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "_score":
        print("RESULT " + json.dumps(score_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])),
              flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "_inprocess":
        print("RESULT " + json.dumps(inprocess_child(sys.argv[2])), flush=True)
    else:
        main()
