"""Batch scoring: a CSV or Parquet file of any size, local or ``s3://``, scored in shards.

The job (`run_scoring`):

1. resolve the model version once (``production`` unless a version is given), so every shard
   scores with the same model even if the alias moves meanwhile;
2. stage the input (``adapters.batch_files.stage``: validated, a CSV converted to Parquet in
   one streaming pass) and cut it into row ranges, one per shard (`plan_shards`);
3. score the shards in parallel processes: a shard is ``ShardSpec`` (staged input, row range,
   model URI with the exact version, part path) -> a Parquet part and a ``ShardSummary``. It
   loads the model once and reads its rows a row group at a time, so memory does not grow with
   the file. `score_shard` needs nothing from the parent process, so a shard can equally be its
   own flow run (the Kubernetes fan-out: one Job per shard, the staged file and parts on S3);
4. merge the parts in order into ``<stem>.scored.<parquet|csv>`` next to the input (temporary
   name, renamed at the end: a failure leaves no partial output) and the shard summaries into
   one `ScoringSummary` (label mix, per group, the most negative reviews).

Output columns: every input column, in order, then ``predicted_label``, ``prob_<class>`` per
class and ``model_version``. A review with an empty text is still scored (from its title).
"""

from __future__ import annotations

import heapq
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..adapters import batch_files
from ..adapters.data import _find_column
from ..config import Settings

_log = logging.getLogger(__name__)

LABEL_COLUMN = "predicted_label"
PROB_PREFIX = "prob_"
VERSION_COLUMN = "model_version"
# Columns the summary groups by, if the file has one: a product, else the review title.
GROUP_COLUMNS = ("Product", "Product Name", "product_name", "Product Title", "product_title",
                 "product", "Item", "Review Title", "Review_Title", "review_title", "Title", "title")
NEGATIVE = "Negative"
TOP_NEGATIVE = 10
TOP_GROUPS = 15
# Rows scored per call of the model: bounds memory inside a row group.
SCORE_BATCH = 20_000
# Rows a shard process must have to be worth starting, when `workers` is not given.
MIN_ROWS_PER_WORKER = 100_000
# Distinct groups a shard counts before it keeps only the largest (bounds memory).
MAX_GROUPS = 50_000


class ScoringError(RuntimeError):
    """The scoring job cannot run (no production model, a shard failed); one-line message."""


@dataclass(frozen=True)
class ShardSpec:
    """One shard: everything it needs, picklable and JSON-friendly (a flow run's parameters)."""

    index: int
    input_path: str  # the staged Parquet file
    start: int
    stop: int
    model_uri: str  # models:/<name>/<exact version>, or a local copy of exactly that version
    version: str
    part_path: str
    text_column: str
    title_column: str | None
    group_column: str | None


@dataclass
class ShardSummary:
    index: int
    rows: int = 0
    seconds: float = 0.0
    labels: Counter = field(default_factory=Counter)
    groups: dict[str, Counter] = field(default_factory=dict)
    # (negative probability, row number, title, text), the highest first
    most_negative: list[tuple[float, int, str, str]] = field(default_factory=list)


def plan_shards(row_groups: list[int], shards: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, about equal, cut on row-group boundaries when there are enough
    row groups (a shard then reads no row group twice), else on rows."""
    total = sum(row_groups)
    shards = max(1, min(shards, total))
    bounds = np.cumsum([0, *row_groups])
    cuts = [0]
    for k in range(1, shards):
        want = total * k // shards
        if len(row_groups) >= shards:
            near = int(bounds[np.abs(bounds - want).argmin()])
            cut = near if near > cuts[-1] else want
        else:
            cut = want
        cuts.append(max(cut, cuts[-1]))
    cuts.append(total)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


# --- one shard ---------------------------------------------------------------------------------

_MODELS: dict[str, object] = {}


def _load_model(model_uri: str):
    """The model's pyfunc object, loaded once per process."""
    if model_uri not in _MODELS:
        import mlflow

        _MODELS[model_uri] = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    return _MODELS[model_uri]


def _proba(model, titles: list[str], texts: list[str]) -> np.ndarray:
    """The served model's probabilities (its compiled path when it has one), without the
    request checks: a batch file's empty texts are scored from their titles."""
    if getattr(model, "scorer", None) is not None:
        return model.scorer.predict_proba(titles, texts)
    import pandas as pd

    return model.pipeline.predict_proba(pd.DataFrame({"title": titles, "text": texts}))


def _strings(table: pa.Table, column: str | None) -> list[str]:
    if column is None:
        return [""] * table.num_rows
    values = table.column(column)
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.string())
    return pc.fill_null(values, "").to_pylist()


def score_table(model, classes: list[str], table: pa.Table, spec: ShardSpec) -> tuple[pa.Table, np.ndarray]:
    titles, texts = _strings(table, spec.title_column), _strings(table, spec.text_column)
    proba = np.vstack([_proba(model, titles[i:i + SCORE_BATCH], texts[i:i + SCORE_BATCH])
                       for i in range(0, len(texts), SCORE_BATCH)])
    labels = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    out = table.append_column(LABEL_COLUMN, pa.array(labels, pa.string()))
    for k, name in enumerate(classes):
        out = out.append_column(f"{PROB_PREFIX}{name}", pa.array(proba[:, k], pa.float64()))
    out = out.append_column(VERSION_COLUMN, pa.array([spec.version] * table.num_rows, pa.string()))
    return out, proba


def _summarise(summary: ShardSummary, table: pa.Table, proba: np.ndarray, classes: list[str],
               spec: ShardSpec, first_row: int) -> None:
    labels = table.column(LABEL_COLUMN).to_pylist()
    summary.labels.update(labels)
    if spec.group_column is not None:
        for group, label in zip(_strings(table, spec.group_column), labels, strict=True):
            summary.groups.setdefault(group.strip() or "(none)", Counter())[label] += 1
        if len(summary.groups) > MAX_GROUPS:  # keep the largest half; the summary shows the top
            keep = sorted(summary.groups.items(), key=lambda kv: -sum(kv[1].values()))[:MAX_GROUPS // 2]
            summary.groups = dict(keep)
    if NEGATIVE in classes:
        neg = proba[:, classes.index(NEGATIVE)]
        top = np.argsort(-neg, kind="stable")[:TOP_NEGATIVE]
        titles, texts = _strings(table, spec.title_column), _strings(table, spec.text_column)
        candidates = [(float(neg[i]), first_row + int(i), titles[i], texts[i]) for i in top]
        summary.most_negative = heapq.nlargest(TOP_NEGATIVE, summary.most_negative + candidates,
                                               key=lambda c: (c[0], -c[1]))


def score_shard(spec: ShardSpec) -> ShardSummary:
    """Score rows [start, stop) of the staged input with one model version into one part."""
    started = time.perf_counter()
    model = _load_model(spec.model_uri)
    classes = [str(c) for c in model.classes]
    summary = ShardSummary(spec.index)
    position = spec.start

    def scored() -> Iterator[pa.Table]:
        nonlocal position
        for table in batch_files.read_rows(spec.input_path, spec.start, spec.stop):
            out, proba = score_table(model, classes, table, spec)
            _summarise(summary, out, proba, classes, spec, position)
            position += table.num_rows
            yield out

    summary.rows = batch_files.write_part(scored(), Path(spec.part_path))
    summary.seconds = time.perf_counter() - started
    _log.info("shard %d: rows %d-%d scored in %.1f s (%.0f reviews/s)", spec.index, spec.start,
              spec.stop, summary.seconds, summary.rows / max(summary.seconds, 1e-9))
    return summary


# --- the job -----------------------------------------------------------------------------------

@dataclass
class ScoringSummary:
    input_uri: str
    output_uri: str
    model_name: str
    version: str
    rows: int
    shards: int
    seconds: float
    labels: Counter
    group_column: str | None
    groups: dict[str, Counter]
    most_negative: list[tuple[float, int, str, str]]
    shard_seconds: list[float]

    @property
    def reviews_per_second(self) -> float:
        return self.rows / max(self.seconds, 1e-9)

    def as_dict(self) -> dict:
        return {"input": self.input_uri, "output": self.output_uri, "model": self.model_name,
                "version": self.version, "rows": self.rows, "shards": self.shards,
                "seconds": round(self.seconds, 3), "labels": dict(self.labels),
                "reviews_per_second": round(self.reviews_per_second, 1)}

    def markdown(self) -> str:
        classes = sorted(self.labels)
        lines = [
            f"# Batch scoring: {Path(self.input_uri).name}", "",
            f"- input: `{self.input_uri}`", f"- output: `{self.output_uri}`",
            f"- model: `{self.model_name}` version {self.version}",
            f"- rows: {self.rows:,} in {self.shards} shard(s), {self.seconds:.1f} s "
            f"({self.reviews_per_second:,.0f} reviews/s)", "",
            "## Label mix", "", "| label | reviews | share |", "| --- | --- | --- |",
        ]
        lines += [f"| {label} | {n:,} | {n / max(self.rows, 1):.1%} |"
                  for label, n in self.labels.most_common()]
        if self.group_column and self.groups:
            top = sorted(self.groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:TOP_GROUPS]
            lines += ["", f"## By {self.group_column} (the {len(top)} largest of "
                      f"{len(self.groups):,} groups)", "",
                      f"| {self.group_column} | reviews | " + " | ".join(classes) + " |",
                      "| --- | --- | " + " | ".join("---" for _ in classes) + " |"]
            for group, counts in top:
                total = sum(counts.values())
                lines.append(f"| {_cell(group, 60)} | {total:,} | "
                             + " | ".join(f"{counts.get(c, 0) / total:.0%}" for c in classes) + " |")
        if self.most_negative:
            lines += ["", f"## The {len(self.most_negative)} most negative reviews", "",
                      "| row (from 0) | P(Negative) | title | text |", "| --- | --- | --- | --- |"]
            lines += [f"| {row} | {p:.3f} | {_cell(title, 40)} | {_cell(text, 120)} |"
                      for p, row, title, text in self.most_negative]
        return "\n".join(lines) + "\n"


def _cell(value: str, width: int) -> str:
    value = " ".join(str(value).split()).replace("|", "\\|")
    return value if len(value) <= width else value[: width - 1] + "…"


def merge_summaries(parts: list[ShardSummary]) -> tuple[int, Counter, dict[str, Counter], list]:
    labels: Counter = Counter()
    groups: dict[str, Counter] = {}
    negatives: list = []
    for part in sorted(parts, key=lambda p: p.index):
        labels.update(part.labels)
        for group, counts in part.groups.items():
            groups.setdefault(group, Counter()).update(counts)
        negatives += part.most_negative
    top = heapq.nlargest(TOP_NEGATIVE, negatives, key=lambda c: (c[0], -c[1]))
    return sum(p.rows for p in parts), labels, groups, top


def resolve_version(settings: Settings, version: str | None) -> str:
    """The exact version to score with: `version`, else what `production` points at now."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from ..adapters import registry

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient(settings.tracking_uri)
    try:
        if version:
            return str(client.get_model_version(settings.model_name, str(version)).version)
        found = registry.production_version(client, settings.model_name)
    except MlflowException as exc:
        raise ScoringError(f"model {settings.model_name!r} version {version or '@production'}: "
                           f"{(str(exc).splitlines() or [''])[0]}") from exc
    if found is None:
        raise ScoringError(f"model {settings.model_name!r} has no production version; "
                           "train one or pass a version")
    return found


def default_workers(rows: int, shards: int, cpus: int) -> int:
    """One process per CPU, but only as many as have MIN_ROWS_PER_WORKER rows each: a shard
    process pays a fixed start (imports, model load: ~5 s on a busy 2-core machine), which a
    small file does not win back (bench/batch_scoring.py); below that, shards run in this one."""
    return max(1, min(cpus, shards, rows // MIN_ROWS_PER_WORKER))


def _download_model(model_uri: str, target: Path) -> str:
    import mlflow

    target.mkdir()
    return mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(target))


Progress = Callable[[int, int, ShardSummary], None]


def run_scoring(settings: Settings, input_uri: str, version: str | None = None,
                output_format: str = "parquet", shards: int | None = None,
                workers: int | None = None, progress: Progress | None = None,
                output_uri: str | None = None) -> ScoringSummary:
    """Score `input_uri` in `shards` row ranges on `workers` processes (default: one per CPU,
    fewer for a small file: `default_workers`);
    write `<stem>.scored.<output_format>` next to it (or to `output_uri`). Raises
    DataValidationError for a bad input file and ScoringError for a job that cannot run;
    neither leaves an output file."""
    started = time.perf_counter()
    out_uri = output_uri or batch_files.output_uri(input_uri, output_format)
    batch_files.input_format(input_uri)  # the extension, before anything slower
    exact = resolve_version(settings, version)
    registered_uri = f"models:/{settings.model_name}/{exact}"
    cpus = os.cpu_count() or 1
    shards = shards or cpus
    # The staged input and the parts (the input's folder may be read-only, like ../shared/data).
    work = Path(tempfile.mkdtemp(prefix="scoring-"))
    try:
        staged = batch_files.stage(input_uri, work)
        # Downloaded once here, loaded from disk by every local shard (a shard that runs as its
        # own flow run elsewhere gets the models:/name/version URI instead).
        model_uri = _download_model(registered_uri, work / "model")
        clash = [c for c in staged.columns
                 if c in (LABEL_COLUMN, VERSION_COLUMN) or c.startswith(PROB_PREFIX)]
        if clash:
            raise batch_files.DataValidationError(
                f"{input_uri}: already has output column(s) {clash}; rename them or score the "
                "original file")
        group = _find_column(staged.columns, GROUP_COLUMNS)
        ranges = plan_shards(staged.row_groups, shards)
        workers = default_workers(staged.rows, len(ranges), cpus) if workers is None else workers
        workers = max(1, min(workers, len(ranges)))
        specs = [ShardSpec(i, staged.path, a, b, model_uri, exact, str(work / f"part-{i:05d}.parquet"),
                           staged.text_column, staged.title_column, group)
                 for i, (a, b) in enumerate(ranges)]
        _log.info("scoring %s: %d rows in %d shard(s) on %d process(es) with %s version %s",
                  input_uri, staged.rows, len(specs), workers, settings.model_name, exact)
        results = _run_shards(specs, workers, progress)
        rows, labels, groups, negatives = merge_summaries(results)
        written = batch_files.merge_parts([Path(s.part_path) for s in specs], out_uri,
                                          output_format, work)
        if rows != staged.rows or written != staged.rows:
            raise ScoringError(f"{input_uri}: {staged.rows} rows read but {rows} scored and "
                               f"{written} written")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = ScoringSummary(input_uri, out_uri, settings.model_name, exact, rows, len(specs),
                             time.perf_counter() - started, labels, group, groups, negatives,
                             [r.seconds for r in sorted(results, key=lambda r: r.index)])
    _log.info("scored %d rows in %.1f s (%.0f reviews/s) -> %s", rows, summary.seconds,
              summary.reviews_per_second, out_uri)
    return summary


def _run_shards(specs: list[ShardSpec], workers: int, progress: Progress | None) -> list[ShardSummary]:
    def report(done: list[ShardSummary], result: ShardSummary) -> None:
        done.append(result)
        _log.info("shard %d/%d done: %d rows in %.1f s", len(done), len(specs), result.rows,
                  result.seconds)
        if progress is not None:
            progress(len(done), len(specs), result)

    done: list[ShardSummary] = []
    if workers == 1:
        for spec in specs:
            report(done, score_shard(spec))
        return done
    # spawn, not fork: the parent may run Prefect's and MLflow's threads.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        pending = {pool.submit(score_shard, spec) for spec in specs}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise ScoringError(f"a shard failed: {type(error).__name__}: {error}") from error
                report(done, future.result())
    return done
