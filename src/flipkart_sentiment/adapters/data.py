"""Loading and validating review files: the training CSV, labeled reviews that arrive after it,
and files of reviews to score.

A file is either turned into a clean frame of (title, text, rating, label) with counts of what
was dropped, or rejected with a ``DataValidationError`` whose message names the problem. Nothing
downstream (training, registry) runs on a rejected file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import s3_endpoint
from ..core.labels import DEFAULT_LABEL_MAP
from ..core.split import ARRIVED
from ..serving.reviews import MAX_TEXT_CHARS, has_content

# Spellings seen in Flipkart scrapes; matching ignores case, spaces, underscores and hyphens.
TEXT_COLUMNS = ("Review text", "Review_Text", "review_text", "Review", "review", "text",
                "Review Body", "review_body", "content", "Comment")
TITLE_COLUMNS = ("Review Title", "Review_Title", "review_title", "Title", "title", "summary",
                 "Summary", "Review Heading")
RATING_COLUMNS = ("Ratings", "Rating", "Reviewer_Rating", "reviewer_rating", "rating",
                  "ratings", "Stars", "stars", "Score", "Review Rating")


class DataValidationError(ValueError):
    """The input file cannot be used; the message says why, in one line."""


@dataclass
class ReviewData:
    frame: pd.DataFrame  # columns: title, text, rating, label (and core.split.ARRIVED)
    sha256: str
    source: str
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def label_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.frame["label"].value_counts().items()}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def _find_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    by_key = {_key(c): c for c in columns}
    for candidate in candidates:
        if _key(candidate) in by_key:
            return by_key[_key(candidate)]
    return None


def s3_client():
    """boto3's S3 client on the platform's endpoint (config.s3_endpoint, e.g. MinIO)."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint())


def read_bytes(source: str) -> bytes:
    """Read a local path or an ``s3://bucket/key`` object (endpoint: config.s3_endpoint)."""
    if source.startswith("s3://"):
        bucket, _, key = source[5:].partition("/")
        client = s3_client()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # boto raises many types; the caller needs one clear message
            raise DataValidationError(f"cannot read {source}: {exc}") from exc
    path = Path(source)
    if not path.is_file():
        raise DataValidationError(
            f"data file not found: {source}. The project's data lives in ../shared/data/ "
            "(flipkart_reviews_badminton.csv); set SENTIMENT_DATA_PATH to point elsewhere."
        )
    return path.read_bytes()


def parse_csv(raw: bytes, source: str = "<bytes>") -> pd.DataFrame:
    if not raw.strip():
        raise DataValidationError(f"{source}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{source}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from exc
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataValidationError(f"{source}: malformed CSV: {first_line}") from exc
    if frame.empty:
        raise DataValidationError(f"{source}: the file has a header but no rows")
    return frame


def label_for(rating: int, label_map: dict[int, str] | None = None) -> str:
    mapping = label_map or DEFAULT_LABEL_MAP
    try:
        return mapping[int(rating)]
    except KeyError as exc:
        raise DataValidationError(f"rating {rating} has no label in {mapping}") from exc


def validate(
    frame: pd.DataFrame, source: str = "<frame>", label_map: dict[int, str] | None = None,
    min_classes: int = 2,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Pick the text/title/rating columns, drop unusable rows, check ratings, attach labels.
    A training file needs two classes; a batch of newly labeled reviews may all be one."""
    mapping = label_map or DEFAULT_LABEL_MAP
    columns = [str(c) for c in frame.columns]
    text_col = _find_column(columns, TEXT_COLUMNS)
    rating_col = _find_column(columns, RATING_COLUMNS)
    missing = [name for name, col in (("review text", text_col), ("rating", rating_col)) if not col]
    if missing:
        raise DataValidationError(
            f"{source}: no {' and no '.join(missing)} column; found columns {columns}. "
            f"Expected one of {list(TEXT_COLUMNS[:4])} and one of {list(RATING_COLUMNS[:4])}"
        )
    title_col = _find_column(columns, TITLE_COLUMNS)

    out = pd.DataFrame(
        {
            "title": frame[title_col].fillna("").astype(str).str.strip() if title_col else "",
            "text": frame[text_col].fillna("").astype(str).str.strip(),
            "rating_raw": frame[rating_col].fillna("").astype(str).str.strip(),
        }
    )
    stats = {"rows_read": len(out)}

    no_rating = out["rating_raw"] == ""
    numeric = pd.to_numeric(out["rating_raw"].where(~no_rating), errors="coerce")
    not_numeric = ~no_rating & numeric.isna()
    if not_numeric.any():
        bad = out.loc[not_numeric, "rating_raw"].iloc[0]
        raise DataValidationError(
            f"{source}: column {rating_col!r} has {int(not_numeric.sum())} non-numeric rating(s), "
            f"e.g. {bad!r} on data row {int(not_numeric.idxmax()) + 1}"
        )
    unknown = ~no_rating & ~numeric.isin(list(mapping))
    if unknown.any():
        bad = numeric[unknown].iloc[0]
        raise DataValidationError(
            f"{source}: column {rating_col!r} has {int(unknown.sum())} rating(s) outside "
            f"{sorted(mapping)}, e.g. {bad:g} on data row {int(unknown.idxmax()) + 1}"
        )

    empty_text = out["text"] == ""
    # Rows the model server refuses (serving.reviews): a text of only punctuation or invisible
    # characters has no feature, and a field past MAX_TEXT_CHARS is not scored. The gate scores
    # production on the test split through the server's pyfunc, so one such row would stop it.
    unscorable = ~empty_text & (~out["text"].map(has_content)
                                | (out["text"].str.len() > MAX_TEXT_CHARS)
                                | (out["title"].str.len() > MAX_TEXT_CHARS))
    stats["dropped_missing_rating"] = int(no_rating.sum())
    stats["dropped_empty_text"] = int((empty_text & ~no_rating).sum())
    stats["dropped_unscorable_text"] = int((unscorable & ~no_rating).sum())
    keep = ~no_rating & ~empty_text & ~unscorable
    out = out.loc[keep].copy()
    if out.empty:
        raise DataValidationError(
            f"{source}: no usable rows: {stats['dropped_empty_text']} empty review text(s), "
            f"{stats['dropped_unscorable_text']} without letters, digits or emoji (or too long) "
            f"and {stats['dropped_missing_rating']} missing rating(s) out of {stats['rows_read']} rows"
        )
    out["rating"] = numeric[keep].astype(int)
    out["label"] = out["rating"].map(mapping)
    out = out.drop(columns="rating_raw").reset_index(drop=True)
    stats["rows_used"] = len(out)
    stats["duplicate_texts"] = int(out["text"].str.lower().duplicated().sum())
    if out["label"].nunique() < min_classes:
        raise DataValidationError(
            f"{source}: all {len(out)} usable rows have label {out['label'].iloc[0]!r}; "
            "training needs at least two classes"
        )
    return out, stats


def from_bytes(raw: bytes, source: str, label_map: dict[int, str] | None = None) -> ReviewData:
    """Parse and validate a file's bytes; the data version is the sha256 of exactly these bytes."""
    frame, stats = validate(parse_csv(raw, source), source, label_map)
    return ReviewData(frame=frame, sha256=hashlib.sha256(raw).hexdigest(), source=source,
                      stats=stats)


def load_reviews(source: str, label_map: dict[int, str] | None = None) -> ReviewData:
    return from_bytes(read_bytes(source), source, label_map)


@dataclass(frozen=True)
class SourceFile:
    uri: str
    modified: dt.datetime  # UTC


def list_csv_files(source: str) -> list[SourceFile]:
    """A CSV file is itself; a folder or an ``s3://bucket/prefix`` is the CSV files under it.
    A folder or prefix with none (yet) is an empty list: labeled reviews arrive over time."""
    if source.startswith("s3://"):
        bucket, _, prefix = source[5:].partition("/")
        try:
            pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            objects = [o for page in pages for o in page.get("Contents", [])]
        except Exception as exc:  # boto raises many types; the caller needs one clear message
            raise DataValidationError(f"cannot list {source}: {exc}") from exc
        return sorted((SourceFile(f"s3://{bucket}/{o['Key']}", o["LastModified"].astimezone(dt.UTC))
                       for o in objects if o["Key"].endswith(".csv")), key=lambda f: f.uri)
    path = Path(source)
    if path.is_file():
        paths = [path]
    elif path.suffix == ".csv":
        raise DataValidationError(f"labeled reviews file not found: {source}")
    else:
        paths = sorted(path.rglob("*.csv")) if path.is_dir() else []
    return [SourceFile(str(p), dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC)) for p in paths]


def load_labeled(sources: list[str], label_map: dict[int, str] | None = None,
                 since: dt.datetime | None = None) -> ReviewData | None:
    """Every labeled-review CSV under `sources` (modified after `since`, if given), validated
    like the training file and concatenated; None when there is none."""
    frames, digests, stats = [], [], {}
    for source in sources:
        for file in list_csv_files(source):
            if since is not None and file.modified <= since:
                continue
            raw = read_bytes(file.uri)
            frame, file_stats = validate(parse_csv(raw, file.uri), file.uri, label_map, min_classes=1)
            frames.append(frame)
            digests.append(f"{file.uri} {hashlib.sha256(raw).hexdigest()}")
            stats = {k: stats.get(k, 0) + v for k, v in file_stats.items()} | {"files": len(frames)}
    if not frames:
        return None
    return ReviewData(frame=pd.concat(frames, ignore_index=True),
                      sha256=hashlib.sha256("\n".join(digests).encode()).hexdigest(),
                      source=", ".join(sources), stats=stats)


def combine(main: ReviewData, extra: ReviewData | None) -> ReviewData:
    """The training file with the labeled reviews appended, marked as arrived (the split keeps
    the file's rows where they were: core.split.add_arrivals); the data version covers both."""
    if extra is None:
        return main
    return ReviewData(
        frame=pd.concat([main.frame.assign(**{ARRIVED: False}), extra.frame.assign(**{ARRIVED: True})],
                        ignore_index=True),
        sha256=hashlib.sha256(f"{main.sha256} {extra.sha256}".encode()).hexdigest(),
        source=f"{main.source} + {extra.source}",
        stats=main.stats | {"rows_used": main.stats["rows_used"] + extra.stats["rows_used"],
                            "labeled_rows_used": extra.stats["rows_used"],
                            "labeled_files": extra.stats["files"]},
    )


def read_reviews_to_score(path: str | Path) -> list:
    """Reviews to score from a file: a CSV with a review text column (and a title column if it
    has one) gives {"title", "text"} items; any other file is one review per non-blank line."""
    path = Path(path)
    if path.suffix == ".csv":
        frame = parse_csv(read_bytes(str(path)), str(path))
        text_col = _find_column(list(frame.columns), TEXT_COLUMNS)
        if not text_col:
            raise DataValidationError(f"{path}: no review text column; found {list(frame.columns)}")
        title_col = _find_column(list(frame.columns), TITLE_COLUMNS)
        titles = frame[title_col].tolist() if title_col else [None] * len(frame)
        return [{"text": t, "title": h} for t, h in zip(frame[text_col].tolist(), titles, strict=True)]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataValidationError(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return [line for line in lines if line.strip()]
