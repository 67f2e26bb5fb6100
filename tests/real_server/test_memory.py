"""Moving a 256 MiB file through the library takes memory that does not grow with the file.

Only meaningful on a real server: the in-memory backend keeps the file itself
in this process. Two measures, each against the contract's 32 MiB bound:
- tracemalloc's peak of Python allocations during the transfer;
- the growth of the process's resident set high-water mark (VmHWM, reset
  through /proc/self/clear_refs first), which also sees C buffers.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

pytestmark = [pytest.mark.real_server, pytest.mark.slow]

T = TypeVar("T")
SIZE = 256 * 1024 * 1024
BOUND = 32 * 1024 * 1024
BLOCK = 1024 * 1024


class GeneratedFile(io.RawIOBase):
    """SIZE bytes of a varying pattern, produced on demand (never held whole)."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self.position = 0
        self.blocks = [bytes([i]) * BLOCK for i in (7, 11, 13, 17)]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.size - self.position, BLOCK - self.position % BLOCK)
        block = self.blocks[(self.position // BLOCK) % len(self.blocks)]
        start = self.position % BLOCK
        buffer[:count] = block[start : start + count]
        self.position += count
        return count


def expected_sha256() -> str:
    digest = hashlib.sha256()
    source = GeneratedFile()
    while chunk := source.read(BLOCK):
        digest.update(chunk)
    return digest.hexdigest()


def _rss_high_water() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def measure(action: Callable[[], T]) -> tuple[T, int, int]:
    """(result, tracemalloc peak growth, RSS high-water growth) of running ``action``."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    rss_before = _rss_high_water()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - base, _rss_high_water() - rss_before


def test_256_mib_upload_and_download_stay_under_32_mib(store, workflow, alice):
    group = store.groups.create_group(workflow.workflow_id, "big", [], {}, user_id=alice.user_id)

    uploaded, up_traced, up_rss = measure(
        lambda: store.groups.upload_file(group.group_id, GeneratedFile(), "big.bin")
    )

    def download() -> str:
        digest = hashlib.sha256()
        handle = store.groups.get_uploaded_file(group.group_id, uploaded.file_id)
        with handle.open() as stream:
            while chunk := stream.read(BLOCK):
                digest.update(chunk)
        return digest.hexdigest()

    downloaded, down_traced, down_rss = measure(download)
    figures = (
        f"upload: traced {up_traced / 2**20:.1f} MiB, rss {up_rss / 2**20:.1f} MiB; "
        f"download: traced {down_traced / 2**20:.1f} MiB, rss {down_rss / 2**20:.1f} MiB"
    )
    print(figures)
    assert uploaded.size == SIZE
    assert uploaded.sha256 == downloaded == expected_sha256()
    assert max(up_traced, up_rss, down_traced, down_rss) < BOUND, figures
