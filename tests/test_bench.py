"""The benchmark runs (a --quick smoke run), so that it cannot rot. Nothing is timed here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.backend import MONGO_URI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_groups
import bench_scale
import workload

FLOWSERV_PYTHON = Path.home() / ".cache" / "groupstore" / "flowserv-0.9.4" / "bin" / "python"


def _rows(text: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] in workload.OPERATIONS:
            rows.setdefault(cells[0], cells[1:])
    return rows


def test_quick_bench_fills_every_operation_for_groupstore_and_raw_pymongo():
    args = ["--quick", "--big-mib", "1"]
    systems = ["groupstore-memory", "raw-memory"]
    if MONGO_URI:
        args += ["--server", f"leg={MONGO_URI}"]
        systems += ["groupstore-leg", "raw-leg"]
    text = bench_groups.main([*args, "--systems", ",".join(systems)])

    rows = _rows(text)
    assert set(rows) == set(workload.OPERATIONS)
    assert all(re.fullmatch(r"[\d,.]+", cell) for cells in rows.values() for cell in cells), text
    assert "gs-memory/raw" in text
    assert "upload_MBps" in text and "download_rss_growth_MiB" in text


def test_the_flowserv_worker_runs_the_same_workload():
    if not FLOWSERV_PYTHON.exists():
        pytest.skip(
            f"flowserv-core 0.9.4's venv is missing ({FLOWSERV_PYTHON}); scripts/bench makes it"
        )
    results = bench_groups.run_flowserv(str(FLOWSERV_PYTHON), workload.QUICK, big=False)
    assert set(results) == set(workload.OPERATIONS)
    assert all(value > 0 for value in results.values())


def test_repeated_rounds_report_each_figure_as_the_median_of_the_rounds():
    rounds = [{"get_group": 10.0, "upload_MBps": 5.0}, {"get_group": 30.0}, {"get_group": 20.0}]
    assert bench_groups.medians(rounds) == {"get_group": 20.0, "upload_MBps": 5.0}
    text = bench_groups.main(["--quick", "--repeat", "2", "--systems", "groupstore-memory"])
    assert text.startswith("median of 2 rounds")
    assert set(_rows(text)) == set(workload.OPERATIONS)


def test_quick_scale_bench_reads_back_its_fill_and_times_every_operation():
    # On a server the fill bypasses the library (insert_many); main() then reads the
    # data back through the library (a group, pages, file listings, a download
    # checked against its SHA-256) and raises if anything differs.
    args = ["--quick", "--old-shapes"] + (["--uri", MONGO_URI] if MONGO_URI else [])
    text = bench_scale.main(args)

    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] in [*bench_scale.OPERATIONS, *bench_scale.OLD_SHAPES]:
            rows[cells[0]] = cells[1:]
    expected = set(bench_scale.OPERATIONS) | set(bench_scale.OLD_SHAPES)
    assert set(rows) == expected, text
    for name in bench_scale.OPERATIONS:
        assert all(re.fullmatch(r"[\d,.]+x?", cell) for cell in rows[name]), text


@pytest.mark.flowserv
def test_quick_flowserv_api_bench_times_every_call_on_both_factories():
    import bench_flowserv_api

    text = bench_flowserv_api.main(["--quick"])
    rows = [
        line
        for line in text.splitlines()
        if line.split("|")[1].strip() in bench_flowserv_api.OPERATIONS
    ]
    assert len(rows) == len(bench_flowserv_api.OPERATIONS)


def test_quick_flowserv_import_bench_copies_then_skips_every_file():
    import bench_import_flowserv

    figures = bench_import_flowserv.main(["--quick"])

    assert figures["import"]["files_copied"] == figures["again"]["files_skipped"] == 11
    assert figures["again"]["files_copied"] == 0
