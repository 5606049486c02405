"""Shared helpers for the benchmarks: settings, data, machine facts, process-tree RSS, tables."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false", "no")
OUT = Path(os.environ.get("BENCH_OUT", ROOT / ".run" / "bench"))
OUT.mkdir(parents=True, exist_ok=True)
VENV_BIN = Path(sys.executable).parent


def winner_candidate() -> str:
    """The model the full search selects (core.profiles.WINNER, the local platform's
    @production), unless BENCH_PRODUCTION_CANDIDATE names another."""
    from flipkart_sentiment.core.profiles import WINNER

    return os.environ.get("BENCH_PRODUCTION_CANDIDATE", WINNER)


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict:
    from importlib.metadata import version

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    try:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        wrk = "not installed"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git("rev-parse", "--short", "HEAD")
        + (" (dirty tree)" if git("status", "--porcelain", "--untracked-files=no") else ""),
        "nproc": os.cpu_count(),
        "load_avg_1_5_15": load_avg(),
        "python": platform.python_version(),
        "mlflow": version("mlflow"),
        "scikit-learn": version("scikit-learn"),
        "wrk": wrk.strip(),
        "quick_mode": QUICK,
    }


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def tree_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) summed over a process and all its descendants, in MB."""
    rss = hwm = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            pass
    return {"rss_mb": rss / 1024, "peak_rss_mb": hwm / 1024}


def load_splits():
    from flipkart_sentiment.adapters.data import from_bytes, read_bytes
    from flipkart_sentiment.config import Settings
    from flipkart_sentiment.core.split import split_for_training

    settings = Settings()
    data = from_bytes(read_bytes(settings.data_path), settings.data_path, settings.label_map)
    return settings, data, split_for_training(data.frame, settings.test_size, settings.cv_folds,
                                              settings.seed)


def params_named(name: str):
    from flipkart_sentiment.core.profiles import candidate

    return candidate(name, "full")


def tree_cpu_seconds(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / ticks


def wait_quiet(pid: int, timeout: float = 90, busy: float = 0.05, calm_samples: int = 3) -> float:
    """Wait until a server's process tree stops using CPU after it answers its health check
    (MLflow's server keeps migrating and starting its job runner for a while), so the first
    measurement does not share the cores with it. Returns the seconds waited."""
    clock = timer()
    last, calm = tree_cpu_seconds(pid), 0
    while clock() < timeout and calm < calm_samples:
        time.sleep(1)
        now = tree_cpu_seconds(pid)
        calm = calm + 1 if now - last < busy else 0
        last = now
    return clock()


@contextmanager
def mlflow_server(workdir: Path):
    """A throwaway MLflow tracking server, left to go idle before it is used."""
    from sentiment_testkit.servers import served_mlflow

    workdir.mkdir(parents=True, exist_ok=True)
    with served_mlflow(workdir, workdir / "mlflow-server.log") as (url, proc):
        wait_quiet(proc.pid)
        yield url


@contextmanager
def prefect_server(workdir: Path):
    """A throwaway Prefect server (its own PREFECT_HOME), left to go idle before it is used."""
    from sentiment_testkit.servers import served_prefect

    workdir.mkdir(parents=True, exist_ok=True)
    with served_prefect(workdir, workdir / "prefect-server.log") as (api, proc):
        wait_quiet(proc.pid)
        yield {"api": api, "home": workdir}


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def save(name: str, result: dict) -> Path:
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def timer():
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
