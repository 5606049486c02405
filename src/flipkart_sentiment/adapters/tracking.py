"""MLflow logging: the experiment's kind, the runs' source, metric names, figures and the model
(the pyfunc, from code).

Metric names carry a prefix, which the MLflow UI groups charts by: the model's quality under
``cv/`` (out-of-fold, over the search rows), ``test/`` (the held-out split) and ``baseline/`` (the
seed recipe on the same split); statistics of the run itself under ``data/``, ``text/`` and
``timing/``, apart from the model's.

The model is logged from ``serving/model_code.py`` with the slim package as its code
(``serving.packaging``), so this module never imports the serving pyfunc.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import mlflow

from ..core import calibration
from ..serving import packaging, reviews
from .plots import confusion_matrix_figure, reliability_figure

# The experiment's kind, which MLflow 3 would otherwise infer: a machine-learning experiment, not
# a GenAI one. (3.17's UI still opens on its GenAI view until its "Model training" switch or a
# ?workflowType=machine_learning link says otherwise: docs/dashboards.md.)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# Where a run came from, for the runs table's Source column (MLflow would name the process's
# entry point: Prefect's engine.py, or the CLI).
SOURCE = "flows/train_flow.py"


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """`metrics` under `prefix/`, to 4 decimals: the runs table shows 0.8640, not 0.86397153…"""
    return {f"{prefix}/{k}": round(float(v), 4) for k, v in metrics.items()}


def source_tags(commit: str) -> dict[str, str]:
    return {"mlflow.source.name": SOURCE, "mlflow.source.type": "JOB",
            "mlflow.source.git.commit": commit}


def run_url(ui: str, run_id: str) -> str:
    """A run's page in MLflow's UI at `ui` (the UI finds the experiment)."""
    return f"{ui}/#/runs/{run_id}"


def version_url(ui: str, model: str, version: str) -> str:
    return f"{ui}/#/models/{model}/versions/{version}"


def use_experiment(name: str, description: str) -> str:
    """Make `name` the active experiment, of the machine-learning kind, with its description;
    returns its id."""
    experiment = mlflow.set_experiment(name)
    client = mlflow.MlflowClient()
    for key, value in (EXPERIMENT_KIND | {"mlflow.note.content": description}).items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


INPUT_EXAMPLE = [
    "Great shuttle, fast delivery",
    {"title": "Worthless", "text": "Feathers broke in the first game"},
]


def log_figure(fig, name: str) -> None:
    mlflow.log_figure(fig, name)
    plt.close(fig)


def log_confusion(matrix, labels, title: str, name: str = "confusion_matrix.png") -> None:
    log_figure(confusion_matrix_figure(matrix, labels, title), name)


def log_reliability(proba, y_true, classes, title: str, name: str = "reliability.png") -> None:
    log_figure(reliability_figure(calibration.top_label(proba, y_true, classes),
                                  calibration.per_class(proba, y_true, classes), title), name)


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
            # (data, params): MLflow infers the signature's params schema from the example's
            # params; the scoring server passes a model only the params its signature declares.
            input_example=(INPUT_EXAMPLE, dict(reviews.PARAMS)),
            pip_requirements=packaging.pip_requirements(),
        )
