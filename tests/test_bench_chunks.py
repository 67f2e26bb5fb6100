"""bench/bench_chunks.py runs (a tiny smoke run on the test backend), so that it cannot rot.

Nothing is timed here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.backend import MONGO_URI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_chunks


def test_the_chunk_bench_fills_a_row_per_level():
    text = bench_chunks.main(
        ["--uri", MONGO_URI or "mongomock://", "--files", "4,8", "--reads", "2"]
    )
    rows = [
        line for line in text.splitlines() if line.startswith("| 4 |") or line.startswith("| 8 |")
    ]
    assert len(rows) == 2
    assert all(len(row.strip("|").split("|")) == 6 for row in rows)
