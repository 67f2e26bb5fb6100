"""The database side of backup and restore: every collection read out raw, and written back.

Reading: every collection of the database (not a fixed list, so collections
added later are backed up too) except the write leases (``group_locks``, which
only a live writer holds), the change log (``changes``: positions of this
database's live subscribers, pruned within minutes) and the server's own
(``system.*``), in natural
order: FerretDB sorts in its own memory (a sorted scan of 300 MiB of chunks
took FerretDB/SQLite from 70 MiB to 750 MiB of RSS; unsorted it stayed at 75),
so nothing here sorts. Documents come as the server sent them (raw BSON).

Writing: batches of at most ``BATCH_BYTES``, unordered, so that a duplicate
``_id`` fails alone; a merge compares each duplicate with the archive's copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure

from groupstore.storage.archive import RAW_CODEC, encode_document
from groupstore.storage.backend import Storage
from groupstore.storage.changes import CHANGES
from groupstore.storage.errors import is_unique_violation, translated
from groupstore.storage.schema import META_COLLECTION

LEASES = "group_locks"
BATCH_BYTES = 4 * 1024 * 1024
BATCH_DOCUMENTS = 1000
CHUNK_BATCH = 16  # chunks per reply (255 KiB each): about 4 MiB


def collection_names(storage: Storage) -> list[str]:
    """The collections a backup holds, sorted (so a bucket's chunks come before its files)."""
    with translated():
        names = storage.db.list_collection_names()
    return sorted(
        name for name in names if not name.startswith("system.") and name not in (LEASES, CHANGES)
    )


def chunks_name(storage: Storage) -> str:
    return str(storage.fs.chunks.name)


def files_name(storage: Storage) -> str:
    return str(storage.fs.files.name)


def file_bytes(storage: Storage) -> int:
    """The bytes of all the GridFS files (a progress total: counting the chunks instead
    takes FerretDB a decoding pass over all of them, over 30 s for 1 GiB on SQLite)."""
    with translated():
        return sum(int(doc.get("length") or 0) for doc in storage.fs.files.find({}, {"length": 1}))


def raw_documents(storage: Storage, name: str) -> Iterator[bytes]:
    """Every document of a collection, as BSON bytes, in natural order."""
    collection = storage.db[name]
    batch = CHUNK_BATCH if name == chunks_name(storage) else BATCH_DOCUMENTS
    with translated():
        if storage.kind == "memory":  # mongomock keeps dicts: encode them
            for doc in collection.find({}):
                yield encode_document(doc)
            return
        raw: Collection[Any] = collection.with_options(codec_options=RAW_CODEC)
        for doc in raw.find({}, batch_size=batch):
            yield doc.raw


def content_sha256(storage: Storage, files_doc: dict[str, Any]) -> tuple[str, int]:
    """The sha256 and size of a stored file's bytes, read in order through the store's reader."""
    digest = hashlib.sha256()
    size = 0
    with storage.fs.open_document(files_doc) as stream:
        while data := stream.read(1024 * 1024):
            digest.update(data)
            size += len(data)
    return digest.hexdigest(), size


def file_document(storage: Storage, file_id: Any) -> dict[str, Any] | None:
    with translated():
        doc: dict[str, Any] | None = storage.fs.files.find_one({"_id": file_id})
    return doc


def collections_with_data(storage: Storage) -> list[str]:
    """The collections that hold documents, besides connect's own bookkeeping."""
    found = []
    for name in collection_names(storage):
        if name == META_COLLECTION:
            continue
        with translated():
            if storage.db[name].find_one({}, {"_id": 1}) is not None:
                found.append(name)
    return found


@dataclass
class WriteResult:
    """What one batch of inserts did."""

    inserted: list[Any] = field(default_factory=list)
    identical: int = 0
    conflicts: list[Any] = field(default_factory=list)


def insert_batch(storage: Storage, name: str, raws: list[bytes], merge: bool) -> WriteResult:
    """Insert documents (BSON bytes) into a collection.

    A document whose ``_id`` (or other unique key) is taken fails alone; with
    ``merge`` (and always for connect's bookkeeping) it is then compared with the
    stored one: identical ones count as such, the rest as conflicts. Without
    ``merge`` the first failure raises (the store was checked empty).
    """
    collection = storage.db[name]
    if storage.kind == "memory":
        docs: list[Any] = [bson.decode(raw) for raw in raws]
    else:
        docs = [RawBSONDocument(raw) for raw in raws]
    result = WriteResult()
    failed: dict[int, Any] = {}
    with translated():
        try:
            collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if not _duplicate(error):
                    raise
                failed[int(error["index"])] = error
    if failed and not merge and name != META_COLLECTION:
        with translated():
            raise BulkWriteError({"writeErrors": list(failed.values())})
    for index, raw in enumerate(raws):
        _id = _document_id(docs[index])
        if index not in failed:
            result.inserted.append(_id)
            continue
        with translated():
            stored = collection.find_one({"_id": _id})
        # (connect's own markers: the target's win, whatever the archive says)
        if name == META_COLLECTION or (stored is not None and _same(stored, raw)):
            result.identical += 1
        else:
            result.conflicts.append(_id)
    return result


def _duplicate(error: dict[str, Any]) -> bool:
    return is_unique_violation(OperationFailure(error.get("errmsg", ""), error.get("code")))


def _document_id(doc: Any) -> Any:
    return doc["_id"]


def _same(stored: Any, raw: bytes) -> bool:
    stored_raw = stored.raw if isinstance(stored, RawBSONDocument) else encode_document(stored)
    if stored_raw == raw:
        return True
    return bool(bson.decode(stored_raw) == bson.decode(raw))


def delete_ids(storage: Storage, name: str, ids: list[Any]) -> None:
    with translated():
        storage.db[name].delete_many({"_id": {"$in": ids}})


def clear(storage: Storage, name: str) -> None:
    with translated():
        storage.db[name].delete_many({})
