"""The workload of bench_groups.py, the same for every system.

Plain Python (no groupstore import): flowserv's worker runs it in its own
virtual environment. A *system* is an object with the methods that ``run``
calls; each returns what a caller would get, so nothing is skipped lazily.
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Sizes:
    users: int = 50
    workflows: int = 10
    groups: int = 1000
    members: int = 3  # per group, the owner included
    parameters: int = 3
    spec_bytes: int = 1024
    member_changes: int = 200
    files: int = 200  # 4 KiB uploads (spread over the groups), each downloaded once
    file_bytes: int = 4096
    deleted_groups: int = 10  # groups of 20 files each, deleted
    files_per_deleted_group: int = 20
    big_mib: int = 0  # one file this large up and down (0: not run)


QUICK = Sizes(
    users=6,
    workflows=2,
    groups=12,
    member_changes=4,
    files=6,
    deleted_groups=2,
    files_per_deleted_group=3,
)

OPERATIONS = [
    "create_group",
    "get_group",
    "list_groups_by_user",
    "list_groups_by_workflow",
    "change_members",
    "upload_4k",
    "download_4k",
    "list_files",
    "delete_group_20_files",
]


def spec(size: int) -> dict[str, Any]:
    return {"steps": [{"image": "python:3.12", "cmd": ["run"]}], "pad": "x" * max(0, size - 60)}


def _timed(results: dict[str, float], name: str, count: int, call: Callable[[int], Any]) -> None:
    start = time.perf_counter()
    for i in range(count):
        call(i)
    elapsed = time.perf_counter() - start
    results[name] = count / elapsed if elapsed > 0 else float("inf")


def run(system: Any, sizes: Sizes) -> dict[str, float]:
    """Operations per second for each of OPERATIONS."""
    users = system.make_users([f"user{i}" for i in range(sizes.users)])
    workflows = system.make_workflows([f"workflow{i}" for i in range(sizes.workflows)])
    body = spec(sizes.spec_bytes)
    groups: list[str] = []

    def members_of(i: int) -> list[str]:
        return [users[(i + k) % len(users)] for k in range(sizes.members)]

    def create(i: int) -> None:
        team = members_of(i)
        groups.append(
            system.create_group(workflows[i % len(workflows)], f"group{i}", team[0], team, body)
        )

    results: dict[str, float] = {}
    _timed(results, "create_group", sizes.groups, create)
    _timed(results, "get_group", sizes.groups, lambda i: system.get_group(groups[i]))
    _timed(results, "list_groups_by_user", sizes.users, lambda i: system.list_by_user(users[i]))
    _timed(
        results,
        "list_groups_by_workflow",
        sizes.workflows,
        lambda i: system.list_by_workflow(workflows[i]),
    )

    def change_members(i: int) -> None:
        # The owner stays (groupstore requires it); the other members change.
        g = i % len(groups)
        others = [users[(g + k + 2) % len(users)] for k in range(sizes.members - 1)]
        system.set_members(groups[g], list(dict.fromkeys([members_of(g)[0], *others])))

    _timed(results, "change_members", sizes.member_changes, change_members)
    data = os.urandom(sizes.file_bytes)
    uploaded: list[tuple[str, str]] = []

    def upload(i: int) -> None:
        group = groups[i % len(groups)]
        uploaded.append((group, system.upload(group, data, f"file{i}.bin")))

    def download(i: int) -> None:
        group, file_id = uploaded[i]
        if system.download(group, file_id) != data:
            raise AssertionError(f"{type(system).__name__}: download differs from upload")

    _timed(results, "upload_4k", sizes.files, upload)
    _timed(results, "download_4k", sizes.files, download)
    listed = min(sizes.files, len(groups))
    _timed(results, "list_files", listed, lambda i: system.list_files(groups[i]))
    doomed = []
    for i in range(sizes.deleted_groups):
        team = members_of(i)
        group = system.create_group(workflows[0], f"doomed{i}", team[0], team, body)
        for k in range(sizes.files_per_deleted_group):
            system.upload(group, data, f"f{k}.bin")
        doomed.append(group)
    _timed(
        results,
        "delete_group_20_files",
        sizes.deleted_groups,
        lambda i: system.delete_group(doomed[i]),
    )
    return results


def rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PatternReader:
    """``size`` bytes of a repeating pattern, read in pieces: a big file that takes no memory."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = hashlib.sha256(b"groupstore").digest() * 2048  # 64 KiB

    def __enter__(self) -> PatternReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        # read() without a size means everything, as a file does (flowserv asks for that).
        n = self.left if n is None or n < 0 else min(n, self.left)
        reps = -(-n // len(self.block))
        piece = (self.block * reps)[:n]
        self.left -= n
        return piece


def big_file(system: Any, mib: int) -> dict[str, float]:
    """MB/s up and down for one ``mib`` MiB file, and the peak RSS growth (MiB) of each."""
    users = system.make_users(["bigowner"])
    workflows = system.make_workflows(["bigflow"])
    group = system.create_group(workflows[0], "big", users[0], users, spec(64))
    size = mib * 1024 * 1024
    base = rss_mib()
    start = time.perf_counter()
    file_id = system.upload_stream(group, PatternReader(size), size, "big.bin")
    up = time.perf_counter() - start
    after_up = rss_mib()
    start = time.perf_counter()
    read = system.download_count(group, file_id)
    down = time.perf_counter() - start
    if read != size:
        raise AssertionError(f"downloaded {read} of {size} bytes")
    return {
        "upload_MBps": size / 1e6 / up,
        "download_MBps": size / 1e6 / down,
        "upload_rss_growth_MiB": after_up - base,
        "download_rss_growth_MiB": rss_mib() - after_up,
    }


def describe(sizes: Sizes) -> str:
    return ", ".join(f"{k}={v}" for k, v in asdict(sizes).items())
