import pandas as pd

from flipkart_sentiment.adapters.data import load_reviews
from flipkart_sentiment.core.split import group_keys, grouped_split, split_for_training


def test_no_review_text_is_on_both_sides_of_any_split(data_path):
    data = load_reviews(str(data_path))
    splits = split_for_training(data.frame, test_size=0.2, cv_folds=3, seed=42)
    test, train = set(group_keys(splits.test)), set(group_keys(splits.train))
    assert not test & train
    assert len(splits.train) + len(splits.test) == len(data.frame)
    assert len(splits.folds) == 3
    seen = []
    for fit_idx, val_idx in splits.folds:
        fit, val = splits.train.iloc[fit_idx], splits.train.iloc[val_idx]
        assert not set(group_keys(fit)) & set(group_keys(val))
        seen.extend(val_idx)
    assert sorted(seen) == list(range(len(splits.train)))  # every row is validated exactly once


def test_duplicates_would_leak_in_a_naive_split(data_path):
    """The guard above matters: this data has thousands of repeated texts."""
    data = load_reviews(str(data_path))
    assert data.stats["duplicate_texts"] > 3000


def test_split_is_stratified_and_deterministic(data_path):
    frame = load_reviews(str(data_path)).frame
    a, b = grouped_split(frame, 0.2, 7), grouped_split(frame, 0.2, 7)
    assert a.test.equals(b.test)
    share = frame["label"].value_counts(normalize=True)
    test_share = a.test["label"].value_counts(normalize=True)
    for label in share.index:
        assert abs(test_share[label] - share[label]) < 0.05
    assert 0.15 < len(a.test) / len(frame) < 0.3


def test_arrived_reviews_never_move_a_shipped_review_across(data_path):
    """The gate scores production on the test side: rows it trained on must stay off it."""
    frame = load_reviews(str(data_path)).frame
    shipped, arrived = frame.iloc[:6000], frame.iloc[6000:]
    before = split_for_training(shipped, 0.2, 3, 42)
    grown = split_for_training(
        pd.concat([shipped.assign(arrived=False), arrived.assign(arrived=True)], ignore_index=True),
        0.2, 3, 42)
    shipped_test = grown.test[~grown.test["arrived"]]
    assert shipped_test[["text", "label"]].reset_index(drop=True).equals(
        before.test[["text", "label"]].reset_index(drop=True))
    assert not set(group_keys(grown.test)) & set(group_keys(grown.train))
    assert len(grown.train) + len(grown.test) == len(frame)
    new_in_test = grown.test["arrived"].sum() / len(arrived)
    assert 0.1 < new_in_test < 0.4  # about test_size of them; copies of shipped texts follow theirs
    # where an arrived review lands does not depend on what else arrived
    half = split_for_training(
        pd.concat([shipped.assign(arrived=False), arrived.iloc[:1000].assign(arrived=True)],
                  ignore_index=True), 0.2, 3, 42)
    assert set(half.test.loc[half.test["arrived"], "text"]) <= set(grown.test["text"])
