"""The queries behind ``groupstore.repair``: work in batches, never load a collection whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from groupstore.storage.documents import as_utc, utc_now
from groupstore.storage.errors import translated
from groupstore.storage.files import GridFSStore, is_claim
from groupstore.storage.groups import GroupCollection, ids_of_members

BATCH = 1000
# A claim is kept this long at least: a files insert frozen in a server might still land.
CLAIM_AGE = timedelta(days=1)


@dataclass
class Orphans:
    """What ``find_orphans`` found: one list per kind of ``groupstore.repair.REPAIR_KINDS``."""

    orphan_groups: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    orphan_chunk_files: list[str] = field(default_factory=list)
    broken_files: list[str] = field(default_factory=list)
    stale_locks: list[str] = field(default_factory=list)
    unsynced_members: list[str] = field(default_factory=list)
    unsynced_files: list[str] = field(default_factory=list)


def _batches(items: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def find_orphans(
    db: Database[Any],
    fs: GridFSStore,
    grace: timedelta,
    progress: Callable[[str], None] | None = None,
    workflows_among: Callable[[list[str]], set[str]] | None = None,
) -> Orphans:
    """``workflows_among``: which of these workflow ids exist (default: ``db.workflows``)."""
    say = progress or (lambda message: None)
    cutoff = utc_now() - grace
    orphans = Orphans()
    with translated():
        say("checking groups against workflows")
        workflow_ids = db.groups.distinct("workflow_id")
        if workflows_among is not None:
            existing = workflows_among(workflow_ids)
        else:
            existing = {doc["_id"] for doc in db.workflows.find({"_id": {"$in": workflow_ids}})}
        missing = [wid for wid in workflow_ids if wid not in existing]
        if missing:
            query = {"workflow_id": {"$in": missing}, "created_at": {"$lte": cutoff}}
            orphans.orphan_groups = [doc["_id"] for doc in db.groups.find(query, {"_id": 1})]

        say("checking GridFS files against groups, and their chunks")
        checked = 0
        # Every file's bytes are checked whatever its age: groupstore lists a file
        # only once all of its chunks are in, so a listed file without them is
        # damage, never an upload in progress. The other kinds wait for the grace.
        claims_cutoff = min(cutoff, utc_now() - CLAIM_AGE)
        all_files = fs.files.find(
            {},
            {"_id": 1, "length": 1, "chunkSize": 1, "uploadDate": 1, "metadata": 1, "group_id": 1},
        ).sort("_id", 1)
        for batch in _batches(iter(all_files)):
            group_ids = list({(doc.get("metadata") or {}).get("group_id") for doc in batch})
            existing_groups = {
                doc["_id"] for doc in db.groups.find({"_id": {"$in": group_ids}}, {"_id": 1})
            }
            listed = []
            for doc in batch:
                group_id = (doc.get("metadata") or {}).get("group_id")
                old = as_utc(doc["uploadDate"]) <= cutoff
                if is_claim(doc):
                    if as_utc(doc["uploadDate"]) <= claims_cutoff:
                        orphans.orphan_files.append(doc["_id"])  # no late upload can land any more
                elif group_id in existing_groups:
                    listed.append(doc)
                    if old and doc.get("group_id") != group_id:  # written by an earlier build
                        orphans.unsynced_files.append(doc["_id"])
                elif old:
                    orphans.orphan_files.append(doc["_id"])
            orphans.broken_files.extend(_missing_bytes(fs, listed))
            checked += len(batch)
            say(
                f"checked {checked} GridFS files: {len(orphans.orphan_files)} of no group, "
                f"{len(orphans.broken_files)} with bytes missing"
            )

        say("checking chunks against GridFS files")
        # A chunk's ObjectId tells when it was written (to the second, so round
        # the cutoff up). A file whose newest chunk is recent may be an upload
        # in progress, however old its first chunks are: leave it alone.
        chunk_cutoff = ObjectId.from_datetime(cutoff + timedelta(seconds=1))
        # (Two queries rather than a $max accumulator, which FerretDB lacks.)
        old_chunk_files = fs.chunks.aggregate(
            [{"$match": {"_id": {"$lt": chunk_cutoff}}}, {"$group": {"_id": "$files_id"}}]
        )
        for batch in _batches(doc["_id"] for doc in old_chunk_files):
            found = fs.files.find({"_id": {"$in": batch}}, {"_id": 1, "metadata": 1})
            known = {doc["_id"] for doc in found if not is_claim(doc)}
            unknown = [file_id for file_id in batch if file_id not in known]
            if not unknown:
                continue
            recent = fs.chunks.find(
                {"files_id": {"$in": unknown}, "_id": {"$gte": chunk_cutoff}}, {"files_id": 1}
            )
            growing = {doc["files_id"] for doc in recent}
            orphans.orphan_chunk_files.extend(
                file_id for file_id in unknown if file_id not in growing
            )
        say("checking the member ids of groups")
        # Every write keeps members and member_ids together; they disagree only
        # where a process of an earlier version wrote (see storage.schema).
        groups = db.groups.find({}, {"members.user_id": 1, "member_ids": 1}).sort("_id", 1)
        for doc in groups.batch_size(BATCH):
            if doc.get("member_ids") != ids_of_members(doc):
                orphans.unsynced_members.append(doc["_id"])
        say("checking group write leases")
        # An expired lease is stale at once (writers take it over anyway): no grace.
        orphans.stale_locks = [
            doc["_id"]
            for doc in db.group_locks.find({"expires_at": {"$lte": utc_now()}}, {"_id": 1})
        ]
    return orphans


def _missing_bytes(fs: GridFSStore, files: list[dict[str, Any]]) -> list[str]:
    """The ids of these files whose chunks are not all there (one aggregate per batch)."""
    if not files:
        return []
    counts = {
        doc["_id"]: doc["n"]
        for doc in fs.chunks.aggregate(
            [
                {"$match": {"files_id": {"$in": [doc["_id"] for doc in files]}}},
                {"$group": {"_id": "$files_id", "n": {"$sum": 1}}},
            ]
        )
    }
    return [
        doc["_id"]
        for doc in files
        if counts.get(doc["_id"], 0) != -(-doc["length"] // max(1, doc["chunkSize"]))
    ]


def remove_orphans(
    db: Database[Any],
    fs: GridFSStore,
    orphans: Orphans,
    progress: Callable[[str], None] | None = None,
    groups: GroupCollection | None = None,
) -> None:
    say = progress or (lambda message: None)
    if groups is not None:
        for group_id in orphans.unsynced_members:
            groups.sync_member_ids(group_id)  # under the group's lease, re-read first
    for file_id in orphans.unsynced_files:
        fs.sync_group_id(file_id)
    with translated():
        for batch in _batches(iter(orphans.orphan_groups)):
            db.groups.delete_many({"_id": {"$in": batch}})
            fs.delete(fs.ids_for_groups(batch))
        for batch in _batches(iter([*orphans.orphan_files, *orphans.broken_files])):
            fs.delete(batch)
        for batch in _batches(iter(orphans.orphan_chunk_files)):
            # Claimed first: an upload still streaming (a short grace) or whose
            # files insert is still in flight can then never list these chunks.
            claimed = fs.claim(batch)
            fs.chunks.delete_many({"files_id": {"$in": claimed}})
        if orphans.stale_locks:
            db.group_locks.delete_many({"_id": {"$in": orphans.stale_locks}})
    say("removed")
