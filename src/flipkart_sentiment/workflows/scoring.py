"""Batch scoring: a CSV or Parquet file of any size, local or ``s3://``, scored in shards.

The job (`run_scoring`):

1. resolve the model version once (``production`` unless a version is given), so every shard
   scores with the same model even if the alias moves meanwhile;
2. stage the input (``adapters.batch_files.stage``: validated, a CSV converted to Parquet in
   one streaming pass) and cut it into row ranges, one per shard (`plan_shards`);
3. score the shards: a shard is ``ShardSpec`` (staged input, row range, model URI with the
   exact version, part path) -> a Parquet part and a ``ShardSummary`` (also written as JSON next
   to the part). It loads the model once and reads its rows a row group at a time, so memory
   does not grow with the file. `score_shard` needs nothing from the parent process, so the
   shards run either in local processes (executor "processes", the default) or each as a flow
   run of its own (executor "deployments": the Kubernetes fan-out, one Job per shard, the staged
   file, parts and summaries under SENTIMENT_SCORING_WORK_URI on S3; `_run_shard_deployments`);
4. merge the parts in order into ``<stem>.scored.<parquet|csv>`` next to the input (temporary
   name, renamed at the end: a failure leaves no partial output) and the shard summaries into
   one `ScoringSummary` (label mix, per group, the most negative reviews, and the phrases that
   drive Negative and Neutral overall and per group: `_add_phrases`).

Output columns: every input column, in order, then ``predicted_label``, ``prob_<class>`` per
class, ``model_version`` and ``has_content``. A review with an empty text is still scored (from
its title); one with no letter, digit or emoji in title or text is scored too (the model's
prior) and flagged ``has_content`` false, where a request would get a 400.
"""

from __future__ import annotations

import heapq
import json
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from ..adapters import batch_files
from ..adapters.data import _find_column
from ..config import Settings
from ..core.text import NEGATIONS
from ..serving.reviews import has_content

_log = logging.getLogger(__name__)

LABEL_COLUMN = "predicted_label"
PROB_PREFIX = "prob_"
VERSION_COLUMN = "model_version"
# False where neither the title nor the text has a letter, digit or emoji: the model found no
# feature, so the row's label is its prior alone. The model server refuses such a review (400);
# a file is scored whole, so the row is kept and flagged instead (docs/batch-scoring.md).
CONTENT_COLUMN = "has_content"
# Columns the summary groups by, if the file has one: a product, else the review title.
GROUP_COLUMNS = ("Product", "Product Name", "product_name", "Product Title", "product_title",
                 "product", "Item", "Review Title", "Review_Title", "review_title", "Title", "title")
NEGATIVE = "Negative"
# Labels whose driving phrases the summary lists: what customers complain about.
PHRASE_LABELS = ("Negative", "Neutral")
# Phrases kept per label overall and per (group, label): above 2x, the smaller half is dropped
# (an approximation of the top, as for groups: bounded memory for any file).
MAX_PHRASES = 1_000
MAX_GROUP_PHRASES = 50
# Groups whose phrases a shard keeps (the largest so far); the summary shows TOP_GROUPS.
MAX_PHRASE_GROUPS = 1_000
TOP_PHRASES = 10
TOP_GROUP_PHRASES = 3
NO_EXPLAINER = "the model was loaded without a compiled scorer, so no phrases were computed"
# Words that say nothing about a pain point on their own ("not", "but", "of"): a phrase made
# only of them is left out of the summary (a review's own explanation keeps them).
_FILLER = ENGLISH_STOP_WORDS | NEGATIONS
TOP_NEGATIVE = 10
TOP_GROUPS = 15
# Rows scored per call of the model: bounds memory inside a row group.
SCORE_BATCH = 20_000
# Rows a shard process must have to be worth starting, when `workers` is not given.
MIN_ROWS_PER_WORKER = 100_000
# Distinct groups a shard counts before it keeps only the largest (bounds memory).
MAX_GROUPS = 50_000
# Where the shards run: local processes of this job, or one flow run each of SHARD_DEPLOYMENT
# (on Kubernetes: one Job each), with DEFAULT_DEPLOYMENT_SHARDS shards unless told.
EXECUTORS = ("processes", "deployments")
SHARD_DEPLOYMENT = "score-reviews-shard/manual"
DEFAULT_DEPLOYMENT_SHARDS = 4


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
    no_content: int = 0  # rows whose CONTENT_COLUMN is False
    # label -> phrase -> summed contribution toward that label, over the reviews predicted it
    phrases: dict[str, Counter] = field(default_factory=dict)
    group_phrases: dict[str, dict[str, Counter]] = field(default_factory=dict)  # group -> label -> ...
    phrases_note: str = ""  # why there are no phrases, if there are none

    def to_json(self) -> str:
        """The summary as JSON (a shard flow run writes it next to its part: a flow run's
        return value is not storage the parent can read)."""
        return json.dumps({"index": self.index, "rows": self.rows, "seconds": self.seconds,
                           "labels": dict(self.labels),
                           "groups": {g: dict(c) for g, c in self.groups.items()},
                           "most_negative": [list(c) for c in self.most_negative],
                           "no_content": self.no_content,
                           "phrases": self.phrases, "group_phrases": self.group_phrases,
                           "phrases_note": self.phrases_note},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ShardSummary:
        raw = json.loads(text)
        return cls(int(raw["index"]), int(raw["rows"]), float(raw["seconds"]),
                   Counter({str(k): int(v) for k, v in raw["labels"].items()}),
                   {str(g): Counter({str(k): int(v) for k, v in c.items()})
                    for g, c in raw["groups"].items()},
                   [(float(p), int(row), str(title), str(text))
                    for p, row, title, text in raw["most_negative"]],
                   int(raw["no_content"]),
                   {str(k): Counter(v) for k, v in (raw.get("phrases") or {}).items()},
                   {str(g): {str(k): Counter(v) for k, v in labels.items()}
                    for g, labels in (raw.get("group_phrases") or {}).items()},
                   str(raw.get("phrases_note") or ""))


def summary_path(part_path: str) -> str:
    """Where a shard writes its summary: `part-00000.parquet` -> `part-00000.summary.json`."""
    stem = part_path[: -len(".parquet")] if part_path.endswith(".parquet") else part_path
    return f"{stem}.summary.json"


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
    content = [has_content(title) or has_content(text) for title, text in zip(titles, texts, strict=True)]
    out = out.append_column(CONTENT_COLUMN, pa.array(content, pa.bool_()))
    return out, proba


def _prune(counter: Counter, keep: int) -> Counter:
    return Counter(dict(counter.most_common(keep))) if len(counter) > 2 * keep else counter


@lru_cache(maxsize=100_000)
def _filler(phrase: str) -> bool:
    return all(word in _FILLER for word in phrase.split())


def _add_phrases(summary: ShardSummary, model, table: pa.Table, labels: list[str],
                 spec: ShardSpec) -> None:
    """Add the phrases that pushed each Negative or Neutral review toward its label (core.explain,
    positive contributions only) to the shard's totals, overall and per group."""
    explainer = getattr(model, "explainer", None)
    if explainer is None:
        summary.phrases_note = NO_EXPLAINER
        return
    rows = [i for i, label in enumerate(labels) if label in PHRASE_LABELS]
    if not rows:
        return
    titles, texts = _strings(table, spec.title_column), _strings(table, spec.text_column)
    groups = (_strings(table, spec.group_column) if spec.group_column is not None else None)
    for start in range(0, len(rows), SCORE_BATCH):
        chunk = rows[start:start + SCORE_BATCH]
        found = explainer.contributions([titles[i] for i in chunk], [texts[i] for i in chunk])
        own = found.weights[np.arange(len(found.rows)), found.labels[found.rows]]
        for r, (where, phrase), weight in zip(found.rows.tolist(), found.phrases, own.tolist(),
                                              strict=True):
            if weight <= 0 or _filler(phrase):
                continue
            i = chunk[r]
            key = phrase if where == "text" else f"{phrase} (title)"
            summary.phrases.setdefault(labels[i], Counter())[key] += weight
            if groups is not None:
                group = groups[i].strip() or "(none)"
                summary.group_phrases.setdefault(group, {}).setdefault(labels[i], Counter())[key] += weight
    for label, counter in summary.phrases.items():
        summary.phrases[label] = _prune(counter, MAX_PHRASES)
    if len(summary.group_phrases) > MAX_PHRASE_GROUPS:
        largest = sorted(summary.group_phrases, key=lambda g: -sum(summary.groups.get(g, {}).values()))
        summary.group_phrases = {g: summary.group_phrases[g] for g in largest[:MAX_PHRASE_GROUPS]}
    for per_label in summary.group_phrases.values():
        for label, counter in per_label.items():
            per_label[label] = _prune(counter, MAX_GROUP_PHRASES)


def _summarise(summary: ShardSummary, table: pa.Table, proba: np.ndarray, classes: list[str],
               spec: ShardSpec, first_row: int, model=None) -> None:
    labels = table.column(LABEL_COLUMN).to_pylist()
    summary.labels.update(labels)
    summary.no_content += table.num_rows - pc.sum(table.column(CONTENT_COLUMN)).as_py()
    if spec.group_column is not None:
        for group, label in zip(_strings(table, spec.group_column), labels, strict=True):
            summary.groups.setdefault(group.strip() or "(none)", Counter())[label] += 1
        if len(summary.groups) > MAX_GROUPS:  # keep the largest half; the summary shows the top
            keep = sorted(summary.groups.items(), key=lambda kv: -sum(kv[1].values()))[:MAX_GROUPS // 2]
            summary.groups = dict(keep)
    _add_phrases(summary, model, table, labels, spec)
    if NEGATIVE in classes:
        neg = proba[:, classes.index(NEGATIVE)]
        top = np.argsort(-neg, kind="stable")[:TOP_NEGATIVE]
        titles, texts = _strings(table, spec.title_column), _strings(table, spec.text_column)
        candidates = [(float(neg[i]), first_row + int(i), titles[i], texts[i]) for i in top]
        summary.most_negative = heapq.nlargest(TOP_NEGATIVE, summary.most_negative + candidates,
                                               key=lambda c: (c[0], -c[1]))


def score_shard(spec: ShardSpec) -> ShardSummary:
    """Score rows [start, stop) of the staged input with one model version into one part, and
    write the summary next to it (`summary_path`). Input and part may be local or s3://."""
    started = time.perf_counter()
    model = _load_model(spec.model_uri)
    classes = [str(c) for c in model.classes]
    summary = ShardSummary(spec.index)
    position = spec.start

    def scored() -> Iterator[pa.Table]:
        nonlocal position
        for table in batch_files.read_rows(spec.input_path, spec.start, spec.stop):
            out, proba = score_table(model, classes, table, spec)
            _summarise(summary, out, proba, classes, spec, position, model)
            position += table.num_rows
            yield out

    summary.rows = batch_files.write_part(scored(), spec.part_path)
    summary.seconds = time.perf_counter() - started
    batch_files.write_text(summary_path(spec.part_path), summary.to_json())
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
    no_content: int = 0
    phrases: dict[str, Counter] = field(default_factory=dict)
    group_phrases: dict[str, dict[str, Counter]] = field(default_factory=dict)
    phrases_note: str = ""

    @property
    def reviews_per_second(self) -> float:
        return self.rows / max(self.seconds, 1e-9)

    def as_dict(self) -> dict:
        return {"input": self.input_uri, "output": self.output_uri, "model": self.model_name,
                "version": self.version, "rows": self.rows, "shards": self.shards,
                "seconds": round(self.seconds, 3), "labels": dict(self.labels),
                "no_content": self.no_content,
                "reviews_per_second": round(self.reviews_per_second, 1)}

    def markdown(self) -> str:
        classes = sorted(self.labels)
        lines = [
            f"# Batch scoring: {Path(self.input_uri).name}", "",
            f"- input: `{self.input_uri}`", f"- output: `{self.output_uri}`",
            f"- model: `{self.model_name}` version {self.version}",
            f"- rows: {self.rows:,} in {self.shards} shard(s), {self.seconds:.1f} s "
            f"({self.reviews_per_second:,.0f} reviews/s)",
        ]
        if self.no_content:
            lines.append(f"- {self.no_content:,} row(s) with no letter, digit or emoji in title or "
                         f"text (`{CONTENT_COLUMN}` false): their label is the model's prior, not "
                         "a reading of the review")
        lines += [
            "", "## Label mix", "", "| label | reviews | share |", "| --- | --- | --- |",
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
        lines += self._phrase_lines()
        if self.most_negative:
            lines += ["", f"## The {len(self.most_negative)} most negative reviews", "",
                      "| row (from 0) | P(Negative) | title | text |", "| --- | --- | --- | --- |"]
            lines += [f"| {row} | {p:.3f} | {_cell(title, 40)} | {_cell(text, 120)} |"
                      for p, row, title, text in self.most_negative]
        return "\n".join(lines) + "\n"

    def _phrase_lines(self) -> list[str]:
        lines = ["", "## What drives Negative and Neutral", ""]
        if self.phrases_note:
            return lines + [f"Not available: {self.phrases_note}."]
        lines += ["The words and phrases that pushed reviews toward the label, summed over the "
                  "reviews predicted it (core.explain; the review's own words, `(title)` for the "
                  "title's).", "", "| label | phrases (summed weight) |", "| --- | --- |"]
        lines += [f"| {label} | {_phrase_cell(self.phrases.get(label), TOP_PHRASES)} |"
                  for label in PHRASE_LABELS]
        if self.group_column and self.group_phrases:
            top = sorted(self.groups.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:TOP_GROUPS]
            lines += ["", f"By {self.group_column} (the {len(top)} largest groups):", "",
                      f"| {self.group_column} | " + " | ".join(PHRASE_LABELS) + " |",
                      "| --- | " + " | ".join("---" for _ in PHRASE_LABELS) + " |"]
            for group, _ in top:
                per_label = self.group_phrases.get(group, {})
                lines.append(f"| {_cell(group, 60)} | " + " | ".join(
                    _phrase_cell(per_label.get(label), TOP_GROUP_PHRASES) for label in PHRASE_LABELS)
                    + " |")
        return lines


def _phrase_cell(counter: Counter | None, top: int) -> str:
    if not counter:
        return "-"
    return ", ".join(f"{_cell(phrase, 40)} ({weight:.1f})" for phrase, weight in counter.most_common(top))


def merge_phrases(parts: list[ShardSummary]) -> tuple[dict[str, Counter], dict[str, dict[str, Counter]], str]:
    """The shards' phrase totals added up, and the note of a shard that had none."""
    phrases: dict[str, Counter] = {}
    group_phrases: dict[str, dict[str, Counter]] = {}
    for part in sorted(parts, key=lambda p: p.index):
        for label, counter in part.phrases.items():
            phrases.setdefault(label, Counter()).update(counter)
        for group, per_label in part.group_phrases.items():
            for label, counter in per_label.items():
                group_phrases.setdefault(group, {}).setdefault(label, Counter()).update(counter)
    note = next((p.phrases_note for p in parts if p.phrases_note), "")
    return phrases, group_phrases, note


def _cell(value: str, width: int) -> str:
    value = " ".join(str(value).split()).replace("|", "\\|")
    return value if len(value) <= width else value[: width - 1] + "…"


def merge_summaries(parts: list[ShardSummary]) -> tuple[int, Counter, dict[str, Counter], list, int]:
    labels: Counter = Counter()
    groups: dict[str, Counter] = {}
    negatives: list = []
    for part in sorted(parts, key=lambda p: p.index):
        labels.update(part.labels)
        for group, counts in part.groups.items():
            groups.setdefault(group, Counter()).update(counts)
        negatives += part.most_negative
    top = heapq.nlargest(TOP_NEGATIVE, negatives, key=lambda c: (c[0], -c[1]))
    return (sum(p.rows for p in parts), labels, groups, top,
            sum(p.no_content for p in parts))


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
                output_uri: str | None = None, executor: str = "processes") -> ScoringSummary:
    """Score `input_uri` in `shards` row ranges and write `<stem>.scored.<output_format>` next
    to it (or to `output_uri`). `executor` "processes": on `workers` local processes (default:
    one per CPU, fewer for a small file: `default_workers`); "deployments": one flow run of
    `SHARD_DEPLOYMENT` per shard (default DEFAULT_DEPLOYMENT_SHARDS shards), the staged input
    and the parts under SENTIMENT_SCORING_WORK_URI (`_run_shard_deployments`). Raises
    DataValidationError for a bad input file and ScoringError for a job that cannot run;
    neither leaves an output file."""
    started = time.perf_counter()
    if executor not in EXECUTORS:
        raise ScoringError(f"executor {executor!r}: use one of {list(EXECUTORS)}")
    if executor == "deployments" and not settings.scoring_work_uri:
        raise ScoringError("executor 'deployments' needs a folder every shard run can reach: set "
                           "SENTIMENT_SCORING_WORK_URI (s3://bucket/prefix)")
    out_uri = output_uri or batch_files.output_uri(input_uri, output_format)
    batch_files.input_format(input_uri)  # the extension, before anything slower
    exact = resolve_version(settings, version)
    registered_uri = f"models:/{settings.model_name}/{exact}"
    cpus = os.cpu_count() or 1
    shards = shards or (cpus if executor == "processes" else DEFAULT_DEPLOYMENT_SHARDS)
    # The staged input and the parts (the input's folder may be read-only, like ../shared/data).
    work = Path(tempfile.mkdtemp(prefix="scoring-"))
    remote: str | None = None  # the run's folder under scoring_work_uri (executor deployments)
    try:
        staged = batch_files.stage(input_uri, work)
        clash = [c for c in staged.columns
                 if c in (LABEL_COLUMN, VERSION_COLUMN, CONTENT_COLUMN) or c.startswith(PROB_PREFIX)]
        if clash:
            raise batch_files.DataValidationError(
                f"{input_uri}: already has output column(s) {clash}; rename them or score the "
                "original file")
        group = _find_column(staged.columns, GROUP_COLUMNS)
        ranges = plan_shards(staged.row_groups, shards)
        if executor == "processes":
            # Downloaded once here, loaded from disk by every local shard.
            model_uri = _download_model(registered_uri, work / "model")
            workers = default_workers(staged.rows, len(ranges), cpus) if workers is None else workers
            workers = max(1, min(workers, len(ranges)))
            specs = [ShardSpec(i, staged.path, a, b, model_uri, exact,
                               str(work / f"part-{i:05d}.parquet"), staged.text_column,
                               staged.title_column, group)
                     for i, (a, b) in enumerate(ranges)]
            _log.info("scoring %s: %d rows in %d shard(s) on %d process(es) with %s version %s",
                      input_uri, staged.rows, len(specs), workers, settings.model_name, exact)
            results = _run_shards(specs, workers, progress)
        else:
            # Each shard runs elsewhere: it reads the staged input and writes its part under
            # the run's folder, and loads the exact version from the registry itself.
            remote = f"{settings.scoring_work_uri}/{_work_name()}"
            staged_uri = f"{remote}/input.parquet"
            batch_files.put(Path(staged.path), staged_uri)
            specs = [ShardSpec(i, staged_uri, a, b, registered_uri, exact,
                               f"{remote}/part-{i:05d}.parquet", staged.text_column,
                               staged.title_column, group)
                     for i, (a, b) in enumerate(ranges)]
            _log.info("scoring %s: %d rows in %d shard flow run(s) of %s with %s version %s, "
                      "work folder %s", input_uri, staged.rows, len(specs), SHARD_DEPLOYMENT,
                      settings.model_name, exact, remote)
            results = _run_shard_deployments(specs, settings.scoring_shard_timeout_seconds,
                                             progress)
        rows, labels, groups, negatives, no_content = merge_summaries(results)
        written = batch_files.merge_parts([s.part_path for s in specs], out_uri, output_format,
                                          work)
        if rows != staged.rows or written != staged.rows:
            raise ScoringError(f"{input_uri}: {staged.rows} rows read but {rows} scored and "
                               f"{written} written")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if remote is not None:
            _remove_work(remote)
    summary = ScoringSummary(input_uri, out_uri, settings.model_name, exact, rows, len(specs),
                             time.perf_counter() - started, labels, group, groups, negatives,
                             [r.seconds for r in sorted(results, key=lambda r: r.index)],
                             no_content, *merge_phrases(results))
    if no_content:
        _log.warning("%d row(s) had no letter, digit or emoji in title or text: scored with the "
                     "model's prior, flagged %s=false", no_content, CONTENT_COLUMN)
    _log.info("scored %d rows in %.1f s (%.0f reviews/s) -> %s", rows, summary.seconds,
              summary.reviews_per_second, out_uri)
    return summary


def _work_name() -> str:
    """A run's own folder name under scoring_work_uri: sortable, unique."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def _remove_work(remote: str) -> None:
    """Delete the run's work folder (staged input, parts, summaries); best effort: a failure
    here must not hide the job's own result or error."""
    try:
        batch_files.remove_tree(remote)
    except Exception as exc:  # boto raises many types; the job's outcome is already decided
        _log.warning("could not remove the work folder %s: %s", remote, exc)


def _report(done: list[ShardSummary], total: int, result: ShardSummary,
            progress: Progress | None) -> None:
    done.append(result)
    _log.info("shard %d/%d done: %d rows in %.1f s", len(done), total, result.rows, result.seconds)
    if progress is not None:
        progress(len(done), total, result)


def _run_shards(specs: list[ShardSpec], workers: int, progress: Progress | None) -> list[ShardSummary]:
    done: list[ShardSummary] = []
    if workers == 1:
        for spec in specs:
            _report(done, len(specs), score_shard(spec), progress)
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
                _report(done, len(specs), future.result(), progress)
    return done


def _run_shard_deployments(specs: list[ShardSpec], timeout: float,
                           progress: Progress | None) -> list[ShardSummary]:
    """One flow run of SHARD_DEPLOYMENT per shard (adapters.shard_runs), all started at once and
    waited for together. A run that ends in any state but Completed, or is not done `timeout`
    seconds after it was started (it is then cancelled), is started again once as a new flow
    run; a second failure fails the job, naming the shard and the final state. Each finished
    shard's summary is read from next to its part. On any failure the runs still going are
    cancelled."""
    from ..adapters import shard_runs

    done: list[ShardSummary] = []
    active: dict = {}  # run id -> (spec, attempt, started at)
    tag = uuid.uuid4().hex[:6]

    def launch(spec: ShardSpec, attempt: int) -> None:
        name = f"shard-{spec.index:05d}-{tag}" + ("-retry" if attempt > 1 else "")
        run_id = shard_runs.start(SHARD_DEPLOYMENT, asdict(spec), name)
        active[run_id] = (spec, attempt, time.monotonic())

    try:
        for spec in specs:
            launch(spec, 1)
        while active:
            time.sleep(shard_runs.POLL_SECONDS)
            for run_id, (spec, attempt, began) in list(active.items()):
                state = shard_runs.state(run_id)
                if state.completed:
                    del active[run_id]
                    _report(done, len(specs), _read_summary(spec), progress)
                    continue
                late = not state.final and time.monotonic() - began > timeout
                if not (state.final or late):
                    continue
                del active[run_id]
                what = state.name if state.final else f"{state.name} after the {timeout:.0f} s timeout"
                if late:
                    shard_runs.cancel(run_id)
                if attempt == 1:
                    _log.warning("shard %d (rows %d-%d): flow run %s ended %s; starting it again",
                                 spec.index, spec.start, spec.stop, run_id, what)
                    launch(spec, 2)
                else:
                    raise ScoringError(f"shard {spec.index} (rows {spec.start}-{spec.stop}) failed "
                                       f"twice: flow run {run_id} ended {what}")
    except BaseException:
        for run_id in active:
            shard_runs.cancel(run_id)
        raise
    return done


def _read_summary(spec: ShardSpec) -> ShardSummary:
    path = summary_path(spec.part_path)
    try:
        summary = ShardSummary.from_json(batch_files.read_text(path))
    except Exception as exc:
        raise ScoringError(f"shard {spec.index} completed but its summary {path} is unreadable: "
                           f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from exc
    if summary.index != spec.index:
        raise ScoringError(f"shard {spec.index}: {path} is shard {summary.index}'s summary")
    return summary
