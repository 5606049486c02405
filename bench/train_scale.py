"""Training cost on grown data (bench/grow_data.py): x1 (the real file), x10, x100.

    python bench/train_scale.py 1 10 [100]

Each scale runs in a fresh interpreter: the file is validated and labelled as training does
(`adapters.data.validate`), preprocessed (`workflows.training.preprocess`: clean, tokenize,
stem, cached) and the production candidate (core.profiles.WINNER) fit on all rows, no CV and no
MLflow: the part of training that grows with the data. Prints and saves wall times and the peak
RSS ($BENCH_OUT/train_scale.json). Targets (issue 14): x100 <= 10 min, peak RSS <= 4 GB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import grow_data
from common import OUT, load_avg, machine, save, table, winner_candidate


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


if __name__ == "__main__":
    if sys.argv[1] == "_child":
        print("RESULT " + json.dumps(scale_child(int(sys.argv[2]), sys.argv[3])), flush=True)
    else:
        main([int(a) for a in sys.argv[1:]])
