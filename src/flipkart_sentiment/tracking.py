"""MLflow logging of one candidate: params, metrics, plots and the pyfunc model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import mlflow

from .plots import confusion_matrix_figure
from .serve import SentimentModel

PACKAGE_DIR = Path(__file__).resolve().parent
INPUT_EXAMPLE = [
    "Great shuttle, fast delivery",
    {"title": "Worthless", "text": "Feathers broke in the first game"},
]


def log_figure(fig, name: str) -> None:
    mlflow.log_figure(fig, name)
    plt.close(fig)


def log_confusion(matrix, labels, title: str, name: str = "confusion_matrix.png") -> None:
    log_figure(confusion_matrix_figure(matrix, labels, title), name)


def log_pipeline_model(pipeline, name: str = "model"):
    """Log the fitted pipeline as our pyfunc, with its own code so serving needs no install."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.joblib"
        joblib.dump(pipeline, path)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=SentimentModel(),
            artifacts={"pipeline": str(path)},
            code_paths=[str(PACKAGE_DIR)],
            input_example=INPUT_EXAMPLE,
            pip_requirements=_pip_requirements(),
        )


def _pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = [f"{dist}=={version(dist)}" for dist in (
        "mlflow", "scikit-learn", "nltk", "pandas", "numpy", "joblib", "pydantic-settings")]
    # uvicorn's fast loop and parser for `mlflow models serve` (docs/serving.md): optional, and
    # uvloop does not exist on Windows.
    for dist, marker in (("uvloop", "; sys_platform != 'win32'"), ("httptools", "")):
        try:
            pins.append(f"{dist}=={version(dist)}{marker}")
        except PackageNotFoundError:
            pass
    return pins
