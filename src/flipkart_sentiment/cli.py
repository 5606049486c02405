"""`flipkart-sentiment`: train, predict and promote from a terminal."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import Settings
from .data import DataValidationError


def _train(args, settings: Settings) -> int:
    from .pipeline import TrackingUnavailable, run_training
    from .report import summary_markdown

    try:
        result = run_training(settings, args.data, args.search)
    except (DataValidationError, TrackingUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_markdown(result, settings.tracking_uri, settings.model_name))
    return 0


def _reviews_from(args) -> list:
    if args.text:
        return list(args.text)
    path = Path(args.file)
    if path.suffix == ".csv":
        from .data import parse_csv

        frame = parse_csv(path.read_bytes(), str(path))
        from .data import TEXT_COLUMNS, TITLE_COLUMNS, _find_column

        text_col = _find_column(list(frame.columns), TEXT_COLUMNS)
        if not text_col:
            raise DataValidationError(f"{path}: no review text column; found {list(frame.columns)}")
        title_col = _find_column(list(frame.columns), TITLE_COLUMNS)
        return [{"text": r[text_col], "title": r[title_col] if title_col else None}
                for _, r in frame.iterrows()]
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _predict(args, settings: Settings) -> int:
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = args.model or f"models:/{settings.model_name}@production"
    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        reviews = _reviews_from(args)
        model = mlflow.pyfunc.load_model(uri)
        predictions = model.predict(reviews)
    except (DataValidationError, MlflowException, OSError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    for review, prediction in zip(reviews, predictions, strict=True):
        text = review["text"] if isinstance(review, dict) else review
        print(json.dumps({"text": text[:80], **prediction}, ensure_ascii=False))
    return 0


def _promote(args, settings: Settings) -> int:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from . import registry

    mlflow.set_tracking_uri(settings.tracking_uri)
    try:
        registry.force_production(MlflowClient(), settings.model_name, args.version)
    except MlflowException as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"{settings.model_name}@production -> version {args.version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flipkart-sentiment", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="run the training pipeline without Prefect")
    train.add_argument("--data", help="CSV path or s3:// URI (default: SENTIMENT_DATA_PATH)")
    train.add_argument("--search", choices=["full", "quick", "seed"], help="search profile")
    predict = sub.add_parser("predict", help="score reviews with a registered model")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", nargs="+", help="one or more review texts")
    source.add_argument("--file", help="a CSV with a review text column, or one review per line")
    predict.add_argument("--model", help="model URI (default: models:/<name>@production)")
    promote = sub.add_parser("promote", help="point the production alias at a version")
    promote.add_argument("--version", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    return {"train": _train, "predict": _predict, "promote": _promote}[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
