"""All runtime settings in one typed place.

Project settings use the ``SENTIMENT_`` prefix; the tools' own variables (``MLFLOW_TRACKING_URI``,
``PREFECT_API_URL``) are read under their usual names so a user's existing setup just works.
``Settings`` is what training, the CLI and the flows read; ``ServingSettings`` is the model
server's own (it ships inside every model, with ``core``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .core.labels import DEFAULT_LABEL_MAP
from .core.profiles import ProfileName

# src/flipkart_sentiment/config.py -> repo root is three levels up.
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_PATH = REPO_ROOT.parent / "shared" / "data" / "flipkart_reviews_badminton.csv"


PREDICTION_LOG_VARIABLE = "SENTIMENT_PREDICTION_LOG"
# S3-compatible endpoints (MinIO), in the order the AWS SDKs look them up, then MLflow's name.
S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")


def s3_endpoint() -> str | None:
    """The S3 endpoint every reader and writer of the platform uses (None: AWS's own)."""
    return next((os.environ[v] for v in S3_ENDPOINT_VARIABLES if os.environ.get(v)), None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", extra="ignore")

    data_path: str = Field(
        default=str(DEFAULT_DATA_PATH),
        description="CSV path or s3://bucket/key of the reviews file.",
    )
    # Reviews with ratings that arrived after the shipped data set: each a CSV file, a folder of
    # CSV files or an s3://bucket/prefix of them (comma-separated). Training appends every row;
    # monitoring judges the production model on the files newer than it (live F1, label mix).
    labeled_data: Annotated[list[str], NoDecode] = Field(default_factory=list)
    model_name: str = "flipkart-sentiment"
    experiment: str = "flipkart-sentiment"
    search: ProfileName = Field(default="full", description="Search profile: full, quick, seed or families.")
    # "1:Negative,2:Negative,3:Neutral,4:Positive,5:Positive" style, so a user can relabel
    # (e.g. drop Neutral into Negative) without code changes. The model's class weights and
    # Neutral prior shift act on the labels of core.labels by name, and the CheckList suite is
    # written in them; other names train and serve, without those options.
    label_map: Annotated[dict[int, str], NoDecode] = Field(default_factory=lambda: dict(DEFAULT_LABEL_MAP))
    test_size: float = Field(default=0.2, gt=0, lt=0.5)
    # Candidates are compared by grouped k-fold CV over the training split. (A single validation
    # fold is not enough here: one group, the 978 reviews that say just "Good", fills most of it.)
    cv_folds: int = Field(default=3, ge=2, le=10)
    # Larger training splits are searched on a stratified, seeded sample of this many rows (0:
    # all rows); the chosen candidate is then fit on the whole training split and judged on the
    # whole test split. The project's file (~6.8k training rows) is searched whole; x100 grown
    # data (680k) would take ~an hour to search whole (BENCHMARKS.md, "Training on grown data").
    search_max_rows: int = Field(default=20_000, ge=0)
    seed: int = 42
    # Champion/challenger: the challenger must beat production by more than this weighted F1.
    min_improvement: float = Field(default=0.0, ge=0)
    # Seconds between retries of steps that talk to servers (MLflow, S3, Kubernetes).
    retry_delay_seconds: float = Field(default=10.0, ge=0)
    # The deployment `train-sentiment/daily`: when it runs (cron, in this time zone).
    schedule_cron: str = "0 2 * * *"
    schedule_timezone: str = "UTC"
    # false: flows/deploy.py creates the deployments' schedules paused (Prefect's `active`), as
    # `prefect deployment schedule pause` would leave them: the cron is kept and shown, no run is
    # made until `prefect deployment schedule resume --all`. For a cluster that must not train on its
    # own (a staging copy, a test of the platform); the automation still runs training.
    schedules_active: bool = True
    # Where a promotion rolls out (workflows/delivery.py): "kubernetes" (the model-server
    # Deployment below), "local" (the local platform's model server) or "none" (move the alias
    # only). Unset: "kubernetes" when a Deployment is named, else "none".
    rollout_target: Literal["none", "kubernetes", "local"] | None = None
    # The model-server Deployment, its namespace (default: the pod's own, or the kubeconfig's)
    # and the pod-template annotation that carries the served version (the chart's
    # `global.rollout.annotation`).
    rollout_deployment: str | None = None
    rollout_namespace: str | None = None
    rollout_annotation: str = "flipkart-sentiment/model-version"
    # How long a rollout may take before it is reverted.
    rollout_timeout_seconds: float = Field(default=600.0, gt=0)
    # The local platform's model server (scripts/local/platform.sh restarts it on a version).
    local_model_port: int = 5001
    local_platform_script: Path = REPO_ROOT / "scripts" / "local" / "platform.sh"

    # Monitoring (workflows/monitoring.py, flow monitor-sentiment): the model server's prediction
    # log (SENTIMENT_PREDICTION_LOG, the variable the server writes to) and how far back it is read.
    prediction_log: str = ""
    monitor_window_hours: float = Field(default=24.0, gt=0)
    monitor_experiment: str = "flipkart-sentiment-monitoring"
    monitor_schedule_cron: str = "0 * * * *"
    # After a run of a version emitted events, later runs of the same version within this many
    # hours do not (0: every run does): one retraining per version per day, not per hour.
    monitor_cooldown_hours: float = Field(default=24.0, ge=0)
    # Fewer reviews than this leave a check unjudged: a few dozen reviews move every statistic.
    monitor_min_reviews: int = Field(default=50, ge=1)
    # Thresholds (docs/monitoring.md has the values measured on normal and shifted sets).
    max_label_shift: float = Field(default=0.15, ge=0, le=1)       # total variation
    max_confidence_shift: float = Field(default=0.2, ge=0, le=1)   # Kolmogorov-Smirnov statistic
    max_vocabulary_shift: float = Field(default=0.15, ge=0, le=1)  # Jensen-Shannon above sampling, bits
    max_oov_increase: float = Field(default=0.10, ge=0, le=1)      # OOV rate above the test split's
    max_f1_drop: float = Field(default=0.10, ge=0, le=1)           # weighted F1 below the version's test F1

    # Batch scoring with executor "deployments" (workflows/scoring.py, docs/batch-scoring.md):
    # where the parent puts the staged input and the shard runs their parts, under a per-run
    # folder that is deleted at the end. Every shard run must reach it: s3://bucket/prefix on
    # Kubernetes (the chart sets s3://<monitoring bucket>/batch/_scoring), or a local folder
    # when the shard runs share this machine's disk (a process worker). Unset: executor
    # "deployments" refuses to start.
    scoring_work_uri: str | None = None
    # How long one shard flow run may take, from its creation (Job start and model download
    # included), before it counts as failed and is started again (once).
    scoring_shard_timeout_seconds: float = Field(default=1800.0, gt=0)
    # The CPU request of a shard's Job on Kubernetes (flows/deploy.py): one core per shard, the
    # rate a shard scores at; lower it where the nodes have less than a core free (the e2e on
    # the 2-core kind node of CI).
    scoring_shard_cpu_request: str = Field(default="1", pattern=r"^[0-9]+(\.[0-9]+)?m?$")

    tracking_uri: str = Field(
        default="http://127.0.0.1:5000",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "SENTIMENT_TRACKING_URI"),
    )
    # Where people open MLflow's UI, for the links in Prefect artifacts and logs (on Kubernetes
    # the tracking URI is a cluster-internal name). Empty: the tracking URI.
    mlflow_ui_url: str | None = None

    @field_validator("label_map", mode="before")
    @classmethod
    def _parse_label_map(cls, value):
        if isinstance(value, str):
            pairs = [p.split(":", 1) for p in value.split(",") if p.strip()]
            try:
                return {int(k): v.strip() for k, v in pairs}
            except ValueError as exc:
                raise ValueError(
                    "SENTIMENT_LABEL_MAP must look like '1:Negative,2:Negative,3:Neutral,...'"
                ) from exc
        return value

    @field_validator("labeled_data", mode="before")
    @classmethod
    def _parse_sources(cls, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("prediction_log")
    @classmethod
    def _check_prediction_log(cls, value: str) -> str:
        return _prediction_log(value)

    @field_validator("scoring_work_uri")
    @classmethod
    def _check_scoring_work_uri(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if value.startswith("s3://"):
            if not value[5:].split("/", 1)[0]:
                raise ValueError(f"SENTIMENT_SCORING_WORK_URI={value!r}: an s3:// URI needs a "
                                 "bucket (s3://bucket/prefix)")
            return value
        if "://" in value or not Path(value).is_absolute():
            raise ValueError(f"SENTIMENT_SCORING_WORK_URI={value!r}: use s3://bucket/prefix or "
                             "an absolute local folder")
        return value

    @property
    def rollout_kind(self) -> str:
        if self.rollout_target is not None:
            return self.rollout_target
        return "kubernetes" if self.rollout_deployment else "none"

    @property
    def mlflow_ui(self) -> str:
        return (self.mlflow_ui_url or self.tracking_uri).rstrip("/")

    @property
    def labels(self) -> list[str]:
        """The labels the map produces, sorted (the order of the model's classes)."""
        return sorted(set(self.label_map.values()))


class ServingSettings(BaseSettings):
    """What the model reads inside `mlflow models serve` (docs/serving.md). A class of its own so
    that a training variable set wrong in the server's environment cannot stop it loading."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_SERVE_", extra="ignore")

    # Off: the sklearn pipeline answers (same probabilities, ~8x slower per review); a kill
    # switch that needs no retraining.
    compiled: bool = True
    # Off: the loaded heap stays in the garbage collector's reach (~100 ms pauses under load).
    freeze_heap: bool = True
    # Off: no GET /metrics and no counting (serving/metrics.py); `make bench` measures the cost.
    metrics: bool = True
    # Where each prediction is recorded (serving/prediction_log.py): a local path, file:///path
    # or s3://bucket/prefix; empty: off. Records carry a hash of the review, its text only with
    # prediction_log_raw_text (personal data: opt-in). SENTIMENT_PREDICTION_LOG, without the
    # SERVE_ prefix: one name for the log, which the monitor (Settings.prediction_log) reads.
    prediction_log: str = Field(default="", validation_alias=AliasChoices(PREDICTION_LOG_VARIABLE))
    prediction_log_raw_text: bool = False
    # A worker writes a file every `batch` records or `flush_seconds`, whichever comes first,
    # and drops (and counts) what exceeds `queue` records waiting to be written.
    prediction_log_batch: int = Field(default=1000, ge=1, le=1_000_000)
    prediction_log_flush_seconds: float = Field(default=60.0, gt=0, le=86_400)
    prediction_log_queue: int = Field(default=20_000, ge=1, le=10_000_000)

    @field_validator("prediction_log")
    @classmethod
    def _check_prediction_log(cls, value: str) -> str:
        return _prediction_log(value)


def _prediction_log(value: str) -> str:
    if value.strip():
        prediction_log_location(value)
    return value.strip()


def prediction_log_location(uri: str) -> tuple[str, str]:
    """("local", absolute path) or ("s3", "bucket/prefix") of a prediction log URI; the
    ValueError says what is accepted."""
    parsed = urlparse(uri.strip())
    name = PREDICTION_LOG_VARIABLE
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{name}={uri!r}: an s3:// URI needs a bucket (s3://bucket/prefix)")
        return "s3", f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost") and parsed.path:
        return "local", str(Path(parsed.path).resolve())
    if parsed.scheme == "" and parsed.path:
        return "local", str(Path(parsed.path).expanduser().resolve())
    raise ValueError(f"{name}={uri!r}: use a local path, file:///path or s3://bucket/prefix")
