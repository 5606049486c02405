"""MLflow logging of one candidate: figures and the model (the pyfunc, from code).

The model is logged from ``serving/model_code.py`` with the slim package as its code
(``serving.packaging``), so this module never imports the serving pyfunc.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import mlflow

from ..serving import packaging
from .plots import confusion_matrix_figure

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
    with tempfile.TemporaryDirectory() as tmp, packaging.shipped_package() as code:
        path = Path(tmp) / "pipeline.joblib"
        joblib.dump(pipeline, path)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(packaging.MODEL_CODE),
            artifacts={"pipeline": str(path)},
            code_paths=[str(code)],
            input_example=INPUT_EXAMPLE,
            pip_requirements=packaging.pip_requirements(),
        )
