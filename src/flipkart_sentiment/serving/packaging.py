"""What a logged model is made of: the code that ships with it and what it needs installed.

A model carries the slim package (``SHIPPED``: serving, config, core) under ``code/`` and this
directory's ``model_code.py`` as its models-from-code entry point, so a model server needs no
project install and loading a model never imports training code (tests/unit/test_packaging.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MODEL_CODE = Path(__file__).with_name("model_code.py")
# The serving layer and everything below it (lint's layer contract keeps it so).
SHIPPED = ("__init__.py", "config.py", "core", "serving")
_RUNTIME = ("mlflow", "scikit-learn", "nltk", "pandas", "numpy", "joblib", "pydantic-settings",
            "pyyaml", "prometheus-client", "pyarrow")


@contextmanager
def shipped_package() -> Iterator[Path]:
    """A temporary copy of the package with only ``SHIPPED`` in it, for ``code_paths``."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / PACKAGE_DIR.name
        dest.mkdir()
        for name in SHIPPED:
            source = PACKAGE_DIR / name
            if source.is_dir():
                shutil.copytree(source, dest / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, dest / name)
        yield dest


def pip_requirements() -> list[str]:
    """Exact pins of what the model imports, from this environment."""
    pins = [f"{dist}=={version(dist)}" for dist in _RUNTIME]
    # uvicorn's fast loop and parser for `mlflow models serve` (docs/serving.md): optional, and
    # uvloop does not exist on Windows.
    for dist, marker in (("uvloop", "; sys_platform != 'win32'"), ("httptools", "")):
        try:
            pins.append(f"{dist}=={version(dist)}{marker}")
        except PackageNotFoundError:
            pass
    return pins
