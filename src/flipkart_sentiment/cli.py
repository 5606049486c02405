"""`flipkart-sentiment`: train, predict, score, promote, rollback and evaluate from a terminal."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import get_args

from .adapters.data import DataValidationError
from .config import DEFAULT_DATA_PATH, Settings
from .core.profiles import ProfileName

PROFILES = list(get_args(ProfileName))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _train(args, settings: Settings) -> int:
    from .workflows.summary import summary_markdown
    from .workflows.training import TrackingUnavailable, run_training

    try:
        result = run_training(settings, args.data, args.search)
    except (DataValidationError, TrackingUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_markdown(result, settings.tracking_uri, settings.model_name))
    return 0


def _predict(args, settings: Settings) -> int:
    import mlflow
    from mlflow.exceptions import MlflowException

    from .adapters.data import read_reviews_to_score

    uri = args.model or f"models:/{settings.model_name}@production"
    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        reviews = list(args.text) if args.text else read_reviews_to_score(args.file)
        model = mlflow.pyfunc.load_model(uri)
        predictions = model.predict(reviews)
    except (DataValidationError, MlflowException, OSError) as exc:
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    for review, prediction in zip(reviews, predictions, strict=True):
        text = review["text"] if isinstance(review, dict) else review
        print(json.dumps({"text": str(text)[:80], **prediction}, ensure_ascii=False))
    return 0


def _score(args, settings: Settings) -> int:
    """Batch scoring of a whole file (the score-reviews flow's job, without Prefect)."""
    from .workflows.scoring import ScoringError, run_scoring

    try:
        summary = run_scoring(settings, args.input, version=args.version,
                              output_format=args.format, shards=args.shards, workers=args.workers,
                              output_uri=args.output)
    except (DataValidationError, ScoringError) as exc:
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    print(summary.markdown())
    return 0


def _deliver(args, settings: Settings) -> int:
    """promote --version N and rollback: alias -> rollout -> wait, reverted on failure."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from .workflows import delivery

    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    try:
        target = delivery.target_from(settings)
        if args.command == "rollback":
            result = delivery.rollback(settings, client, target)
        else:
            result = delivery.deliver(settings, client, args.version, "forced",
                                      "promoted by an operator (flipkart-sentiment promote)", target)
    except delivery.RolloutFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (MlflowException, ValueError) as exc:
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    print(f"{settings.model_name}: {result.describe()}")
    return 0


def _evaluate(args, settings: Settings) -> int:
    from .workflows.quality import build_report

    if args.model_uri and args.model_uri.startswith("models:/"):
        import mlflow

        mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        path, _ = build_report(args.data or settings.data_path, args.out, profile=args.profile,
                               candidate_name=args.candidate, model_uri=args.model_uri,
                               seed=args.seed)
    except (DataValidationError, KeyError) as exc:
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flipkart-sentiment", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="run the training workflow without Prefect")
    train.add_argument("--data", help="CSV path or s3:// URI (default: SENTIMENT_DATA_PATH)")
    train.add_argument("--search", choices=PROFILES, help="search profile")
    predict = sub.add_parser("predict", help="score reviews with a registered model")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", nargs="+", help="one or more review texts")
    source.add_argument("--file", help="a CSV with a review text column, or one review per line")
    predict.add_argument("--model", help="model URI (default: models:/<name>@production)")
    score = sub.add_parser("score", help="score a whole CSV or Parquet file (local or s3://) in "
                           "parallel shards -> <stem>.scored.<format> next to it")
    score.add_argument("input", help="CSV/Parquet path or s3://bucket/key")
    score.add_argument("--version", help="model version (default: the production version)")
    score.add_argument("--format", default="parquet", choices=["parquet", "csv"],
                       help="output format (default: parquet)")
    score.add_argument("--output", help="output path or s3:// URI (default: <stem>.scored.<format> "
                       "next to the input)")
    score.add_argument("--shards", type=int, help="row ranges (default: one per CPU)")
    score.add_argument("--workers", type=int, help="parallel processes (default: one per CPU)")
    promote = sub.add_parser("promote", help="make a version production and roll the model server "
                             "onto it (SENTIMENT_ROLLOUT_TARGET), reverting if it fails")
    promote.add_argument("--version", required=True)
    sub.add_parser("rollback", help="back to the version the current production replaced, "
                   "server included")
    evaluate = sub.add_parser("evaluate", help="model-quality report: test metrics and the "
                              "CheckList suite -> reports/quality.md")
    evaluate.add_argument("--data", help=f"CSV path or s3:// URI (default: SENTIMENT_DATA_PATH, "
                          f"else {DEFAULT_DATA_PATH.name})")
    evaluate.add_argument("--out", default="reports", help="output directory (default: reports)")
    evaluate.add_argument("--profile", default="full", choices=PROFILES,
                          help="search profile for CV selection")
    evaluate.add_argument("--candidate", help="fit this candidate of the profile instead of searching "
                          "(`winner`: the full search's pick)")
    evaluate.add_argument("--model-uri", help="evaluate a registered model, e.g. "
                          "models:/flipkart-sentiment@production (MLFLOW_TRACKING_URI)")
    evaluate.add_argument("--seed", type=int, default=42)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    commands = {"train": _train, "predict": _predict, "score": _score, "promote": _deliver,
                "rollback": _deliver, "evaluate": _evaluate}
    return commands[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
