"""``groupstore import-flowserv`` on a deployment that flowserv-core filled: time and files/s.

    .venv/bin/python bench/bench_import_flowserv.py [--groups 200] [--files 1000]
        [--uri mongodb://HOST:PORT/] [--standalone] [--quick]

flowserv-core 0.9.4 (the ``flowserv`` extra) fills a SQLite database and a
file volume through its service API (``tests/flowserv_source.py``: users, two
workflows, groups with members, files of 40 bytes to 300 KiB), then the import
runs three times into a fresh database (in memory by default): a dry run, the
import, and the import again (which copies nothing). Prints one line per run
and the figures as JSON. Not run by CI (``tests/test_import_flowserv.py`` is
the test); ``--quick`` is a smoke run of 4 groups and 10 files.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import groupstore
from groupstore.flowserv_import import import_deployment, read_deployment
from tests.flowserv_source import make_deployment


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--uri", default="mongomock://", help="the target store")
    parser.add_argument("--standalone", action="store_true")
    parser.add_argument("--quick", action="store_true", help="4 groups, 10 files")
    args = parser.parse_args(argv)
    groups, files = (4, 10) if args.quick else (args.groups, args.files)
    figures: dict[str, Any] = {"groups": groups, "files": files, "target": args.uri}
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        source = make_deployment(Path(directory), groups, files)
        figures["flowserv_fill_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            deployment = read_deployment(source.db_url, source.volume)
        figures["read_sql_s"] = round(time.perf_counter() - started, 3)
        database = f"bench_import_{uuid.uuid4().hex[:8]}"
        with groupstore.connect(args.uri, database) as store:
            try:
                for label, dry_run in (("dry run", True), ("import", False), ("again", False)):
                    summary = import_deployment(
                        store, deployment, standalone=args.standalone, dry_run=dry_run
                    )
                    count = summary.files.copied + summary.files.skipped  # files handled
                    rate = count / summary.seconds if summary.seconds else 0.0
                    figures[label] = {
                        "seconds": round(summary.seconds, 2),
                        "files_copied": summary.files.copied,
                        "files_skipped": summary.files.skipped,
                        "files_per_s": round(rate, 1),
                        "mib_per_s": round(summary.bytes_copied / 2**20 / summary.seconds, 2)
                        if summary.seconds
                        else 0.0,
                    }
                    print(
                        f"{label:<8} {summary.seconds:7.2f} s  {rate:8.1f} files/s  "
                        f"copied {summary.files.copied} files, {summary.groups.copied} groups; "
                        f"skipped {summary.files.skipped} files",
                        file=sys.stderr,
                    )
            finally:
                if not args.uri.startswith("mongomock://"):
                    store.client.drop_database(database)
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
