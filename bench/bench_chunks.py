"""How a chunk read scales with the size of ``fs.chunks``: cursor by ``files_id`` vs by ``_id``.

    .venv/bin/python bench/bench_chunks.py --uri mongodb://127.0.0.1:27141/ [--files 16,200,2000]

Fills a scratch database with ``--files`` files of ``--size`` bytes (a GridFS
layout whose chunk ``_id`` is ``chunk_id(file_id, n, uploadDate)``, as groupstore
writes it), and for each fill level times, over ``--reads`` random files (median, ms):

- ``cursor``: ``find({"files_id": f, "n": {"$gte": 0}}).sort("n")``, the read
  of GridFS tools (and of groupstore before by-id reads);
- ``by_id``: ``find_one({"_id": chunk_id(f, 0, date)})``;
- ``in_4``: ``find({"_id": {"$in": [4 chunk ids of 4 files]}})``, a batch;
- ``dl_cursor`` / ``dl_by_id``: ``store.groups.get_uploaded_file(...).open().read()``,
  what the gateway does for a download (files document, then chunks), with the
  store's chunk reads set to ``cursor`` (as before) and to ``by_id``.

The store as built chooses ``by_id`` on FerretDB/SQLite only (printed first).
It also prints each shape's ``explain`` (pushdown flags and plan), then drops
the database. Timings are figures for docs/ferretdb.md, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from bson import Binary, ObjectId

import groupstore
from groupstore.storage.files import ChunkReads, chunk_id


def _median_ms(action: Callable[[], Any], reads: int) -> float:
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _explain(db: Any, command: dict[str, Any]) -> str:
    answer = db.command("explain", command)
    planner = answer.get("queryPlanner", {})
    plan = planner.get("Plan")
    if isinstance(plan, list):  # SQLite: EXPLAIN QUERY PLAN's rows
        text = "; ".join(str(row).split("detail=")[-1] for row in plan)
    elif plan is not None:  # PostgreSQL: the plan tree's top node
        text = f"{plan.get('Node Type')} {plan.get('Index Name') or ''} " + str(
            plan.get("Index Cond") or plan.get("Filter") or ""
        )
    else:
        text = json.dumps(planner, default=str)[:200]
    return f"filterPushdown={answer.get('filterPushdown')} plan: {text.strip()}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--files", default="16,200,2000")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--reads", type=int, default=15)
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.files.split(",")]
    store = groupstore.connect(args.uri, database=f"chunks_{uuid.uuid4().hex[:8]}")
    db = store.db
    lines = [
        f"server kind: {store.server_kind}; chunk reads as built: {store.storage.fs.chunk_reads}; "
        f"file size {args.size} B; median of {args.reads} (ms)",
        "",
        "| files stored | cursor | by_id | in_4 | dl_cursor | dl_by_id |",
        "|---|---|---|---|---|---|",
    ]
    user = store.users.register_user("bench", "bench-password")
    workflow = store.workflows.create_workflow("wf")
    group = store.groups.create_group(workflow.workflow_id, "g", user_id=user.user_id)
    fs = store.storage.fs
    chunk_size = fs.chunk_size
    date = datetime.now(timezone.utc).replace(microsecond=0)
    data = Binary(random.randbytes(args.size))
    file_ids: list[str] = []

    def cursor() -> None:
        f = random.choice(file_ids)
        found = (
            db["fs.chunks"]
            .find({"files_id": f, "n": {"$gte": 0}}, {"data": 1, "n": 1})
            .sort("n", 1)
        )
        assert next(found)["n"] == 0

    def by_id() -> None:
        f = random.choice(file_ids)
        assert db["fs.chunks"].find_one({"_id": chunk_id(f, 0, date)}, {"data": 1, "n": 1})

    def in_4() -> None:
        ids = [chunk_id(f, 0, date) for f in random.sample(file_ids, 4)]
        assert len(list(db["fs.chunks"].find({"_id": {"$in": ids}}))) == 4

    def download() -> None:
        f = random.choice(file_ids)
        handle = store.groups.get_uploaded_file(group.group_id, f)
        with handle.open() as stream:
            assert len(stream.read()) == args.size

    try:
        for level in levels:
            fresh = [uuid.uuid4().hex for _ in range(level - len(file_ids))]
            for start in range(0, len(fresh), 200):
                part = fresh[start : start + 200]
                db["fs.chunks"].insert_many(
                    [
                        {"_id": chunk_id(f, 0, date), "files_id": f, "n": 0, "data": data}
                        for f in part
                    ]
                )
                db["fs.files"].insert_many(
                    [
                        {
                            "_id": f,
                            "length": args.size,
                            "chunkSize": chunk_size,
                            "uploadDate": date,
                            "filename": "f.bin",
                            "metadata": {
                                "group_id": group.group_id,
                                "contentType": "application/octet-stream",
                                "sha256": "0" * 64,
                                "seq": ObjectId(),
                            },
                        }
                        for f in part
                    ]
                )
            file_ids += fresh

            figures = [_median_ms(action, args.reads) for action in (cursor, by_id, in_4)]
            built = fs.chunk_reads
            modes: tuple[ChunkReads, ...] = ("cursor", "by_id")
            for mode in modes:
                fs.chunk_reads = mode
                figures.append(_median_ms(download, args.reads))
            fs.chunk_reads = built
            lines.append(f"| {level} | " + " | ".join(f"{ms:.1f}" for ms in figures) + " |")
        f = file_ids[0]
        lines.append("")
        for label, query, sort in [
            ("cursor", {"files_id": f, "n": {"$gte": 0}}, {"n": 1}),
            ("by_id", {"_id": chunk_id(f, 0, date)}, None),
            ("in_4", {"_id": {"$in": [chunk_id(x, 0, date) for x in file_ids[:4]]}}, None),
        ]:
            command: dict[str, Any] = {"find": "fs.chunks", "filter": query}
            if sort:
                command["sort"] = sort
            if store.server_kind != "memory":  # mongomock has no explain
                lines.append(f"- {label}: {_explain(db, command)}")
    finally:
        store.client.drop_database(db.name)
        store.close()
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
