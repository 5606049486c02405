"""Training benchmark: the whole training pipeline (search included) vs the seed recipe,
preprocessing throughput with and without the stem cache, and cost at data x1 / x4 / x16.

Each flow run and each scale runs in a fresh interpreter (cold stem cache, its own peak RSS).
Writes $BENCH_OUT/training.json and prints tables. BENCH_QUICK=1: quick profile, scales x1 x2.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    OUT,
    QUICK,
    load_avg,
    load_splits,
    machine,
    mlflow_server,
    params_named,
    prefect_server,
    save,
    table,
    timer,
    winner_candidate,
)

FLOW_PROFILE = "quick" if QUICK else "full"
SCALES = [1, 2] if QUICK else [1, 4, 16]
SCALE_CANDIDATE = "title-text-neg3-w1.5-C4" if QUICK else winner_candidate()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: list[str], timeout: float = 3600) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{args} failed ({out.returncode}):\n{out.stderr[-3000:]}")


# --- children ---------------------------------------------------------------------------------

def flow_child(profile: str, tracking: str, model_name: str) -> dict:
    """`run_training`, the step sequence the Prefect flow runs, each step timed."""
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.workflows.training import run_training

    steps: dict[str, float] = {}

    def timed(name, fn):
        def run(*a, **k):
            clock = timer()
            try:
                return fn(*a, **k)
            finally:
                steps[name] = steps.get(name, 0.0) + clock()
        return run

    calls = instrument()
    os.environ["MLFLOW_TRACKING_URI"] = tracking  # Settings reads it under this name only
    settings = Settings(model_name=model_name,
                        experiment=f"bench-{model_name}", search=profile)
    clock = timer()
    result = run_training(settings, profile=profile, step=timed)
    wall = clock()
    candidates = [{"name": c.params.name, "seconds": c.seconds,
                   "cv_f1_weighted": c.metrics["f1_weighted"]} for c in result.final.candidates]
    return {"profile": profile, "wall_s": wall, "steps": steps, "winner": result.final.params.name,
            "test_f1_weighted": result.final.test_metrics["f1_weighted"],
            "candidates": candidates, "peak_rss_mb": peak_rss_mb(), "calls": calls}


def instrument() -> dict[str, float]:
    """Time the MLflow-facing calls the steps make (wrapped where the steps look them up)."""
    import mlflow

    from flipkart_sentiment.adapters import registry
    from flipkart_sentiment.workflows import search, training

    calls: dict[str, float] = {}

    def wrap(owner, name, label):
        fn = getattr(owner, name)

        def timed(*a, **k):
            clock = timer()
            try:
                return fn(*a, **k)
            finally:
                calls[label] = calls.get(label, 0.0) + clock()
        setattr(owner, name, timed)

    wrap(search, "log_pipeline_model", "log pyfunc model (incl. input-example predict, upload)")
    wrap(search, "log_confusion", "confusion-matrix plots")
    wrap(search, "log_figure", "comparison plot")
    wrap(search, "cross_validate", "cross-validation fits")
    wrap(registry, "evaluate_version", "promote: load production from the registry + score")
    wrap(training, "register", "register version + tags")
    for name in ("log_params", "log_metrics", "set_tag", "set_tags", "start_run"):
        wrap(mlflow, name, f"mlflow.{name}")
    return calls


def perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 1:
        words = [w for w in words if rng.random() > 0.1] or words[:1]
    if len(words) > 2 and rng.random() < 0.5:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    if rng.random() < 0.2:
        words.append(rng.choice(["ok", "nice", "shuttle", "product", "quality", "price"]))
    return " ".join(words)


def scale_child(k: int, candidate: str) -> dict:
    import pandas as pd

    from flipkart_sentiment.core.estimators import build_pipeline
    from flipkart_sentiment.core.profiles import SEED
    from flipkart_sentiment.workflows.training import preprocess

    settings, _, splits = load_splits()
    train = splits.train
    rng = random.Random(k)
    copies = [train] + [train.assign(text=[perturb(t, rng) for t in train["text"]])
                        for _ in range(k - 1)]
    big = pd.concat(copies, ignore_index=True)
    base_rss = peak_rss_mb()
    out = {"scale": k, "rows": len(big), "distinct_texts": int(big["text"].nunique()),
           "rss_before_fit_mb": base_rss}
    clock = timer()
    preprocess(big)
    out["preprocess_s"] = clock()
    for label, params in (("seed", SEED), ("candidate", params_named(candidate))):
        clock = timer()
        build_pipeline(params, settings.seed).fit(big, big["label"])
        out[f"{label}_fit_s"] = clock()
        out[f"{label}_peak_rss_mb"] = peak_rss_mb()
    out["candidate"] = candidate
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# --- the Prefect flow ---------------------------------------------------------------------------

def prefect_flows(tmp: Path, tracking: str) -> dict:
    """The real `train-sentiment` flow (each step a Prefect task, recorded by a Prefect server),
    run the way the tests run it: the flow function in a fresh interpreter."""
    import httpx
    from sentiment_testkit.servers import flow_env, flow_result, prefect_auth, run_flow

    from flipkart_sentiment.config import DEFAULT_DATA_PATH

    out = {}
    with prefect_server(tmp / "prefect") as prefect:
        for profile in ("seed", FLOW_PROFILE):
            env = flow_env({"url": tracking}, prefect, SENTIMENT_MODEL_NAME=f"bench-flow-{profile}",
                           SENTIMENT_EXPERIMENT=f"bench-flow-{profile}")
            clock = timer()
            proc = run_flow(env, data_path=os.environ.get("SENTIMENT_DATA_PATH",
                                                          str(DEFAULT_DATA_PATH)), search=profile)
            wall = clock()
            result = flow_result(proc)
            runs = httpx.post(f"{prefect['api']}/flow_runs/filter", auth=prefect_auth(),
                              json={"sort": "START_TIME_DESC", "limit": 1}, timeout=30).json()
            out[profile] = {"process_wall_s": wall, "flow_run_s": runs[0]["total_run_time"],
                            "state": runs[0]["state_type"], "version": result["version"],
                            "test_f1_weighted": result["test_f1_weighted"], "load": load_avg()}
            print(f"  prefect flow profile={profile:5s} flow run {out[profile]['flow_run_s']:6.1f}s"
                  f"  process {wall:6.1f}s  {out[profile]['state']}", flush=True)
    return out


# --- in-process parts -------------------------------------------------------------------------

def preprocessing_throughput() -> dict:
    from flipkart_sentiment.core import text as T

    _, data, _ = load_splits()
    texts = list(data.frame["text"]) + list(data.frame["title"])
    n_reviews = len(data.frame)
    uncached = T.stem.__wrapped__

    def tokenize_uncached(cleaned: str) -> list[str]:
        return [uncached(w) for w in cleaned.split() if w not in T.STOP_WORDS]

    def run(fn, repeats=3) -> float:
        best = float("inf")
        for _ in range(repeats):
            clock = timer()
            fn()
            best = min(best, clock())
        return n_reviews / best

    cleaned = [T.clean(t) for t in texts]
    res = {}
    T.stem.cache_clear()
    clock = timer()
    for t in texts:
        T.analyze(t)
    res["clean+tokenize+stem, cold cache (first pass)"] = n_reviews / clock()
    res["clean+tokenize+stem, warm stem cache"] = run(lambda: [T.analyze(t) for t in texts])
    res["clean+tokenize+stem, no stem cache"] = run(
        lambda: [tokenize_uncached(T.clean(t)) for t in texts], repeats=1 if QUICK else 2)
    res["clean only"] = run(lambda: [T.clean(t) for t in texts])
    res["tokenize+stem only, warm cache"] = run(lambda: [T.tokenize(c) for c in cleaned])
    res["tokenize+stem only, no cache"] = run(lambda: [tokenize_uncached(c) for c in cleaned],
                                              repeats=1 if QUICK else 2)
    return {"reviews": n_reviews, "fields_per_review": 2, "reviews_per_s": res,
            "stem_cache_size": T.stem.cache_info().currsize}


def main() -> dict:
    info = machine()
    print(f"training benchmark ({'quick' if QUICK else 'full'}): load {info['load_avg_1_5_15']}",
          flush=True)
    pre = preprocessing_throughput()
    for k, v in pre["reviews_per_s"].items():
        print(f"  preprocess {k:50s} {v:10,.0f} reviews/s", flush=True)
    flows = {}
    with tempfile.TemporaryDirectory(dir=OUT) as tmp, mlflow_server(Path(tmp) / "mlflow") as uri:
        for profile in ("seed", FLOW_PROFILE):
            flows[profile] = child(["_flow", profile, uri, f"bench-{profile}"])
            flows[profile]["load"] = load_avg()
            print(f"  run_training profile={profile:5s} {flows[profile]['wall_s']:7.1f}s "
                  f"(search {flows[profile]['steps'].get('search', 0):.1f}s) "
                  f"winner {flows[profile]['winner']}", flush=True)
        prefect = prefect_flows(Path(tmp), uri)
    scales = []
    for k in SCALES:
        r = child(["_scale", str(k), SCALE_CANDIDATE]) | {"load": load_avg()}
        scales.append(r)
        print(f"  x{k:<3d} {r['rows']:7d} rows  preprocess {r['preprocess_s']:6.1f}s  seed fit "
              f"{r['seed_fit_s']:6.1f}s  candidate fit {r['candidate_fit_s']:6.1f}s  peak RSS "
              f"{r['peak_rss_mb']:6.0f} MB", flush=True)
    result = {"machine": info, "flow_profile": FLOW_PROFILE, "flows": flows, "prefect": prefect,
              "preprocessing": pre, "scales": scales, "load_after": load_avg()}
    save("training", result)
    print(render(result))
    return result


def render(r: dict) -> str:
    out = []
    if r.get("prefect"):
        seed = r["prefect"]["seed"]
        rows = [[f"`train-sentiment`, profile `{name}`"
                 + (" (the seed recipe, baseline)" if name == "seed" else " (the production flow)"),
                 f"{f['flow_run_s']:.1f}", f"{f['flow_run_s'] / seed['flow_run_s']:.1f}x",
                 f"{f['process_wall_s']:.1f}", f"{f['process_wall_s'] / seed['process_wall_s']:.1f}x",
                 f["state"], f"{f['test_f1_weighted']:.4f}", f["load"]]
                for name, f in r["prefect"].items()]
        out += ["### Training: the Prefect flow on the real data", "",
                "Flow run time as the Prefect server records it (first task to last), and the "
                "wall time of the whole process (interpreter start, imports, flow, exit).", "",
                table(["flow run", "flow run s", "vs seed", "process wall s", "vs seed", "state",
                       "test weighted F1", "load 1/5/15"], rows), ""]
    seed = r["flows"]["seed"]
    rows = []
    for name, f in r["flows"].items():
        rows.append([f"profile `{name}`" + (" (the seed recipe, baseline)" if name == "seed" else
                                             " (the production flow)"),
                     len(f["candidates"]), f"{f['wall_s']:.1f}", f"{f['wall_s'] / seed['wall_s']:.1f}x",
                     f"{f['steps'].get('search', 0):.1f}", f"{f['steps'].get('evaluate', 0):.1f}",
                     f"{sum(v for k, v in f['steps'].items() if k not in ('search', 'evaluate')):.1f}",
                     f"{f['peak_rss_mb']:.0f}", f["winner"], f["load"]])
    out += ["### Training: the step sequence without Prefect (`run_training`), real data", "",
           table(["run", "candidates", "wall s", "vs seed", "search s", "evaluate s",
                  "other steps s", "peak RSS MB", "winner", "load 1/5/15"], rows), ""]
    full = r["flows"][r["flow_profile"]]
    if full.get("calls"):
        out += [f"Where the `{r['flow_profile']}` run's time goes (wall {full['wall_s']:.1f} s; "
                "wrapped calls, they overlap where one contains another):", "",
                table(["call", "seconds", "share of wall"],
                      [[k, f"{v:.1f}", f"{v / full['wall_s']:.0%}"]
                       for k, v in sorted(full["calls"].items(), key=lambda kv: -kv[1])]), ""]
    out += ["Per candidate (CV folds + refit on train, logging excluded), profile "
            f"`{r['flow_profile']}`:", "",
            table(["candidate", "seconds", "CV weighted F1"],
                  [[c["name"], f"{c['seconds']:.1f}", f"{c['cv_f1_weighted']:.4f}"]
                   for c in full["candidates"]]), ""]
    pre = r["preprocessing"]["reviews_per_s"]
    warm = pre["clean+tokenize+stem, warm stem cache"]
    out += [f"### Preprocessing throughput ({r['preprocessing']['reviews']} reviews, title + text)",
            "", table(["what", "reviews/s", "vs warm cache"],
                      [[k, v, f"{v / warm:.2f}x"] for k, v in pre.items() if v]), ""]
    base = r["scales"][0]
    rows = [[f"x{s['scale']}", s["rows"], s["distinct_texts"], f"{s['preprocess_s']:.1f}",
             f"{s['seed_fit_s']:.1f}", f"{s['candidate_fit_s']:.1f}",
             f"{s['candidate_fit_s'] / base['candidate_fit_s'] / s['scale']:.2f}",
             f"{s['rss_before_fit_mb']:.0f}", f"{s['peak_rss_mb']:.0f}", s["load"]]
            for s in r["scales"]]
    out += [f"### Scaling: train split replicated with perturbations (word drop/swap/add), fits of "
            f"the seed recipe and of `{r['scales'][0]['candidate']}` (no CV, no MLflow)", "",
            table(["data", "rows", "distinct texts", "preprocess s", "seed fit s",
                   "candidate fit s", "candidate time / linear", "RSS before fit MB",
                   "peak RSS MB", "load"], rows), ""]
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_flow":
        print("RESULT " + json.dumps(flow_child(*sys.argv[2:5])), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "_scale":
        print("RESULT " + json.dumps(scale_child(int(sys.argv[2]), sys.argv[3])), flush=True)
    else:
        main()
