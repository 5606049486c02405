"""Batch scoring without servers: staging, sharding, parts merged in order, the summary, and
malformed inputs (a clear error, no output file). The model is a stand-in with the served
model's attributes (`classes`, `scorer.predict_proba`); tests/integration runs a real one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flipkart_sentiment.adapters import batch_files
from flipkart_sentiment.adapters.data import DataValidationError
from flipkart_sentiment.config import Settings
from flipkart_sentiment.workflows import scoring

CLASSES = ["Negative", "Neutral", "Positive"]


class FakeScorer:
    """Negative for texts containing 'bad', else Positive; probabilities depend on the text."""

    def predict_proba(self, titles, texts):
        out = np.zeros((len(texts), 3))
        for i, text in enumerate(texts):
            neg = 0.6 + min(len(text), 30) / 100 if "bad" in text else 0.1
            out[i] = [neg, 0.05, 0.95 - neg]
        return out


class FakeModel:
    classes = CLASSES
    scorer = FakeScorer()


@pytest.fixture
def fake_model(monkeypatch):
    monkeypatch.setitem(scoring._MODELS, "models:/fake/7", FakeModel())
    monkeypatch.setattr(scoring, "resolve_version", lambda settings, version: "7")
    monkeypatch.setattr(scoring, "_download_model", lambda uri, target: "models:/fake/7")
    monkeypatch.setenv("SENTIMENT_MODEL_NAME", "fake")
    return FakeModel()


def reviews(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = np.array(["good", "bad", "ok", "great", "very bad indeed"])
    return pd.DataFrame({
        "Reviewer Name": [f"user {i}" for i in range(n)],
        "Review Title": rng.choice(["Nice", "Worthless", "Fine"], n),
        "Review text": [f"{i} {w}" for i, w in enumerate(rng.choice(words, n))],
        "Ratings": rng.integers(1, 6, n).astype(str),
    })


def test_plan_shards_covers_every_row_once_in_order():
    for groups, shards in [([100], 3), ([10] * 10, 3), ([7, 3, 50, 1], 4), ([5], 9), ([3, 3], 1)]:
        ranges = scoring.plan_shards(groups, shards)
        assert ranges[0][0] == 0 and ranges[-1][1] == sum(groups)
        assert all(a < b for a, b in ranges)
        assert all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:], strict=False))
        assert len(ranges) <= shards
    # enough row groups: cuts fall on row-group boundaries
    assert scoring.plan_shards([10] * 10, 2) == [(0, 50), (50, 100)]


def test_output_uri_and_formats():
    assert batch_files.output_uri("/d/x.csv", "parquet") == "/d/x.scored.parquet"
    assert batch_files.output_uri("s3://b/p/x.parquet", "csv") == "s3://b/p/x.scored.csv"
    with pytest.raises(DataValidationError, match="cannot score a .json file"):
        batch_files.input_format("/d/x.json")
    with pytest.raises(DataValidationError, match="output format"):
        batch_files.output_uri("/d/x.csv", "xlsx")


def test_a_staged_csv_keeps_columns_as_written_and_reads_by_row_range(tmp_path):
    frame = reviews(1000)
    frame.loc[3, "Review text"] = 'line one\nline two, "quoted"'
    frame.to_csv(tmp_path / "in.csv", index=False)
    staged = batch_files.stage(str(tmp_path / "in.csv"), tmp_path)
    assert staged.rows == 1000 and staged.columns == list(frame.columns)
    assert staged.text_column == "Review text" and staged.title_column == "Review Title"
    got = pa.concat_tables(batch_files.read_rows(staged.path, 250, 700)).to_pandas()
    pd.testing.assert_frame_equal(got, frame.iloc[250:700].reset_index(drop=True))


@pytest.mark.parametrize("output_format", ["parquet", "csv"])
@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_sharded_scoring_matches_one_shard_row_for_row(tmp_path, fake_model, monkeypatch,
                                                       source, output_format):
    monkeypatch.setattr(batch_files, "STAGE_ROW_GROUP", 300)
    frame = reviews(2000)
    path = tmp_path / f"in.{source}"
    if source == "csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=300)
    outputs = {}
    for shards in (1, 4):
        summary = scoring.run_scoring(Settings(), str(path), output_format=output_format,
                                      shards=shards, workers=1,
                                      output_uri=str(tmp_path / f"out{shards}.{output_format}"))
        assert summary.rows == 2000 and summary.shards == shards and summary.version == "7"
        outputs[shards] = batch_files.read_table(summary.output_uri).to_pandas()
    one, four = outputs[1], outputs[4]
    pd.testing.assert_frame_equal(one, four)
    assert list(four.columns) == [*frame.columns, "predicted_label", "prob_Negative",
                                  "prob_Neutral", "prob_Positive", "model_version", "has_content"]
    assert four["Review text"].tolist() == frame["Review text"].tolist()  # order kept
    assert (four["predicted_label"] == np.where(frame["Review text"].str.contains("bad"),
                                                "Negative", "Positive")).all()
    assert set(four["model_version"].astype(str)) == {"7"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, f"out1.{output_format}", f"out4.{output_format}"])


def test_rows_with_nothing_to_read_are_scored_flagged_and_counted(tmp_path, fake_model):
    frame = reviews(6)
    # no letter, digit or emoji in title and text; an empty text with a real title is content
    frame.loc[1, ["Review Title", "Review text"]] = ["!!!", "  ...  "]
    frame.loc[3, ["Review Title", "Review text"]] = ["", "\u200b\u200b"]
    frame.loc[4, ["Review Title", "Review text"]] = ["Worthless", ""]
    frame.loc[5, ["Review Title", "Review text"]] = ["", "\U0001F44D"]
    frame.to_csv(tmp_path / "r.csv", index=False)
    summary = scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=2, workers=1)
    out = batch_files.read_table(summary.output_uri).to_pandas()
    assert len(out) == 6 and out["has_content"].tolist() == [True, False, True, False, True, True]
    assert summary.no_content == 2 and summary.as_dict()["no_content"] == 2
    assert "2 row(s) with no letter, digit or emoji" in summary.markdown()
    shard = scoring.ShardSummary(0, rows=6, no_content=2)
    assert scoring.ShardSummary.from_json(shard.to_json()) == shard


def test_the_summary_counts_labels_groups_and_the_most_negative(tmp_path, fake_model):
    frame = reviews(500)
    frame.to_csv(tmp_path / "r.csv", index=False)
    summary = scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=3, workers=1)
    assert summary.output_uri == str(tmp_path / "r.scored.parquet")
    bad = frame["Review text"].str.contains("bad")
    assert summary.labels == Counter({"Negative": int(bad.sum()), "Positive": int((~bad).sum())})
    assert summary.group_column == "Review Title"
    assert sum(sum(c.values()) for c in summary.groups.values()) == 500
    assert summary.groups["Nice"]["Negative"] == int((bad & (frame["Review Title"] == "Nice")).sum())
    # the highest P(Negative) is the longest "bad" text; ties go to the earlier row
    p = [row for _, row, _, _ in summary.most_negative]
    assert len(p) == scoring.TOP_NEGATIVE
    assert all("very bad indeed" in frame["Review text"][row] for row in p)
    assert p == sorted(p)
    md = summary.markdown()
    assert "| Negative |" in md and "## By Review Title" in md and "most negative" in md


def test_merge_summaries_adds_shards():
    a = scoring.ShardSummary(0, 2, 1.0, Counter(a=2), {"g": Counter(a=2)}, [(0.9, 1, "", "x")], 1)
    b = scoring.ShardSummary(1, 3, 1.0, Counter(a=1, b=2), {"g": Counter(b=1), "h": Counter(b=1)},
                             [(0.95, 5, "", "y"), (0.9, 0, "", "z")], 2)
    rows, labels, groups, top, no_content = scoring.merge_summaries([b, a])
    assert rows == 5 and labels == Counter(a=3, b=2) and no_content == 3
    assert groups == {"g": Counter(a=2, b=1), "h": Counter(b=1)}
    assert [r for _, r, _, _ in top] == [5, 0, 1]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("no_text.csv", "Review Title,Ratings\nNice,5\n", "no review text column"),
    ("bad.csv", 'Review text,Ratings\n"unterminated,5\n', "malformed CSV"),
    ("latin1.csv", "Review text,Ratings\ncaf\xe9,5\n".encode("latin-1"), "not UTF-8"),
    ("broken.parquet", b"PAR1 not really parquet", "not a readable Parquet file"),
    ("notes.txt", "Review text\nfine\n", "give a .csv or .parquet file"),
    ("missing.csv", None, "file not found"),
])
def test_a_malformed_file_fails_clearly_and_writes_nothing(tmp_path, fake_model, name, content,
                                                           message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_bytes(content)
    before = sorted(Path(tmp_path).iterdir())
    with pytest.raises(DataValidationError, match=message):
        scoring.run_scoring(Settings(), str(path), shards=2, workers=1)
    assert sorted(Path(tmp_path).iterdir()) == before


def test_a_failing_shard_leaves_no_output(tmp_path, fake_model, monkeypatch):
    reviews(300).to_csv(tmp_path / "r.csv", index=False)

    def broken(*args, **kwargs):
        raise RuntimeError("scorer exploded")

    monkeypatch.setattr(FakeScorer, "predict_proba", broken)
    with pytest.raises(RuntimeError, match="scorer exploded"):
        scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=2, workers=1)
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_default_workers_start_processes_only_for_enough_rows():
    assert scoring.default_workers(85_000, 4, 2) == 1
    assert scoring.default_workers(250_000, 4, 2) == 2
    assert scoring.default_workers(10_000_000, 3, 8) == 3


def test_without_a_compiled_scorer_the_summary_says_there_are_no_phrases(tmp_path, fake_model):
    reviews(50).to_csv(tmp_path / "r.csv", index=False)
    summary = scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=2, workers=1)
    assert summary.phrases == {} and summary.phrases_note == scoring.NO_EXPLAINER
    assert f"Not available: {scoring.NO_EXPLAINER}." in summary.markdown()


@pytest.fixture(scope="module")
def explaining_model(data_path):
    """A small real pipeline with the served model's attributes, its explainer included."""
    from types import SimpleNamespace

    from flipkart_sentiment.adapters.data import from_bytes
    from flipkart_sentiment.core.compiled import CompiledScorer
    from flipkart_sentiment.core.estimators import build_pipeline
    from flipkart_sentiment.core.explain import Explainer
    from flipkart_sentiment.core.profiles import PROFILES

    frame = from_bytes(data_path.read_bytes(), str(data_path)).frame.sample(n=2000, random_state=2)
    pipeline = build_pipeline(PROFILES["quick"][1]).fit(frame, frame["label"])
    scorer = CompiledScorer(pipeline)
    return SimpleNamespace(classes=[str(c) for c in pipeline.classes_], scorer=scorer,
                           explainer=Explainer(scorer, pipeline), pipeline=pipeline)


def test_the_summary_lists_the_phrases_driving_negative_and_neutral_per_group(
        tmp_path, explaining_model, monkeypatch):
    monkeypatch.setitem(scoring._MODELS, "models:/fake/7", explaining_model)
    monkeypatch.setattr(scoring, "resolve_version", lambda settings, version: "7")
    monkeypatch.setattr(scoring, "_download_model", lambda uri, target: "models:/fake/7")
    texts = {"Shuttle A": ["not good at all, feathers broke", "Not worth the money", "great shuttle"],
             "Shuttle B": ["Terrible quality, fake product", "very bad, waste of money", "excellent"]}
    frame = pd.DataFrame([{"Product": product, "Review text": text}
                          for product, items in texts.items() for text in items * 20])
    frame.to_csv(tmp_path / "r.csv", index=False)
    one = scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=1, workers=1)
    three = scoring.run_scoring(Settings(), str(tmp_path / "r.csv"), shards=3, workers=1,
                                output_uri=str(tmp_path / "three.parquet"))
    assert one.phrases_note == "" and set(one.phrases) <= set(scoring.PHRASE_LABELS)
    negative = one.phrases["Negative"]
    assert "not good" in negative and "terrible" in negative
    assert all(w > 0 for w in negative.values())
    # per group: each product's own complaints
    assert "not good" in one.group_phrases["Shuttle A"]["Negative"]
    assert "terrible" in one.group_phrases["Shuttle B"]["Negative"]
    assert "terrible" not in one.group_phrases["Shuttle A"]["Negative"]
    # shards add up to the same totals
    for label, counter in one.phrases.items():
        assert three.phrases[label].keys() == counter.keys()
        for phrase, weight in counter.items():
            assert three.phrases[label][phrase] == pytest.approx(weight)
    md = one.markdown()
    assert "## What drives Negative and Neutral" in md and "| Shuttle A |" in md and "not good (" in md
    shard = scoring.ShardSummary(0, phrases={"Negative": Counter({"not good": 1.5})},
                                 group_phrases={"A": {"Negative": Counter({"x": 0.5})}})
    assert scoring.ShardSummary.from_json(shard.to_json()) == shard
