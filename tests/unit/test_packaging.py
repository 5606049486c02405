"""What a logged model carries: the slim package and the model code, nothing of training.

The model is logged the way training logs it (adapters.tracking.log_pipeline_model), into a
real MLflow store on disk, and loaded in a fresh interpreter the way a model server does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from flipkart_sentiment.adapters.data import from_bytes
from flipkart_sentiment.adapters.tracking import log_pipeline_model
from flipkart_sentiment.core.estimators import build_pipeline
from flipkart_sentiment.core.profiles import PROFILES
from flipkart_sentiment.serving.packaging import SHIPPED

# Imported by training, evaluation and the CLI, never by a model that loads.
TRAINING_MODULES = ("flipkart_sentiment.workflows", "flipkart_sentiment.adapters",
                    "flipkart_sentiment.cli", "prefect", "kubernetes", "boto3")


@pytest.fixture(scope="module")
def logged_model(data_path, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("packaging")
    frame = from_bytes(data_path.read_bytes(), str(data_path)).frame.sample(n=1500, random_state=1)
    pipeline = build_pipeline(PROFILES["quick"][1]).fit(frame, frame["label"])
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    # An artifact location of its own: the default is ./mlruns in the current directory.
    experiment = mlflow.create_experiment("packaging", artifact_location=(tmp / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = log_pipeline_model(pipeline)
    path = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp / "model")))
    mlflow.set_tracking_uri("")
    return path


def test_the_model_ships_only_serving_config_and_core(logged_model):
    code = logged_model / "code" / "flipkart_sentiment"
    assert sorted(p.name for p in code.iterdir()) == sorted(SHIPPED)
    shipped = {p.relative_to(code).parts[0] for p in code.rglob("*.py")}
    assert shipped <= set(SHIPPED)
    assert not list(code.rglob("__pycache__"))
    assert (logged_model / "model_code.py").exists()
    assert "python_model.pkl" not in {p.name for p in logged_model.iterdir()}  # nothing pickled


def test_loading_and_predicting_never_imports_training_code(logged_model):
    script = (
        "import json, sys, mlflow.pyfunc\n"
        f"model = mlflow.pyfunc.load_model({str(logged_model)!r})\n"
        "out = model.predict(['not good at all', {'title': 'Wonderful', 'text': 'nice'}])\n"
        "import flipkart_sentiment\n"
        "print(json.dumps({'labels': [p['label'] for p in out],"
        " 'package': flipkart_sentiment.__file__, 'modules': sorted(sys.modules)}))\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=logged_model)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["labels"]) == 2
    # The model's own copy of the package answered, not this checkout's.
    assert Path(result["package"]).is_relative_to(logged_model / "code")
    leaked = [m for m in result["modules"] if m.startswith(TRAINING_MODULES)]
    assert not leaked, f"loading a model imported training code: {leaked}"
