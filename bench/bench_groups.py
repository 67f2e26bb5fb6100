"""One workload, every system, one table: groupstore vs flowserv-core vs raw pymongo.

Systems (``--systems``, comma-separated; default: all that can run):
  flowserv             flowserv-core 0.9.4's WorkflowGroupManager on SQLite + file volume
                       (its own venv, ``--flowserv-python``; a subprocess speaking JSON)
  groupstore-memory    groupstore on mongomock://
  raw-memory           the pymongo commands each operation minimally needs, same backend
  groupstore-<name>    groupstore on a server given by ``--server name=URI``
  raw-<name>           raw pymongo on that server

The "raw" side is the limit: the fewest commands that keep groupstore's
guarantees (the owner and members exist, the workflow exists, a unique name
index, file bytes in GridFS chunks plus a files document that carries the
file's metadata and group, members embedded with their names), on the same
layout and indexes as groupstore, without validation, conversion, access
checks or error translation.

    scripts/bench                      # starts FerretDB/SQLite and FerretDB/PostgreSQL
    .venv/bin/python bench/bench_groups.py --quick --systems groupstore-memory,raw-memory
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import uuid
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from bson import Binary, ObjectId
from pymongo import ReturnDocument

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

import groupstore
from groupstore import Float, Int, String
from groupstore.storage.files import chunk_id

HERE = Path(__file__).resolve().parent
CHUNK = 255 * 1024
# Registering users is not measured; the cheapest valid Argon2 keeps set-up short.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class GroupstoreSystem:
    def __init__(self, uri: str, parameters: int) -> None:
        self.uri = uri
        self.store = groupstore.connect(uri, database=f"bench_{uuid.uuid4().hex[:8]}")
        self.store.users.hasher = CHEAP_HASHER
        kinds = [String, Int, Float]
        self.parameters = [kinds[i % 3](f"p{i}") for i in range(parameters)]

    def close(self) -> None:
        if not self.uri.startswith("mongomock://"):
            self.store.client.drop_database(self.store.db.name)
        self.store.close()

    def make_users(self, names: list[str]) -> list[str]:
        return [self.store.users.register_user(n, "a password").user_id for n in names]

    def make_workflows(self, names: list[str]) -> list[str]:
        return [self.store.workflows.create_workflow(n).workflow_id for n in names]

    def create_group(
        self, workflow_id: str, name: str, owner: str, members: list[str], spec: Any
    ) -> str:
        return self.store.groups.create_group(
            workflow_id, name, self.parameters, spec, user_id=owner, members=members
        ).group_id

    def get_group(self, group_id: str) -> Any:
        return self.store.groups.get_group(group_id)

    def list_by_user(self, user_id: str) -> int:
        return len(self.store.groups.list_groups(user_id=user_id))

    def list_by_workflow(self, workflow_id: str) -> int:
        return len(self.store.groups.list_groups(workflow_id=workflow_id))

    def set_members(self, group_id: str, members: list[str]) -> None:
        self.store.groups.update_group(group_id, members=members)

    def upload(self, group_id: str, data: bytes, name: str) -> str:
        return self.store.groups.upload_file(group_id, data, name).file_id

    def download(self, group_id: str, file_id: str) -> bytes:
        with self.store.groups.get_uploaded_file(group_id, file_id).open() as stream:
            return stream.read()

    def list_files(self, group_id: str) -> int:
        return len(self.store.groups.list_uploaded_files(group_id))

    def delete_group(self, group_id: str) -> None:
        self.store.groups.delete_group(group_id)

    def upload_stream(self, group_id: str, source: Any, size: int, name: str) -> str:
        return self.store.groups.upload_file(group_id, source, name).file_id

    def download_count(self, group_id: str, file_id: str) -> int:
        total = 0
        with self.store.groups.get_uploaded_file(group_id, file_id).open() as stream:
            while block := stream.read(1024 * 1024):
                total += len(block)
        return total


class RawSystem:
    """The minimal pymongo commands per operation, on groupstore's document layout and indexes."""

    def __init__(self, uri: str, parameters: int) -> None:
        self.uri = uri
        # groupstore.connect only to get the same client kind and indexes; raw calls below.
        self.store = groupstore.connect(uri, database=f"bench_{uuid.uuid4().hex[:8]}")
        self.db = self.store.db
        self.parameters = json.dumps(
            [{"name": f"p{i}", "dtype": "string", "index": i} for i in range(parameters)]
        )

    def close(self) -> None:
        if not self.uri.startswith("mongomock://"):
            self.store.client.drop_database(self.db.name)
        self.store.close()

    def make_users(self, names: list[str]) -> list[str]:
        docs: list[dict[str, Any]] = [
            {"_id": uuid.uuid4().hex, "username_key": n, "active": True} for n in names
        ]
        self.db.users.insert_many(docs)
        return [d["_id"] for d in docs]

    def make_workflows(self, names: list[str]) -> list[str]:
        docs: list[dict[str, Any]] = [
            {"_id": uuid.uuid4().hex, "name": n, "seq": ObjectId()} for n in names
        ]
        self.db.workflows.insert_many(docs)
        return [d["_id"] for d in docs]

    def _members(self, ids: list[str]) -> list[dict[str, Any]]:
        found = {
            doc["_id"]: doc["username_key"]
            for doc in self.db.users.find(
                {"_id": {"$in": ids}, "active": True}, {"username_key": 1}
            )
        }
        if len(found) != len(set(ids)):
            raise LookupError("unknown user")
        return [{"user_id": i, "username": found[i]} for i in dict.fromkeys(ids)]

    def create_group(
        self, workflow_id: str, name: str, owner: str, members: list[str], spec: Any
    ) -> str:
        team = self._members(members)  # 1
        if self.db.workflows.find_one({"_id": workflow_id}, {"_id": 1}) is None:  # 2
            raise LookupError("unknown workflow")
        now = datetime.now(timezone.utc)
        group_id = uuid.uuid4().hex
        self.db.groups.insert_one(  # 3
            {
                "_id": group_id,
                "workflow_id": workflow_id,
                "name": name,
                "seq": ObjectId(),
                "owner_id": owner,
                "members": team,
                "member_ids": [member["user_id"] for member in team],
                "parameters": self.parameters,
                "workflow_spec": json.dumps(spec),
                "engine_config": "null",
                "created_at": now,
                "updated_at": now,
            }
        )
        return group_id

    def get_group(self, group_id: str) -> Any:
        return self.db.groups.find_one({"_id": group_id})

    def list_by_user(self, user_id: str) -> int:
        return len(list(self.db.groups.find({"member_ids": user_id}).sort("seq", 1)))

    def list_by_workflow(self, workflow_id: str) -> int:
        return len(list(self.db.groups.find({"workflow_id": workflow_id}).sort("seq", 1)))

    def set_members(self, group_id: str, members: list[str]) -> None:
        team = self._members(members)
        self.db.groups.find_one_and_update(
            {"_id": group_id},
            {
                "$set": {
                    "members": team,
                    "member_ids": [member["user_id"] for member in team],
                    "updated_at": datetime.now(timezone.utc),
                }
            },
            return_document=ReturnDocument.AFTER,
        )

    def upload(self, group_id: str, data: bytes, name: str) -> str:
        return self.upload_stream(group_id, io.BytesIO(data), len(data), name)

    def upload_stream(self, group_id: str, source: Any, size: int, name: str) -> str:
        if self.db.groups.find_one({"_id": group_id}, {"_id": 1}) is None:
            raise LookupError("unknown group")
        file_id = uuid.uuid4().hex
        now = datetime.now(timezone.utc).replace(microsecond=0)
        n, batch = 0, []
        while True:
            piece = source.read(CHUNK)
            while piece and len(piece) < CHUNK:  # pieces may come short: fill the chunk
                more = source.read(CHUNK - len(piece))
                if not more:
                    break
                piece += more
            if piece:
                # The chunk ids groupstore computes, so that FerretDB/SQLite can read by _id.
                chunk = {"_id": chunk_id(file_id, n, now), "files_id": file_id, "n": n}
                batch.append({**chunk, "data": Binary(piece)})
                n += 1
            if batch and (len(batch) == 16 or not piece):
                self.db["fs.chunks"].insert_many(batch)
                batch = []
            if not piece:
                break
        self.db["fs.files"].insert_one(
            {
                "_id": file_id,
                "group_id": group_id,
                "length": size,
                "chunkSize": CHUNK,
                "uploadDate": now,
                "filename": name,
                "metadata": {"group_id": group_id, "seq": ObjectId(), "name": name},
            }
        )
        return file_id

    def download(self, group_id: str, file_id: str) -> bytes:
        return b"".join(self._chunks(group_id, file_id))

    def download_count(self, group_id: str, file_id: str) -> int:
        return sum(len(c) for c in self._chunks(group_id, file_id))

    def _chunks(self, group_id: str, file_id: str) -> Any:
        doc = self.db["fs.files"].find_one({"_id": file_id})
        if doc is None or doc["group_id"] != group_id:
            raise LookupError("unknown file")
        first = 0
        if self.store.fs.chunk_reads == "by_id":  # FerretDB/SQLite: as groupstore reads there,
            count = -(-doc["length"] // doc["chunkSize"])  # the first 16 chunks by _id
            for n in range(min(count, 16)):
                chunk = self.db["fs.chunks"].find_one(
                    {"_id": chunk_id(file_id, n, doc["uploadDate"])}
                )
                yield bytes(chunk["data"]) if chunk else b""
            if count <= 16:
                return
            first = 16
        query = {"files_id": file_id, "n": {"$gte": first}}
        cursor = self.db["fs.chunks"].find(query, {"data": 1}).sort("n", 1)
        for chunk in cursor.batch_size(16):
            yield bytes(chunk["data"])

    def list_files(self, group_id: str) -> int:
        files = self.db["fs.files"].find({"group_id": group_id}).sort("metadata.seq", 1)
        return len(list(files))

    def delete_group(self, group_id: str) -> None:
        self.db.groups.delete_one({"_id": group_id})
        files = self.db["fs.files"].find({"group_id": group_id}, {"_id": 1})
        ids = [f["_id"] for f in files]
        self.db["fs.files"].delete_many({"_id": {"$in": ids}})
        self.db["fs.chunks"].delete_many({"files_id": {"$in": ids}})


def run_flowserv(python: str, sizes: workload.Sizes, big: bool) -> dict[str, float]:
    args = [python, str(HERE / "flowserv_worker.py"), json.dumps(asdict(sizes))]
    done = subprocess.run(args + (["--big"] if big else []), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"flowserv worker failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout))


def run_local(kind: str, uri: str, sizes: workload.Sizes, big: bool) -> dict[str, float]:
    system: Any = (GroupstoreSystem if kind == "groupstore" else RawSystem)(uri, sizes.parameters)
    try:
        return workload.big_file(system, sizes.big_mib) if big else workload.run(system, sizes)
    finally:
        system.close()


def run_big_in_child(system: str, uri: str, sizes: workload.Sizes) -> dict[str, float]:
    """A fresh process per big-file run, so that its peak RSS growth is its own."""
    args = [sys.executable, __file__, "--big-child", system, uri, json.dumps(asdict(sizes))]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"big-file run of {system} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout))


def table(results: dict[str, dict[str, float]], servers: list[str]) -> str:
    systems = list(results)
    ops = [op for op in [*workload.OPERATIONS, *BIG_ROWS] if any(op in r for r in results.values())]
    lines = ["ops/s (MB/s, MiB for the big file) per system:", ""]
    lines.append("| operation | " + " | ".join(systems) + " |")
    lines.append("|---" * (len(systems) + 1) + "|")
    for op in ops:
        cells = [_fmt(results[s].get(op)) for s in systems]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    ratio_cols = []
    for server in servers:
        if "flowserv" in results and f"groupstore-{server}" in results:
            ratio_cols.append((f"gs-{server}/flowserv", f"groupstore-{server}", "flowserv"))
    for server in servers:
        if f"raw-{server}" in results and f"groupstore-{server}" in results:
            ratio_cols.append((f"gs-{server}/raw", f"groupstore-{server}", f"raw-{server}"))
    if ratio_cols:
        lines += ["", "ratios (above 1: groupstore faster; memory growth: below 1 is less):", ""]
        lines.append("| operation | " + " | ".join(c[0] for c in ratio_cols) + " |")
        lines.append("|---" * (len(ratio_cols) + 1) + "|")
        for op in ops:
            cells = []
            for _, mine, theirs in ratio_cols:
                a, b = results[mine].get(op), results[theirs].get(op)
                cells.append(f"{a / b:.2f}x" if a is not None and b else "-")
            lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds that measured it."""
    names = dict.fromkeys(name for figures in rounds for name in figures)
    return {
        name: statistics.median(figures[name] for figures in rounds if name in figures)
        for name in names
    }


BIG_ROWS = ["upload_MBps", "download_MBps", "upload_rss_growth_MiB", "download_rss_growth_MiB"]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the default sizes")
    parser.add_argument("--big-mib", type=int, default=0, help="also move one file this large")
    parser.add_argument("--server", action="append", default=[], help="NAME=URI (repeatable)")
    parser.add_argument("--systems", default="", help="comma-separated; default: all")
    parser.add_argument("--flowserv-python", default="", help="python of flowserv's venv")
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the workload, systems interleaved; each cell is the median",
    )
    args = parser.parse_args(argv)

    if args.quick:
        sizes = workload.QUICK
    else:
        base = workload.Sizes()
        sizes = replace(
            base,
            **{
                k: max(1, round(getattr(base, k) * args.scale))
                for k in ("groups", "member_changes", "files", "deleted_groups")
            },
        )
    sizes = replace(sizes, big_mib=args.big_mib)
    servers = {"memory": "mongomock://"}
    for spec in args.server:
        name, _, uri = spec.partition("=")
        servers[name] = uri
    available = ["flowserv"] if args.flowserv_python else []
    for name in servers:
        available += [f"groupstore-{name}", f"raw-{name}"]
    systems = args.systems.split(",") if args.systems else available
    unknown = set(systems) - set(available)
    if unknown:
        parser.error(f"unknown or unavailable systems: {sorted(unknown)} (have {available})")

    print(f"sizes: {workload.describe(sizes)}", file=sys.stderr)
    # Rounds interleave the systems, so that a burst of load from elsewhere on a
    # shared machine lands on every system of a round rather than on one system;
    # the median of the rounds then drops it. The big file moves once (round 1).
    rounds: dict[str, list[dict[str, float]]] = {system: [] for system in systems}
    for round_number in range(1, max(1, args.repeat) + 1):
        for system in systems:
            print(f"round {round_number}: running {system}", file=sys.stderr, flush=True)
            big = bool(sizes.big_mib) and round_number == 1
            if system == "flowserv":
                figures = run_flowserv(args.flowserv_python, sizes, big=False)
                if big:
                    figures.update(run_flowserv(args.flowserv_python, sizes, big=True))
            else:
                kind, _, server = system.partition("-")
                figures = run_local(kind, servers[server], sizes, big=False)
                if big:
                    figures.update(run_big_in_child(system, servers[server], sizes))
            rounds[system].append(figures)
    results = {system: medians(figures) for system, figures in rounds.items()}
    text = table(results, list(servers))
    if args.repeat > 1:
        text = f"median of {args.repeat} rounds (the big file: one run)\n\n{text}"
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": asdict(sizes), "results": results}))
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--big-child":
        _, _, system_name, child_uri, sizes_json = sys.argv
        child_kind, _, _ = system_name.partition("-")
        child_sizes = workload.Sizes(**json.loads(sizes_json))
        print(json.dumps(run_local(child_kind, child_uri, child_sizes, big=True)))
    else:
        print(main())
