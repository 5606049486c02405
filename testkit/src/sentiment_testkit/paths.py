"""Where things are: the repository root (the test kit is installed editable from it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# testkit/src/sentiment_testkit/paths.py -> the repository root is four levels up.
ROOT = Path(__file__).resolve().parents[3]
RUN_DIR = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
BIN = ROOT / "bin"
VENV_BIN = Path(sys.executable).parent
DATA = ROOT.parent / "shared" / "data" / "flipkart_reviews_badminton.csv"
