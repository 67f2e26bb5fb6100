"""The queries behind ``groupstore.repair``: work in batches, never load a collection whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from groupstore.storage.documents import utc_now
from groupstore.storage.errors import translated
from groupstore.storage.files import GridFSStore

BATCH = 1000


@dataclass
class Orphans:
    groups: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    chunk_files: list[str] = field(default_factory=list)


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
) -> Orphans:
    say = progress or (lambda message: None)
    cutoff = utc_now() - grace
    orphans = Orphans()
    with translated():
        say("checking groups against workflows")
        workflow_ids = db.groups.distinct("workflow_id")
        existing = {doc["_id"] for doc in db.workflows.find({"_id": {"$in": workflow_ids}})}
        missing = [wid for wid in workflow_ids if wid not in existing]
        if missing:
            query = {"workflow_id": {"$in": missing}, "created_at": {"$lte": cutoff}}
            orphans.groups = [doc["_id"] for doc in db.groups.find(query, {"_id": 1})]

        say("checking GridFS files against group uploads")
        checked = 0
        old_files = fs.files.find({"uploadDate": {"$lte": cutoff}}, {"_id": 1}).sort("_id", 1)
        for batch in _batches(doc["_id"] for doc in old_files):
            listed = {
                file["file_id"]
                for doc in db.groups.find({"files.file_id": {"$in": batch}}, {"files.file_id": 1})
                for file in doc.get("files", [])
            }
            orphans.files.extend(file_id for file_id in batch if file_id not in listed)
            checked += len(batch)
            say(f"checked {checked} GridFS files, {len(orphans.files)} orphaned")

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
            known = {doc["_id"] for doc in fs.files.find({"_id": {"$in": batch}}, {"_id": 1})}
            unknown = [file_id for file_id in batch if file_id not in known]
            if not unknown:
                continue
            recent = fs.chunks.find(
                {"files_id": {"$in": unknown}, "_id": {"$gte": chunk_cutoff}}, {"files_id": 1}
            )
            growing = {doc["files_id"] for doc in recent}
            orphans.chunk_files.extend(file_id for file_id in unknown if file_id not in growing)
    say(
        f"found {len(orphans.groups)} orphan groups, {len(orphans.files)} orphan files, "
        f"chunks of {len(orphans.chunk_files)} missing files"
    )
    return orphans


def remove_orphans(
    db: Database[Any],
    fs: GridFSStore,
    orphans: Orphans,
    progress: Callable[[str], None] | None = None,
) -> None:
    say = progress or (lambda message: None)
    with translated():
        for batch in _batches(iter(orphans.groups)):
            docs = list(db.groups.find({"_id": {"$in": batch}}, {"files.file_id": 1}))
            db.groups.delete_many({"_id": {"$in": batch}})
            fs.delete(file["file_id"] for doc in docs for file in doc.get("files", []))
        for batch in _batches(iter(orphans.files)):
            fs.delete(batch)
        for batch in _batches(iter(orphans.chunk_files)):
            fs.chunks.delete_many({"files_id": {"$in": batch}})
    say("removed")
