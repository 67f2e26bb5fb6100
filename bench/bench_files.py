"""Benchmark: moving files through groupstore vs pymongo's own GridFSBucket (the peer).

Both run in one process against the same server, on the same generated data,
and the report gives groupstore's figures as ratios of the peer's:
- throughput of upload and download (MiB/s; ratio > 1 means groupstore is faster);
- peak traced memory during the transfer (ratio < 1 means groupstore uses less);
- database round trips per small upload (command monitoring).

    .venv/bin/python bench/bench_files.py --uri mongodb://127.0.0.1:27018/ [--size-mib 64]

scripts/bench starts a FerretDB and runs this. Timings are figures, never test
assertions: they depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import gridfs
from pymongo import monitoring

import groupstore

MIB = 1024 * 1024


class Generated(io.RawIOBase):
    """``size`` bytes of a varying pattern, produced on demand."""

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0
        self.blocks = [bytes([i]) * MIB for i in (3, 5, 7)]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.position, MIB - self.position % MIB)
        block = self.blocks[(self.position // MIB) % 3]
        start = self.position % MIB
        buffer[:count] = block[start : start + count]
        self.position += count
        return count


class Counter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count, self.on = 0, False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += self.on

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def timed(action: Callable[[], Any]) -> tuple[Any, float, int]:
    """(result, seconds, peak traced bytes above the start)."""
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak - base


def drain(stream: Any) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(MIB):
        digest.update(chunk)
    return digest.hexdigest()


def drain_opened(opener: Callable[[], Any]) -> str:
    return drain(opener())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MIB
    counter = Counter()
    database = f"bench_{uuid.uuid4().hex[:8]}"
    store = groupstore.connect(args.uri, database, client_options={"event_listeners": [counter]})
    try:
        user = store.users.register_user("bench", "bench-password")
        workflow = store.workflows.create_workflow("bench")
        group = store.groups.create_group(workflow.workflow_id, "g", [], {}, user_id=user.user_id)
        bucket = gridfs.GridFSBucket(store.db, bucket_name="peer")
        rows: dict[str, list[tuple[float, int]]] = {}

        def source() -> io.BufferedReader:
            # Buffered, because GridIn stops at the first short read of a raw
            # stream (it would store a truncated file); groupstore does not.
            return io.BufferedReader(Generated(size), buffer_size=MIB)

        for _ in range(args.repeat):
            ours, t, mem = timed(lambda: store.groups.upload_file(group.group_id, source(), "f"))
            rows.setdefault("groupstore upload", []).append((t, mem))
            handle = store.groups.get_uploaded_file(group.group_id, ours.file_id)
            digest, t, mem = timed(partial(drain_opened, handle.open))
            rows.setdefault("groupstore download", []).append((t, mem))
            assert digest == ours.sha256

            peer_id, t, mem = timed(lambda: bucket.upload_from_stream("f", source()))
            rows.setdefault("peer upload", []).append((t, mem))
            peer_digest, t, mem = timed(
                partial(drain_opened, partial(bucket.open_download_stream, peer_id))
            )
            rows.setdefault("peer download", []).append((t, mem))
            assert peer_digest == digest
            store.groups.delete_file(group.group_id, ours.file_id)
            bucket.delete(peer_id)

        counter.on = True
        store.groups.upload_file(group.group_id, b"small", "s.txt")
        ours_trips, counter.count = counter.count, 0
        bucket.upload_from_stream("s.txt", b"small")
        peer_trips = counter.count  # GridFS alone; groupstore's count includes the group update
        counter.on = False
    finally:
        store.client.drop_database(database)
        store.close()

    def summary(name: str) -> tuple[float, float]:
        seconds = statistics.median(t for t, _ in rows[name])
        return args.size_mib / seconds, max(m for _, m in rows[name]) / MIB

    print(f"# {args.size_mib} MiB file, median of {args.repeat}, server {args.uri}")
    print(f"{'operation':<12} {'groupstore':>22} {'peer (GridFSBucket)':>22} {'ratio':>16}")
    for op in ("upload", "download"):
        ours_rate, ours_mem = summary(f"groupstore {op}")
        peer_rate, peer_mem = summary(f"peer {op}")
        print(
            f"{op + ' MiB/s':<12} {ours_rate:>22.1f} {peer_rate:>22.1f} "
            f"{ours_rate / peer_rate:>15.2f}x"
        )
        print(f"{op + ' peak':<12} {ours_mem:>18.1f} MiB {peer_mem:>18.1f} MiB "
              f"{ours_mem / peer_mem:>15.2f}x")  # fmt: skip
    print(
        f"{'small trips':<12} {ours_trips:>22} {peer_trips:>22} {ours_trips / peer_trips:>15.2f}x"
    )


if __name__ == "__main__":
    main()
