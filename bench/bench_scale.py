"""groupstore at scale: ms per call as the number of groups (and files) grows.

    .venv/bin/python bench/bench_scale.py 1000 10000 100000          # in memory
    .venv/bin/python bench/bench_scale.py --uri mongodb://127.0.0.1:27132/   # 1,000 and 100,000
    .venv/bin/python bench/bench_scale.py --quick [--uri ...]        # a smoke run (tests)

Data: 50 users, 10 workflows; group i belongs to workflow i % 10, has 3
members (users i, i+1, i+2 mod 50, the first its owner) and a 1 KB spec, and
holds ``--files-per-group`` files (default 1) of 64 bytes, one GridFS chunk each.

Filling: ``--fill library`` (the default in memory) creates every group and
file through the library (``create_group``, ``upload_file``); ``--fill bulk``
(the default on a server, where one call per document would take hours)
writes the same documents with ``insert_many`` in batches of 1,000: group
documents built by the library's own ``group_to_document`` and GridFS
``files``/``chunks`` documents laid out as ``GridFSStore.write`` lays them out.
After each fill the library reads the data back (a group, pages by workflow
and by user, a group's files, a download checked against its SHA-256): the
run stops if it does not.

After each size it measures, through the library and then with the same
pymongo commands the library sends (no validation, conversion or error
translation: the server's share), the mean ms per call of: ``get_group``; a
page of 50 by workflow, by user, and from a cursor in the middle of a
workflow's groups (``after=``); a group's file listing (``list_uploaded_files``
with a member as caller: the access check, then the files; and
``list_uploads`` of a group already read: the files alone); and a download of
one 64-byte file (``get_uploaded_file(...).open().read()``). Each measurement
makes up to ``--calls`` calls and stops early after ``--budget`` seconds (at
least 3 calls). Prints one line per size as it goes, then a table with the
growth from the first size to the last (docs/performance.md).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from bson import ObjectId

import groupstore
from groupstore.model import Group, Member
from groupstore.storage.documents import group_to_document, new_seq, utc_now
from groupstore.storage.files import chunk_id

FILE_BYTES = 64
BATCH = 1000
USERS = 50
WORKFLOWS = 10
SPEC = {"x": "y" * 1000}

OPERATIONS = [
    "get_group",
    "page50_by_workflow",
    "page50_by_user",
    "page50_mid_list",
    "list_uploaded_files",
    "list_uploads",
    "download_64B",
]
# --old-shapes: the queries of the layout before member_ids and the files' top-level
# group_id (dotted paths, which FerretDB never pushes down to PostgreSQL), raw
# pymongo on the same data, for comparison with page50_by_user and list_uploads.
OLD_SHAPES = ["old_page50_by_members_user_id", "old_files_by_metadata_group_id"]


@dataclass
class Data:
    """What the fill made, in creation order."""

    store: Any
    users: list[str] = field(default_factory=list)
    usernames: dict[str, str] = field(default_factory=dict)
    workflows: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    files: list[tuple[str, str, str]] = field(default_factory=list)  # group, file, owner


def content(i: int, k: int) -> bytes:
    return f"file {k} of group {i}: ".encode().ljust(FILE_BYTES, b".")


def team(data: Data, i: int) -> list[str]:
    return [data.users[(i + k) % USERS] for k in range(3)]


def setup(store: Any) -> Data:
    data = Data(store)
    store.users.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    for i in range(USERS):
        user = store.users.register_user(f"u{i}", "password-1")
        data.users.append(user.user_id)
        data.usernames[user.user_id] = user.username
    data.workflows = [store.workflows.create_workflow(f"w{i}").workflow_id for i in range(10)]
    return data


def fill_library(data: Data, size: int, files_per_group: int) -> None:
    groups = data.store.groups
    for i in range(len(data.groups), size):
        members = team(data, i)
        group = groups.create_group(
            data.workflows[i % WORKFLOWS], f"g{i}", [], SPEC, user_id=members[0], members=members
        )
        data.groups.append(group.group_id)
        data.owners.append(members[0])
        for k in range(files_per_group):
            upload = groups.upload_file(group.group_id, content(i, k), f"f{k}.txt")
            data.files.append((group.group_id, upload.file_id, members[0]))


def _bulk_documents(
    data: Data, size: int, files_per_group: int
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Each new group's document, its GridFS files documents and its chunks."""
    workflows = {w: data.store.workflows.get_workflow(w) for w in data.workflows}
    for i in range(len(data.groups), size):
        workflow = workflows[data.workflows[i % WORKFLOWS]]
        now = utc_now()
        members = team(data, i)
        group = Group(
            group_id=uuid.uuid4().hex,
            name=f"g{i}",
            workflow_id=workflow.workflow_id,
            created_at=now,
            updated_at=now,
            owner_id=members[0],
            members=[Member(user_id=u, username=data.usernames[u]) for u in members],
            parameters=workflow.parameters,
            workflow_spec=SPEC,
            engine_config=workflow.engine_config,
        )
        data.groups.append(group.group_id)
        data.owners.append(members[0])
        files, chunks = [], []
        for k in range(files_per_group):
            body = content(i, k)
            file_id = uuid.uuid4().hex
            data.files.append((group.group_id, file_id, members[0]))
            # As GridFSStore.write writes a one-chunk file.
            chunk = {"_id": chunk_id(file_id, 0, now), "files_id": file_id, "n": 0, "data": body}
            chunks.append(chunk)
            files.append(
                {
                    "_id": file_id,
                    "group_id": group.group_id,
                    "length": len(body),
                    "chunkSize": data.store.fs.chunk_size,
                    "uploadDate": now,
                    "filename": f"f{k}.txt",
                    "metadata": {
                        "group_id": group.group_id,
                        "contentType": "text/plain",
                        "sha256": hashlib.sha256(body).hexdigest(),
                        "seq": new_seq(),
                    },
                }
            )
        yield group_to_document(group, new_seq()), files, chunks


def fill_bulk(data: Data, size: int, files_per_group: int) -> None:
    db = data.store.db
    fs = data.store.fs
    groups: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []

    def flush() -> None:
        # Chunks, then files documents, then groups: each file is whole before it is listed.
        for collection, docs in ((fs.chunks, chunks), (fs.files, files), (db.groups, groups)):
            if docs:
                collection.insert_many(docs, ordered=False)
                docs.clear()

    for group_doc, file_docs, chunk_docs in _bulk_documents(data, size, files_per_group):
        groups.append(group_doc)
        files += file_docs
        chunks += chunk_docs
        if len(groups) >= BATCH:
            flush()
    flush()


def verify(data: Data, size: int, files_per_group: int) -> None:
    """The library reads what the fill wrote (else RuntimeError)."""
    manager = data.store.groups

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise RuntimeError(f"after the fill to {size} groups: {what}")

    i = size - 1
    group = manager.get_group(data.groups[i])
    check(group.name == f"g{i}" and group.member_ids == team(data, i), "get_group")
    page = manager.list_groups_page(workflow_id=data.workflows[0], first=50)
    check(len(page.items) == min(50, (size + WORKFLOWS - 1) // WORKFLOWS), "a page by workflow")
    user = data.users[0]
    page = manager.list_groups_page(user_id=user, first=50, caller=user)
    expected = min(50, sum(1 for n in range(size) if user in team(data, n)))
    check(len(page.items) == expected, "a page by user")
    check(all(isinstance(g, Group) and g.is_member(user) for _, g in page.items), "by user")
    listed = manager.list_uploaded_files(group.group_id, caller=data.owners[i])
    check(len(listed) == files_per_group, "list_uploaded_files")
    check(manager.list_uploads([group])[group.group_id] == listed, "list_uploads")
    handle = manager.get_uploaded_file(group.group_id, listed[0].file_id, caller=group.owner_id)
    with handle.open() as stream:
        body = stream.read()
    check(hashlib.sha256(body).hexdigest() == handle.sha256, "the download's SHA-256")
    check(body == content(i, int(listed[0].name[1:-4])), "the download's bytes")


def middle_cursors(data: Data, size: int) -> list[str]:
    """For each workflow, the cursor of its group halfway through its creation order."""
    cursors = []
    for workflow_id in data.workflows:
        half = (size // WORKFLOWS) // 2
        doc = next(
            data.store.db.groups.find({"workflow_id": workflow_id}, {"seq": 1})
            .sort("seq", 1)
            .skip(half)
            .limit(1)
        )
        cursors.append(str(doc["seq"]))
    return cursors


def mean_ms(call: Callable[[int], Any], calls: int, budget: float) -> tuple[float, int]:
    """Mean ms per call over up to ``calls`` calls, stopping once ``budget`` s are spent."""
    start = time.perf_counter()
    done = 0
    while done < calls:
        call(done)
        done += 1
        if done >= 3 and time.perf_counter() - start > budget:
            break
    return (time.perf_counter() - start) / done * 1000, done


def operations(data: Data, size: int, raw: bool) -> dict[str, Callable[[int], Any]]:
    """Each operation, through the library or as the pymongo commands the library sends."""
    manager = data.store.groups
    db = data.store.db
    fs = data.store.fs
    middle = middle_cursors(data, size)
    groups, files = data.groups, data.files  # measured right after filling to ``size``
    stride = 7919  # a prime: calls spread over the whole collection

    def group_of(i: int) -> tuple[str, str]:
        n = (i * stride) % size
        return groups[n], data.owners[n]

    def file_of(i: int) -> tuple[str, str, str]:
        return files[(i * stride) % len(files)]

    def workflow_of(i: int) -> str:
        return data.workflows[i % WORKFLOWS]

    def user_of(i: int) -> str:
        return data.users[i % USERS]

    if not raw:
        fixed = {g: manager.get_group(g) for g in {group_of(i)[0] for i in range(50)}}
        return {
            "get_group": lambda i: manager.get_group(group_of(i)[0]),
            "page50_by_workflow": lambda i: manager.list_groups_page(
                workflow_id=workflow_of(i), first=50
            ),
            "page50_by_user": lambda i: manager.list_groups_page(user_id=user_of(i), first=50),
            "page50_mid_list": lambda i: manager.list_groups_page(
                workflow_id=workflow_of(i), first=50, after=middle[i % WORKFLOWS]
            ),
            "list_uploaded_files": lambda i: manager.list_uploaded_files(
                group_of(i)[0], caller=group_of(i)[1]
            ),
            "list_uploads": lambda i: manager.list_uploads([fixed[group_of(i % 50)[0]]]),
            "download_64B": lambda i: _read(
                manager.get_uploaded_file(file_of(i)[0], file_of(i)[1], caller=file_of(i)[2])
            ),
        }

    def page(query: dict[str, Any]) -> list[Any]:
        return list(db.groups.find(query).sort("seq", 1).limit(51).batch_size(101))

    def files_of(group_id: str) -> list[Any]:
        return list(fs.files.find({"group_id": group_id}).sort("metadata.seq", 1))

    def access(group_id: str) -> Any:
        return db.groups.find_one({"_id": group_id}, {"owner_id": 1, "member_ids": 1})

    def download(i: int) -> bytes:
        group_id, file_id, _ = file_of(i)
        access(group_id)
        doc = fs.files.find_one({"_id": file_id})
        if fs.chunk_reads == "by_id":  # FerretDB/SQLite, as the library reads there
            return bytes(
                fs.chunks.find_one({"_id": chunk_id(file_id, 0, doc["uploadDate"])})["data"]
            )
        chunks = fs.chunks.find({"files_id": file_id, "n": {"$gte": 0}}, {"data": 1, "n": 1})
        return b"".join(bytes(doc["data"]) for doc in chunks.sort("n", 1))

    return {
        "get_group": lambda i: db.groups.find_one({"_id": group_of(i)[0]}),
        "page50_by_workflow": lambda i: page({"workflow_id": workflow_of(i)}),
        "page50_by_user": lambda i: page({"member_ids": user_of(i)}),
        "page50_mid_list": lambda i: page(
            {"workflow_id": workflow_of(i), "seq": {"$gt": ObjectId(middle[i % WORKFLOWS])}}
        ),
        "list_uploaded_files": lambda i: (access(group_of(i)[0]), files_of(group_of(i)[0])),
        "list_uploads": lambda i: files_of(group_of(i % 50)[0]),
        "download_64B": download,
        "old_page50_by_members_user_id": lambda i: page({"members.user_id": user_of(i)}),
        "old_files_by_metadata_group_id": lambda i: list(
            fs.files.find({"metadata.group_id": group_of(i % 50)[0]}).sort("metadata.seq", 1)
        ),
    }


def _read(handle: Any) -> bytes:
    with handle.open() as stream:
        return bytes(stream.read())


def measure(
    data: Data, size: int, calls: int, budget: float, old_shapes: bool
) -> dict[str, tuple[float, float]]:
    """Operation -> (library ms, raw ms); NaN for the library's share of an old shape."""
    library = operations(data, size, raw=False)
    raw = operations(data, size, raw=True)
    results = {
        name: (mean_ms(library[name], calls, budget)[0], mean_ms(raw[name], calls, budget)[0])
        for name in OPERATIONS
    }
    for name in OLD_SHAPES if old_shapes else []:
        results[name] = (math.nan, mean_ms(raw[name], calls, budget)[0])
    return results


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:,.1f}"


def table(sizes: list[int], results: dict[int, dict[str, tuple[float, float]]]) -> str:
    first, last = sizes[0], sizes[-1]
    head = (
        ["operation"]
        + [f"{size:,} ms" for size in sizes]
        + [f"growth {last:,}/{first:,}"]
        + [f"raw {size:,} ms" for size in sizes]
        + ["raw growth"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in results[first]:
        lib = [results[size][name][0] for size in sizes]
        raw = [results[size][name][1] for size in sizes]
        cells = (
            [name]
            + [_ms(v) for v in lib]
            + ["-" if math.isnan(lib[0]) else f"{lib[-1] / lib[0]:.2f}x"]
            + [_ms(v) for v in raw]
            + [f"{raw[-1] / raw[0]:.2f}x"]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, help="group counts, ascending")
    parser.add_argument("--uri", help="a MongoDB/FerretDB server (default: in memory)")
    parser.add_argument("--fill", choices=["library", "bulk"])
    parser.add_argument("--files-per-group", type=int, default=1)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 5 calls (a smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the server's database")
    parser.add_argument(
        "--old-shapes",
        action="store_true",
        help="also time the queries of the layout before member_ids / files' group_id (raw)",
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or ([100, 200] if args.quick else [1000, 100000 if args.uri else 10000])
    calls = 5 if args.quick else args.calls
    fill = args.fill or ("bulk" if args.uri else "library")
    if args.files_per_group < 1:
        parser.error("--files-per-group must be at least 1 (the file operations need files)")
    if args.uri:
        store = groupstore.connect(args.uri, database=f"scale_{uuid.uuid4().hex[:8]}")
    else:
        store = groupstore.connect("mongomock://")
    out: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        out.append(line)

    say(
        f"# {store.server_kind} ({args.uri or 'mongomock://'}), database {store.database_name}, "
        f"fill={fill}, {args.files_per_group} file(s) of {FILE_BYTES} B per group"
        + (", old query shapes too" if args.old_shapes else "")
    )
    results: dict[int, dict[str, tuple[float, float]]] = {}
    try:
        data = setup(store)
        elapsed = 0.0
        for size in sizes:
            start = time.perf_counter()
            if fill == "bulk":
                fill_bulk(data, size, args.files_per_group)
            else:
                fill_library(data, size, args.files_per_group)
            elapsed += time.perf_counter() - start
            verify(data, size, args.files_per_group)
            load = "/".join(f"{x:.1f}" for x in os.getloadavg())
            results[size] = measure(data, size, calls, args.budget, args.old_shapes)
            shown = " ".join(f"{n}={_ms(lib)}ms" for n, (lib, _) in results[size].items())
            say(f"groups={size:>7} fill={elapsed:6.1f}s load={load} {shown}")
        say(table(sizes, results))
    finally:
        if args.uri and not args.keep:
            store.client.drop_database(store.database_name)
        store.close()
    return "\n".join(out)


if __name__ == "__main__":
    main()
