"""Files of reviews to score in bulk: CSV or Parquet, local or ``s3://``, of any size.

Everything here streams: a CSV is read block by block, a Parquet file row group by row group,
so memory depends on the block size, not on the file.

- ``stage`` turns the input into one local Parquet file that shards can read by row range: a
  local Parquet file is used as it is; a CSV is converted in one streaming pass (every column
  kept as text, as written); an ``s3://`` object is first downloaded to the work folder.
- ``read_rows`` yields a row range of a staged file as Arrow batches.
- ``write_part`` / ``merge_parts`` write each shard's output, then join the parts in order into
  the final file under a temporary name and rename it at the end, so a failure leaves nothing
  partial where the output belongs (an ``s3://`` output is uploaded whole, in one object).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .data import TEXT_COLUMNS, TITLE_COLUMNS, DataValidationError, _find_column, s3_client

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUT_FORMATS = ("parquet", "csv")
# Rows per row group of a staged CSV: the unit a shard reads at a time.
STAGE_ROW_GROUP = 65_536
CSV_BLOCK_BYTES = 16 << 20


def input_format(uri: str) -> str:
    suffix = Path(uri.rsplit("/", 1)[-1]).suffix.lower()
    if suffix not in FORMATS:
        raise DataValidationError(
            f"{uri}: cannot score a {suffix or 'extension-less'!s} file; give a .csv or .parquet file")
    return FORMATS[suffix]


def output_uri(uri: str, output_format: str) -> str:
    """`<stem>.scored.<format>` next to the input (same folder or same S3 prefix)."""
    if output_format not in OUTPUT_FORMATS:
        raise DataValidationError(f"output format {output_format!r}: use one of {list(OUTPUT_FORMATS)}")
    head, sep, name = uri.rpartition("/")
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix else name
    return f"{head}{sep}{stem}.scored.{output_format}"


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _download(uri: str, folder: Path) -> Path:
    bucket, key = _split_s3(uri)
    local = folder / f"input{Path(key).suffix.lower()}"
    try:
        s3_client().download_file(bucket, key, str(local))  # streamed to disk in parts
    except Exception as exc:  # boto raises many types; the caller needs one clear message
        raise DataValidationError(f"cannot read {uri}: {exc}") from exc
    return local


def _csv_header(path: Path, uri: str) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{uri}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from exc
    if not header:
        raise DataValidationError(f"{uri}: the file is empty")
    return header


def _csv_to_parquet(path: Path, uri: str, target: Path) -> None:
    """One streaming pass; every column is read as text so the output keeps it as written."""
    header = _csv_header(path, uri)
    if len(set(header)) != len(header):
        raise DataValidationError(f"{uri}: duplicate column names in the header {header}")
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 strings_can_be_null=False),
        )
        with pq.ParquetWriter(target, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch, row_group_size=STAGE_ROW_GROUP)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataValidationError(f"{uri}: malformed CSV: {first}") from exc


@dataclass(frozen=True)
class Staged:
    """A local Parquet file shards can read by row range, and what it holds."""

    path: str
    rows: int
    columns: list[str]
    text_column: str
    title_column: str | None
    row_groups: list[int]  # rows per row group


def describe(path: str | Path, uri: str) -> Staged:
    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowInvalid, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataValidationError(f"{uri}: not a readable Parquet file: {first}") from exc
    columns = list(meta.schema.to_arrow_schema().names)
    text_col = _find_column(columns, TEXT_COLUMNS)
    if not text_col:
        raise DataValidationError(
            f"{uri}: no review text column; found columns {columns}. "
            f"Expected one of {list(TEXT_COLUMNS[:4])}")
    if meta.num_rows == 0:
        raise DataValidationError(f"{uri}: the file has no rows")
    return Staged(str(path), meta.num_rows, columns, text_col, _find_column(columns, TITLE_COLUMNS),
                  [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])


def stage(uri: str, folder: Path) -> Staged:
    """The input as a local Parquet file (converted or downloaded into `folder` if need be),
    validated: a known extension, readable, with a review text column and rows."""
    fmt = input_format(uri)
    if uri.startswith("s3://"):
        local = _download(uri, folder)
    else:
        local = Path(uri)
        if not local.is_file():
            raise DataValidationError(f"file not found: {uri}")
    if fmt == "csv":
        target = folder / "input.parquet"
        _csv_to_parquet(local, uri, target)
        if uri.startswith("s3://"):
            local.unlink()
        local = target
    return describe(local, uri)


def read_rows(path: str, start: int, stop: int, columns: list[str] | None = None
              ) -> Iterator[pa.Table]:
    """Rows [start, stop) of a Parquet file, one row group (or part of one) at a time."""
    file = pq.ParquetFile(path)
    offset = 0
    for i in range(file.metadata.num_row_groups):
        n = file.metadata.row_group(i).num_rows
        lo, hi = max(start, offset), min(stop, offset + n)
        if lo < hi:
            table = file.read_row_group(i, columns=columns)
            yield table.slice(lo - offset, hi - lo)
        offset += n
        if offset >= stop:
            break


def write_part(tables: Iterator[pa.Table], target: Path) -> int:
    """Write a shard's tables to one Parquet part (temp name, renamed when complete)."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    rows, writer = 0, None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += table.num_rows
        if writer is None:
            raise ValueError(f"{target.name}: no rows to write")
        writer.close()
        writer = None
        os.replace(tmp, target)
    finally:
        if writer is not None:
            writer.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return rows


def _write_merged(parts: list[Path], target: Path, output_format: str) -> int:
    rows = 0
    writer = None
    try:
        for part in parts:
            file = pq.ParquetFile(part)
            for i in range(file.metadata.num_row_groups):
                table = file.read_row_group(i)
                if writer is None:
                    writer = (pq.ParquetWriter(target, table.schema) if output_format == "parquet"
                              else pacsv.CSVWriter(target, table.schema))
                writer.write_table(table)
                rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def merge_parts(parts: list[Path], uri: str, output_format: str, folder: Path) -> int:
    """Join the parts in order into `uri` (local: temp name in the same folder, then an atomic
    rename; s3: written in `folder`, then uploaded as one object). Returns the rows written."""
    if uri.startswith("s3://"):
        local = folder / f"merged.{output_format}"
        rows = _write_merged(parts, local, output_format)
        bucket, key = _split_s3(uri)
        try:
            s3_client().upload_file(str(local), bucket, key)
        except Exception as exc:
            raise DataValidationError(f"cannot write {uri}: {exc}") from exc
        return rows
    target = Path(uri)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        rows = _write_merged(parts, tmp, output_format)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return rows


def read_table(uri: str) -> pa.Table:
    """A whole (small) output file, for tests and checks."""
    if uri.startswith("s3://"):
        bucket, key = _split_s3(uri)
        raw = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        source = io.BytesIO(raw)
    else:
        source = uri
    return pq.read_table(source) if uri.endswith(".parquet") else pacsv.read_csv(source)
