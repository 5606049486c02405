"""Labeled reviews that arrive after training: files, folders, what is new, and bad input."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from flipkart_sentiment.adapters.data import DataValidationError, combine, from_bytes, load_labeled


def csv(path, rows: str, mtime: float | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Review text,Ratings\n" + rows)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_a_folder_is_every_csv_under_it_and_one_class_is_allowed(tmp_path):
    csv(tmp_path / "in" / "2026-05-01.csv", "awful,1\nbroke at once,2\n")
    csv(tmp_path / "in" / "deeper" / "more.csv", "fine,3\n")
    (tmp_path / "in" / "notes.txt").write_text("not a csv")
    data = load_labeled([str(tmp_path / "in")])
    assert sorted(data.frame["label"]) == ["Negative", "Negative", "Neutral"]
    assert data.stats["files"] == 2 and data.stats["rows_used"] == 3
    only_negative = load_labeled([str(tmp_path / "in" / "2026-05-01.csv")])
    assert set(only_negative.frame["label"]) == {"Negative"}


def test_only_files_newer_than_since_and_none_when_nothing_arrived(tmp_path):
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    csv(tmp_path / "old.csv", "good,5\n", mtime=(day - dt.timedelta(days=1)).timestamp())
    csv(tmp_path / "new.csv", "bad,1\n", mtime=(day + dt.timedelta(days=1)).timestamp())
    assert load_labeled([str(tmp_path)], since=day).frame["text"].tolist() == ["bad"]
    assert load_labeled([str(tmp_path)], since=day + dt.timedelta(days=2)) is None
    assert load_labeled([str(tmp_path / "empty-folder")]) is None


def test_bad_input_says_what_is_wrong(tmp_path):
    no_rating = tmp_path / "x.csv"
    no_rating.write_text("Review text,Stars given\ngood,5\n")
    with pytest.raises(DataValidationError, match="no rating column"):
        load_labeled([str(no_rating)])
    with pytest.raises(DataValidationError, match="labeled reviews file not found"):
        load_labeled([str(tmp_path / "missing.csv")])


def test_combined_data_has_both_and_a_version_of_its_own(tmp_path):
    main = from_bytes(b"Review text,Ratings\ngood,5\nbad,1\n", "main.csv")
    extra = load_labeled([str(csv(tmp_path / "l.csv", "meh,3\n"))])
    both = combine(main, extra)
    assert both.frame["text"].tolist() == ["good", "bad", "meh"]
    assert both.stats["rows_used"] == 3 and both.stats["labeled_rows_used"] == 1
    assert both.sha256 not in (main.sha256, extra.sha256)
    assert combine(main, None) is main
