"""The search on a sample of big training splits (Settings.search_max_rows): stratified, seeded,
capped, the whole split below the cap, recorded in MLflow, and the chosen candidate refit on
the whole training split."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from flipkart_sentiment.adapters.data import load_reviews
from flipkart_sentiment.config import Settings
from flipkart_sentiment.core.estimators import build_pipeline
from flipkart_sentiment.core.profiles import SEED
from flipkart_sentiment.core.split import search_sample, split_for_training
from flipkart_sentiment.workflows import search as search_step
from flipkart_sentiment.workflows import training


def frame_of(counts: dict[str, int]) -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    order = np.random.default_rng(0).permutation(len(labels))
    return pd.DataFrame({"title": "", "text": [f"review {i}" for i in range(len(labels))],
                         "label": np.array(labels)[order]})


def test_a_sample_is_capped_and_keeps_the_label_mix():
    train = frame_of({"Positive": 7000, "Negative": 2000, "Neutral": 1000})
    sample = search_sample(train, 1234, seed=42)
    assert len(sample) == 1234
    share = train["label"].value_counts(normalize=True)
    counts = sample["label"].value_counts()
    for label in share.index:
        assert abs(counts[label] - share[label] * 1234) < 1  # largest remainder, not chance
    assert set(sample["text"]) <= set(train["text"]) and sample["text"].is_unique
    assert list(sample.index) == list(range(1234))
    # rows keep the training split's order
    position = {t: i for i, t in enumerate(train["text"])}
    assert sample["text"].map(position).is_monotonic_increasing


def test_a_sample_depends_on_the_seed_only():
    train = frame_of({"Positive": 5000, "Negative": 3000, "Neutral": 500})
    a, b = search_sample(train, 800, seed=7), search_sample(train.copy(), 800, seed=7)
    assert a.equals(b)
    assert not a["text"].equals(search_sample(train, 800, seed=8)["text"])


def test_a_rare_label_keeps_a_row():
    train = frame_of({"Positive": 9998, "Neutral": 2})
    sample = search_sample(train, 100, seed=1)
    assert len(sample) == 100
    assert (sample["label"] == "Neutral").sum() == 1


@pytest.mark.parametrize("cap", [0, 6000, 10_000])
def test_a_split_no_bigger_than_the_cap_is_searched_whole(cap):
    train = frame_of({"Positive": 4000, "Negative": 1500, "Neutral": 500})
    assert search_sample(train, cap, seed=42) is train


def test_the_projects_file_is_searched_whole_by_default(data_path):
    """Default settings leave the real data's search as it was: same rows, same folds."""
    frame = load_reviews(str(data_path)).frame
    default = split_for_training(frame, 0.2, 3, 42, Settings().search_max_rows)
    uncapped = split_for_training(frame, 0.2, 3, 42)
    assert default.search is default.train and not default.sampled
    assert default.sizes()["search_rows"] == len(default.train)
    for (a_fit, a_val), (b_fit, b_val) in zip(default.folds, uncapped.folds, strict=True):
        assert np.array_equal(a_fit, b_fit) and np.array_equal(a_val, b_val)


def test_capped_folds_cover_the_sample(data_path):
    frame = load_reviews(str(data_path)).frame
    splits = split_for_training(frame, 0.2, 3, 42, search_max_rows=3000)
    assert len(splits.search) == 3000 and splits.sampled
    assert len(splits.train) + len(splits.test) == len(frame)  # the test split is untouched
    seen = np.sort(np.concatenate([val for _, val in splits.folds]))
    assert np.array_equal(seen, np.arange(3000))


def test_a_sampled_search_is_logged_and_its_pick_refit_on_all_of_train(data_path, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("SENTIMENT_SEARCH_MAX_ROWS", "2000")
    monkeypatch.setenv("SENTIMENT_GIT_COMMIT", "test")
    settings = Settings()
    assert settings.search_max_rows == 2000
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.create_experiment(settings.experiment, artifact_location=(tmp_path / "art").as_uri())
    data = load_reviews(str(data_path))
    splits = split_for_training(data.frame, 0.2, 3, 42, settings.search_max_rows)
    run_id = training.start_tracking(settings, data, splits, "seed", {},
                                     training.run_name(data, "seed"))

    candidates = training.search(settings, splits, "seed", run_id)
    refit = training.refit(settings, splits, candidates, run_id)

    client = MlflowClient()
    parent = client.get_run(run_id)
    assert parent.data.params["search_rows"] == "2000"
    assert parent.data.params["search_max_rows"] == "2000"
    assert parent.data.params["n_train"] == str(len(splits.train))
    assert "sample of 2000 of" in parent.data.tags["search_sample"]
    [before], [after] = candidates, refit
    run = client.get_run(after.run_id)
    assert run.data.params["search_rows"] == "2000"
    assert run.data.metrics["data/refit_rows"] == len(splits.train)
    assert after.model_uri != before.model_uri and after.metrics == before.metrics
    whole = build_pipeline(SEED, settings.seed).fit(splits.train, splits.train["label"])
    probe = splits.test.head(200)
    assert np.array_equal(after.pipeline.predict_proba(probe), whole.predict_proba(probe))
    assert not np.array_equal(before.pipeline.predict_proba(probe), whole.predict_proba(probe))
    # the model the run logs last (the one registered) is the refit one
    loaded = mlflow.pyfunc.load_model(after.model_uri)
    assert [p["label"] for p in loaded.predict(probe[["title", "text"]].to_dict("records"))] == \
        list(whole.predict(probe))


def test_an_unsampled_search_is_not_refit(data_path):
    frame = load_reviews(str(data_path)).frame.head(600)
    splits = split_for_training(frame, 0.2, 3, 42, search_max_rows=10_000)
    marker = [object()]
    assert search_step.refit(splits, marker, 42, "no-run") is marker
