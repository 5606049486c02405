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

The shard side (``read_rows``, ``write_part``, ``write_text``/``read_text``, ``merge_parts``'s
parts) also takes ``s3://`` URIs, for shards that run as flow runs of their own on other nodes
(executor "deployments"): a row range is read from S3 a row group at a time (pyarrow's S3
filesystem, ranged reads: a shard fetches only its own row groups), a part is written to a local
temporary file and uploaded whole when complete (so a failed shard leaves no part). ``put`` and
``remove_tree`` move the staged input up and clean the work prefix.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..config import s3_endpoint
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


def _s3_filesystem():
    """pyarrow's S3 filesystem on the platform's endpoint (config.s3_endpoint) with the SDK's
    usual credentials (AWS_ACCESS_KEY_ID/..., as boto3 reads them)."""
    from urllib.parse import urlparse

    from pyarrow import fs

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = s3_endpoint()
    if not endpoint:
        return fs.S3FileSystem(region=region)
    parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
    return fs.S3FileSystem(region=region, scheme=parsed.scheme or "https",
                           endpoint_override=parsed.netloc)


def _parquet_file(uri: str | Path) -> pq.ParquetFile:
    """A Parquet file to read by row group: a local path, or an s3:// object read by ranges."""
    uri = str(uri)
    if uri.startswith("s3://"):
        return pq.ParquetFile(_s3_filesystem().open_input_file(uri[5:]))
    return pq.ParquetFile(uri)


def put(local: Path, uri: str) -> None:
    """Copy a local file to `uri` (s3:// or a local path)."""
    if uri.startswith("s3://"):
        bucket, key = _split_s3(uri)
        s3_client().upload_file(str(local), bucket, key)  # multipart, streamed from disk
    else:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, uri)


def write_text(uri: str, text: str) -> None:
    if uri.startswith("s3://"):
        bucket, key = _split_s3(uri)
        s3_client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
    else:
        target = Path(uri)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)


def read_text(uri: str) -> str:
    if uri.startswith("s3://"):
        bucket, key = _split_s3(uri)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return Path(uri).read_text(encoding="utf-8")


def remove_tree(uri: str) -> int:
    """Delete every object under the prefix `uri` (s3://bucket/prefix) or the local folder;
    returns how many objects were deleted (local: 0)."""
    if not uri.startswith("s3://"):
        shutil.rmtree(uri, ignore_errors=True)
        return 0
    bucket, prefix = _split_s3(uri.rstrip("/") + "/")
    client = s3_client()
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


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
    """Rows [start, stop) of a Parquet file (local or s3://), one row group (or part of one) at
    a time; row groups outside the range are not read."""
    file = _parquet_file(path)
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


def write_part(tables: Iterator[pa.Table], target: str | Path) -> int:
    """Write a shard's tables to one Parquet part (temp name, renamed when complete; an s3://
    part is written to a local temporary file and uploaded when complete)."""
    if str(target).startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="part-") as folder:
            local = Path(folder) / "part.parquet"
            rows = write_part(tables, local)
            put(local, str(target))
        return rows
    target = Path(target)
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


def _write_merged(parts: list[str | Path], target: Path, output_format: str) -> int:
    rows = 0
    writer = None
    try:
        for part in parts:
            file = _parquet_file(part)
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


def merge_parts(parts: list[str | Path], uri: str, output_format: str, folder: Path) -> int:
    """Join the parts (local paths or s3:// URIs) in order into `uri` (local: temp name in the
    same folder, then an atomic rename; s3: written in `folder`, then uploaded as one object).
    Returns the rows written."""
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
