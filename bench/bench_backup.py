"""Benchmark: ``backup`` and ``restore`` of a store holding SIZE MiB of files.

Reports each direction's throughput (MiB of file bytes per second) and this
process's resident memory growth during it (the peak, VmHWM, reset before each
step through /proc/self/clear_refs), against the size of the store: memory
flat in store size means the growth does not follow the size.

    .venv/bin/python bench/bench_backup.py --uri mongomock:// --size-mib 1024
    .venv/bin/python bench/bench_backup.py --uri mongodb://127.0.0.1:27018/ --size-mib 1024

On ``mongomock://`` the restored store lives in this process, so the restore's
growth includes the store itself (the size of the files, and more); on a server
it is the client's alone. Timings are figures, never test assertions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_files import Generated  # (bench/ is the script's directory, so on sys.path)

import groupstore
from groupstore.backup import backup, restore

MIB = 1024 * 1024


def _status(field: str) -> int:
    """A line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measured(action: Callable[[], Any]) -> tuple[float, int]:
    """Seconds taken and peak RSS growth (bytes) of ``action``."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _status("VmRSS")
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, _status("VmHWM") - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", default="mongomock://")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--file-mib", type=int, default=64)
    parser.add_argument("--dir", default=None, help="where the archive goes (default: temp)")
    args = parser.parse_args()
    memory = args.uri.startswith("mongomock://")
    name = f"gs_bench_backup_{uuid.uuid4().hex[:8]}"
    source = groupstore.connect(args.uri, name)
    target = groupstore.connect(args.uri, None if memory else name + "_r")
    try:
        user = source.users.register_user("bench", "bench-password")
        workflow = source.workflows.create_workflow("bench")
        group = source.groups.create_group(workflow.workflow_id, "g", user_id=user.user_id)
        count = max(1, args.size_mib // args.file_mib)
        start = time.perf_counter()
        for i in range(count):
            source.groups.upload_file(group.group_id, Generated(args.file_mib * MIB), f"f{i}")
        upload = time.perf_counter() - start
        size = count * args.file_mib
        print(f"store: {count} files of {args.file_mib} MiB = {size} MiB on {source.server_kind}")
        print(f"  upload   {size / upload:7.1f} MiB/s")
        with tempfile.TemporaryDirectory(dir=args.dir) as directory:
            path = Path(directory) / "store.gsb"

            def do_backup() -> None:
                with path.open("wb") as stream:
                    backup(source, stream)

            seconds, growth = measured(do_backup)
            archive = path.stat().st_size / MIB
            print(
                f"  backup   {size / seconds:7.1f} MiB/s  {seconds:6.1f} s  "
                f"RSS growth {growth / MIB:6.1f} MiB  (archive {archive:.0f} MiB)"
            )
            seconds, growth = measured(lambda: restore(target, path))
            print(
                f"  restore  {size / seconds:7.1f} MiB/s  {seconds:6.1f} s  "
                f"RSS growth {growth / MIB:6.1f} MiB  (verify pass + write pass"
                + (
                    f"; the in-memory target holds the data: {(growth / MIB) - size:+.1f} MiB "
                    "beyond the file bytes)"
                    if memory
                    else ")"
                )
            )
    finally:
        for store in (source, target):
            if not memory:
                store.client.drop_database(store.db.name)
            store.close()


if __name__ == "__main__":
    main()
