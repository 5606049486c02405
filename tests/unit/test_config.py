"""Settings: what users tune, with clear errors."""

from __future__ import annotations

import pytest

from flipkart_sentiment.config import Settings


def test_schedule_and_rollout_annotation_are_settings(monkeypatch):
    default = Settings()
    assert (default.schedule_cron, default.schedule_timezone) == ("0 2 * * *", "UTC")
    assert default.rollout_annotation == "flipkart-sentiment/model-version"
    monkeypatch.setenv("SENTIMENT_SCHEDULE_CRON", "30 4 * * 1")
    monkeypatch.setenv("SENTIMENT_SCHEDULE_TIMEZONE", "Asia/Kolkata")
    monkeypatch.setenv("SENTIMENT_ROLLOUT_ANNOTATION", "example.com/model")
    tuned = Settings()
    assert (tuned.schedule_cron, tuned.schedule_timezone) == ("30 4 * * 1", "Asia/Kolkata")
    assert tuned.rollout_annotation == "example.com/model"


def test_labels_follow_the_label_map(monkeypatch):
    assert Settings().labels == ["Negative", "Neutral", "Positive"]
    monkeypatch.setenv("SENTIMENT_LABEL_MAP", "1:Negative,2:Negative,3:Negative,4:Positive,5:Positive")
    assert Settings().labels == ["Negative", "Positive"]


def test_an_unknown_search_profile_names_the_choices(monkeypatch):
    monkeypatch.setenv("SENTIMENT_SEARCH", "fastest")
    with pytest.raises(ValueError, match="'full', 'quick', 'seed' or 'families'"):
        Settings()


def test_monitoring_sources_and_thresholds_are_settings(monkeypatch):
    assert Settings().labeled_data == [] and Settings().prediction_log == ""
    monkeypatch.setenv("SENTIMENT_LABELED_DATA", "s3://reviews/labeled/, /data/extra.csv,")
    monkeypatch.setenv("SENTIMENT_MAX_F1_DROP", "0.05")
    tuned = Settings()
    assert tuned.labeled_data == ["s3://reviews/labeled/", "/data/extra.csv"]
    assert tuned.max_f1_drop == 0.05
    monkeypatch.setenv("SENTIMENT_MAX_LABEL_SHIFT", "1.5")
    with pytest.raises(ValueError, match="max_label_shift"):
        Settings()


def test_the_server_and_the_monitor_read_one_prediction_log_variable(monkeypatch, tmp_path):
    from flipkart_sentiment.config import ServingSettings

    monkeypatch.setenv("SENTIMENT_PREDICTION_LOG", f" {tmp_path} ")
    assert Settings().prediction_log == ServingSettings().prediction_log == str(tmp_path)
    monkeypatch.setenv("SENTIMENT_PREDICTION_LOG", "gs://elsewhere")
    for settings in (Settings, ServingSettings):
        with pytest.raises(ValueError, match="SENTIMENT_PREDICTION_LOG='gs://elsewhere'"):
            settings()


def test_one_s3_endpoint_lookup_in_the_sdks_order(monkeypatch):
    from flipkart_sentiment.config import S3_ENDPOINT_VARIABLES, s3_endpoint

    for name in S3_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert s3_endpoint() is None
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://mlflow-s3:9000")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws:9000")
    assert s3_endpoint() == "http://aws:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://aws-s3:9000")
    assert s3_endpoint() == "http://aws-s3:9000"
