"""bench/grow_data.py: the benchmark data generator is deterministic and keeps the real rows."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq
import pytest
from sentiment_testkit.paths import DATA, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import grow_data  # noqa: E402


@pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data")
def test_same_seed_same_bytes_and_the_real_rows_come_first(tmp_path):
    a = grow_data.grow(2, seed=1, out=tmp_path / "a.parquet")
    b = grow_data.grow(2, seed=1, out=tmp_path / "b.parquet")
    c = grow_data.grow(2, seed=2, out=tmp_path / "c.parquet")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    grown = pq.read_table(a).to_pandas()
    real = grow_data.read_source().to_pandas()
    assert len(grown) == 2 * len(real)
    assert list(grown.columns) == [*real.columns, "Product"]
    assert (grown.iloc[: len(real)][list(real.columns)] == real).all().all()
    synthetic = grown.iloc[len(real):].reset_index(drop=True)
    assert (synthetic["Ratings"] == real["Ratings"]).all()  # ratings kept row for row
    assert (synthetic["Review text"] != real["Review text"]).mean() > 0.3  # varied
    assert synthetic["Product"].nunique() > 20
