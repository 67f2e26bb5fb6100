"""bench/bench_gateway.py --quick runs end to end (so that it cannot rot). Nothing is timed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_gateway.py"
ROWS = [
    ("group(id)", "1"),
    ("group(id)", "32"),
    ("groups(first: 50) + members", "1"),
    ("groups(first: 50) + members", "32"),
    ("download 64k", "32"),
    ("upload 64k", "32"),
]
NUMBER = re.compile(r"[\d,]+(\.\d+)?")


def test_quick_run_prints_both_servers_figures_and_the_ratio_for_every_case():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == [
        "case",
        "clients",
        "GraphQL ops/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/op",
        "plain ops/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/op",
        "GraphQL/plain",
        "by CPU",
    ]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows] == ROWS, done.stdout
    for row in rows:
        assert len(row) == len(header)
        assert all(NUMBER.fullmatch(cell) for cell in row[2:]), row
        assert float(row[2].replace(",", "")) > 0 and float(row[6].replace(",", "")) > 0
