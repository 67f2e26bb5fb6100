"""File bytes in GridFS, laid out exactly as the GridFS spec says.

Any GridFS tool can read what this module writes (``fs.files`` documents and
``fs.chunks`` of ``chunkSize`` bytes). We write the chunks ourselves instead
of using pymongo's ``GridIn`` for two measured reasons:

* ``GridIn`` buffers up to 48 MB of chunk documents per stream before it
  sends them, which breaks the budget of 32 MiB of memory growth for moving a
  256 MiB file; here a batch is at most ``batch_bytes`` (4 MiB).
* ``GridIn`` checks the GridFS indexes (``find_one`` and ``listIndexes`` on
  both collections) on every new file; the store creates them once at
  connect, so a small upload costs one chunk insert and one files insert.

The ``fs.files`` document is also the file's entry in its group's listing:
it carries ``metadata.group_id``, ``metadata.contentType``,
``metadata.sha256`` and ``metadata.seq`` (upload order), and the group id
once more as a top-level ``group_id``, which the listings query: FerretDB
pushes a top-level equality down to PostgreSQL but never a dotted path, so a
group's listing at 100,000 files took 11.4 s on ``metadata.group_id`` and
57 ms on ``group_id`` (docs/performance.md). GridFS readers ignore fields
they do not know. So an upload is one
insert that makes the file appear and a delete one delete that makes it
disappear: no read-modify-write of a shared list, which servers without
atomic single-document updates (FerretDB) would lose under concurrency
(docs/consistency.md).

Chunk ids, and reading chunks by ``_id``: each chunk's ``_id`` is an ObjectId,
as GridFS prescribes, but computed (``chunk_id``): the upload date's second as
its timestamp, then 8 bytes hashed from the file id and ``n``. GridFS readers
find chunks by ``files_id`` and ``n``, so stock tools read the files as before,
and repair still tells old chunks by their ObjectId's time (a chunk written more
than ``STAMP_WINDOW_SECONDS`` after the upload date gets a plain ObjectId). The
reason is FerretDB on SQLite: it evaluates a filter in SQLite only when it is
``_id`` alone; for ``{files_id, n}`` it decodes every chunk of the collection
itself, so a 4 KiB download took 446 ms with 2,000 files stored. There
(``chunk_reads_for``: one ``explain`` when the store is built) a reader, which
has the files document, fetches the file's first chunks by ``_id`` (29 ms), one
round trip each, and turns to the cursor after one batch of them (each read by
``_id`` still scans the collection in SQLite, the cursor once for the rest of
the file) or when a chunk is not found so (files of other GridFS writers, or
late chunks). Elsewhere the cursor stays: MongoDB and mongomock serve it from
``files_id_1_n_1``, and FerretDB/PostgreSQL pushes both filters down to the same
sequential scan (no gain measured). Figures: docs/ferretdb.md.

Write order: chunks first, then the ``fs.files`` document, which lists the
file. Delete order: the ``fs.files`` document first (unlisting it), then the
chunks. A crash in between leaves chunks without a files document, or a
files document whose group is gone: orphans that ``groupstore.repair`` removes.
Chunks whose files insert may still land (its answer never came) are deleted
only after a *claim* of their id (``claim``): of a claim and a late insert
exactly one lands, so no file is ever listed without its bytes
(docs/consistency.md, "Uploads").
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Literal, TypeAlias

from bson import ObjectId
from gridfs import GridFSBucket
from pymongo.collection import Collection
from pymongo.cursor import Cursor
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from groupstore.errors import (
    ConstraintViolationError,
    GroupStoreError,
    StoreUnavailableError,
    UnknownFileError,
)
from groupstore.model import UploadedFile
from groupstore.storage.documents import file_from_document, new_seq, utc_now
from groupstore.storage.errors import translated

DEFAULT_CHUNK_SIZE = 255 * 1024  # the GridFS default; larger chunks read slowly in pymongo
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
# The metadata flag of a claim: a files document of no group that only reserves its _id.
CLAIM_MARK = "claim"
DUPLICATE_KEY = 11000
# A chunk written this long after its file's upload date gets a plain ObjectId (stamped
# now), not the id derived from the upload date: repair takes chunks whose newest id is
# older than its grace (an hour by default) for the remains of a dead upload.
STAMP_WINDOW_SECONDS = 60.0

ChunkReads: TypeAlias = Literal["cursor", "by_id"]
"""How a reader finds a file's chunks: one cursor on ``(files_id, n)``, or each by ``_id``."""


def chunk_id(file_id: Any, n: int, upload_date: datetime) -> ObjectId:
    """The ``_id`` groupstore gives chunk ``n`` of a file uploaded at ``upload_date``.

    An ObjectId, as GridFS prescribes: its timestamp is the upload date's second
    (so repair can tell old chunks from new ones, as for any ObjectId), its other 8
    bytes a hash of the file id and ``n``. A reader that has the files document can
    thus compute it and fetch the chunk by ``_id``, the one filter FerretDB's SQLite
    backend evaluates in SQLite rather than in FerretDB.
    """
    stamp = ObjectId.from_datetime(upload_date).binary[:4]
    return ObjectId(stamp + hashlib.sha256(f"{file_id}/{n}".encode()).digest()[:8])


def chunk_reads_for(chunks: Collection[Any], kind: str) -> ChunkReads:
    """``by_id`` on a FerretDB that does not push a ``files_id`` filter down (SQLite).

    One ``explain`` (FerretDB only). Measured (bench/bench_chunks.py, docs/ferretdb.md):
    on FerretDB/SQLite a read by ``_id`` is evaluated in SQLite, a read by ``files_id``
    by FerretDB after it decoded every document of the collection (about 30x slower with
    2,000 files stored); on FerretDB/PostgreSQL both are pushed down to the same
    sequential scan, so the cursor, which fetches many chunks per round trip, stays.
    MongoDB and mongomock serve the cursor from the ``files_id_1_n_1`` index.
    """
    if kind != "ferretdb":
        return "cursor"
    try:
        with translated():
            answer = chunks.database.command(
                "explain", {"find": chunks.name, "filter": {"files_id": ""}, "limit": 1}
            )
    except StoreUnavailableError:
        raise
    except GroupStoreError:  # an explain this FerretDB does not answer: as before
        return "cursor"
    return "cursor" if answer.get("filterPushdown") else "by_id"


def is_claim(doc: dict[str, Any]) -> bool:
    """Whether a files document is a claim (see ``GridFSStore.claim``), not a file."""
    return bool((doc.get("metadata") or {}).get(CLAIM_MARK))


def is_duplicate(error: dict[str, Any]) -> bool:
    """Whether one write error of a bulk insert is a duplicate ``_id``."""
    return error.get("code") == DUPLICATE_KEY


@dataclass(frozen=True)
class NewFile:
    """A file to write: its id, name, bytes (read once), GridFS metadata and upload date."""

    file_id: str
    filename: str
    source: IO[bytes]
    metadata: dict[str, Any]
    upload_date: datetime


@dataclass(frozen=True)
class StoredBytes:
    """What writing a stream produced."""

    size: int
    sha256: str


class GridFSStore:
    """One GridFS bucket (``<bucket>.files`` and ``<bucket>.chunks``)."""

    def __init__(
        self,
        db: Database[Any],
        bucket_name: str = "fs",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        chunk_reads: ChunkReads | None = None,
    ) -> None:
        self.db = db
        self.bucket_name = bucket_name
        self.chunk_size = chunk_size
        self.chunks_per_batch = max(1, batch_bytes // chunk_size)
        # None: Storage.build chooses for the server (chunk_reads_for); the cursor until then.
        self.chunk_reads: ChunkReads | None = chunk_reads
        self.files: Collection[Any] = db[f"{bucket_name}.files"]
        self.chunks: Collection[Any] = db[f"{bucket_name}.chunks"]

    def write(
        self,
        file_id: str,
        filename: str,
        source: IO[bytes],
        metadata: dict[str, Any],
        upload_date: datetime,
    ) -> StoredBytes:
        """Stream ``source`` into the bucket under ``file_id``: chunks, then the files document.

        The files document, which lists the file, is inserted only once every
        chunk is acknowledged, and the chunks are removed on failure only once
        no files document can appear any more (see ``_abandon``): so a listed
        file always has all of its bytes, whatever write fails, hangs or lands
        late. What a failure leaves (orphan chunks, a claim) is for ``repair``.
        """
        digest = hashlib.sha256()
        size = 0
        try:
            with translated():
                for batch in self._batches(file_id, source, digest, upload_date):
                    self.chunks.insert_many(batch, ordered=True)
                    size += sum(len(doc["data"]) for doc in batch)
        except BaseException:
            # No files document was sent: nothing can list these chunks.
            self._discard_chunks_quietly(file_id)
            raise
        document = self._files_document(
            NewFile(file_id, filename, source, metadata, upload_date), size, digest
        )
        claimed = False
        try:
            with translated():
                try:
                    self.files.insert_one(document)
                except DuplicateKeyError:
                    claimed = True  # repair claimed the id while the bytes streamed in
        except StoreUnavailableError:
            # The insert may still land (a frozen server runs it later): then the
            # file is listed whole, unless a claim beats it (see _abandon).
            if self._abandon(file_id):
                raise
        except BaseException:
            self._abandon(file_id)
            raise
        if claimed:
            self._discard_chunks_quietly(file_id)
            raise StoreUnavailableError("the upload was interrupted by a repair; try again")
        return StoredBytes(size=size, sha256=digest.hexdigest())

    def claim(self, file_ids: list[str]) -> list[str]:
        """Of these ids, those that now have a claim: a files document no upload can replace.

        A claim is an empty GridFS file of no group (never listed; a valid
        GridFS entry for stock tools). Inserting it is atomic on every server,
        so of a claim and an upload's files document for one id exactly one
        lands: once an id is claimed (now, or by an earlier claim), its chunks
        are garbage for good. An id left out has a file's document.
        """
        if not file_ids:
            return []
        now = utc_now()
        claims = [
            {
                "_id": file_id,
                "length": 0,
                "chunkSize": self.chunk_size,
                "uploadDate": now,
                "filename": "",
                "metadata": {CLAIM_MARK: True},
            }
            for file_id in file_ids
        ]
        with translated():
            try:
                self.files.insert_many(claims, ordered=False)
                return list(file_ids)
            except BulkWriteError as exc:
                errors = exc.details["writeErrors"]
                if not all(is_duplicate(error) for error in errors):
                    raise
                taken = [claims[error["index"]]["_id"] for error in errors]
            held = self.files.find({"_id": {"$in": taken}}, {"metadata": 1})
            files = {doc["_id"] for doc in held if not is_claim(doc)}
        return [file_id for file_id in file_ids if file_id not in files]

    def _abandon(self, file_id: str) -> bool:
        """Give up an upload whose files insert failed or may still land: True if abandoned.

        A claim makes sure the insert can never land; then the chunks go. If
        the claim loses, the insert did land (the file is whole and listed):
        False, the upload succeeded after all. If the claim's outcome is
        unknown too, everything stays: either the file is (or will be) whole
        and listed, or its chunks are orphans for ``repair``.
        """
        try:
            claimed = self.claim([file_id])
        except GroupStoreError:
            return True  # the server is gone: the chunks stay, for repair
        if not claimed:
            return False
        self._discard_chunks_quietly(file_id)
        return True

    def write_many(self, files: Sequence[NewFile], *, old_dates: bool = False) -> list[StoredBytes]:
        """Several files in as few inserts as their bytes allow (an import's small files).

        The chunks of all of them go in batches of up to ``batch_bytes`` (a batch
        may span files), then their files documents in one insert: ten small
        files cost two round trips instead of twenty. The write order is
        ``write``'s: a file is listed only once all its chunks are in. On any
        failure what was written is removed (best effort), after a claim of the
        ids once their files insert was sent (``_abandon_many``), as ``write`` does.

        ``old_dates``: the upload dates are past ones (an import keeps the source's),
        and the chunk ids are derived from them all the same, so that readers on
        FerretDB/SQLite find the chunks by ``_id`` (plain ids would send every
        read of these files to a scan of all chunks). Such chunks look old to
        ``repair`` until their files document is in: do not run ``repair --apply``
        during an import (a copy whose chunks it took fails the import's check).
        """
        stored: list[StoredBytes] = []
        documents: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        ids = [file.file_id for file in files]
        try:
            with translated():
                for file in files:
                    digest = hashlib.sha256()
                    size = 0
                    for batch in self._batches(
                        file.file_id, file.source, digest, file.upload_date, old_dates
                    ):
                        pending.extend(batch)
                        size += sum(len(doc["data"]) for doc in batch)
                        while len(pending) >= self.chunks_per_batch:
                            full = pending[: self.chunks_per_batch]
                            self.chunks.insert_many(full, ordered=True)
                            del pending[: self.chunks_per_batch]
                    documents.append(self._files_document(file, size, digest))
                    stored.append(StoredBytes(size=size, sha256=digest.hexdigest()))
                if pending:
                    self.chunks.insert_many(pending, ordered=True)
        except BaseException:
            # No files document was sent: nothing can list these chunks.
            for file_id in ids:
                self._discard_chunks_quietly(file_id)
            raise
        if documents:
            try:
                with translated():
                    self.files.insert_many(documents, ordered=True)
            except BaseException:
                self._abandon_many(ids)
                raise
        return stored

    def _abandon_many(self, file_ids: list[str]) -> None:
        """Remove what a failed ``write_many`` wrote, files insert sent (see ``_abandon``).

        Ids claimed now lose their chunks; files whose documents did land are
        deleted as any file is (document first, then chunks). If the server
        is gone, everything stays for ``repair``, whole or unlisted.
        """
        try:
            claimed = self.claim(file_ids)
        except GroupStoreError:
            return
        for file_id in claimed:
            self._discard_chunks_quietly(file_id)
        with contextlib.suppress(GroupStoreError):
            self.delete([file_id for file_id in file_ids if file_id not in set(claimed)])

    def _files_document(self, file: NewFile, size: int, digest: Any) -> dict[str, Any]:
        metadata = file.metadata
        document = {
            "_id": file.file_id,
            "length": size,
            "chunkSize": self.chunk_size,
            "uploadDate": file.upload_date,
            "filename": file.filename,
            "metadata": {**metadata, "sha256": digest.hexdigest(), "seq": new_seq()},
        }
        if "group_id" in metadata:
            document["group_id"] = metadata["group_id"]  # what listings query
        return document

    def _batches(
        self,
        file_id: str,
        source: IO[bytes],
        digest: Any,
        upload_date: datetime,
        old_date: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        uploaded_at = ObjectId.from_datetime(upload_date).generation_time.timestamp()
        batch: list[dict[str, Any]] = []
        for n, data in enumerate(_read_chunks(source, self.chunk_size)):
            digest.update(data)
            derived = old_date or time.time() - uploaded_at <= STAMP_WINDOW_SECONDS
            _id = chunk_id(file_id, n, upload_date) if derived else ObjectId()
            # bytes are BSON binary subtype 0, as Binary(data) is, without its copy.
            batch.append({"_id": _id, "files_id": file_id, "n": n, "data": data})
            if len(batch) >= self.chunks_per_batch:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- the files documents as the groups' file listings ---------------------

    def list_for_groups(self, group_ids: list[str]) -> dict[str, list[UploadedFile]]:
        """Each group's files in upload order (one round trip per batch of results)."""
        listing: dict[str, list[UploadedFile]] = {group_id: [] for group_id in group_ids}
        if not group_ids:
            return listing
        query = (
            {"group_id": group_ids[0]} if len(group_ids) == 1 else {"group_id": {"$in": group_ids}}
        )
        with translated():
            for doc in self.files.find(query).sort("metadata.seq", 1):
                file = file_from_document(doc)
                listing[file.group_id].append(file)
        return listing

    def list_for_group(self, group_id: str) -> list[UploadedFile]:
        return self.list_for_groups([group_id])[group_id]

    def find_file(self, group_id: str, file_id: str) -> dict[str, Any] | None:
        """The files document of a group's file (None if the group has no such file).

        Found by ``_id`` alone, the group compared here: FerretDB/SQLite pushes a
        filter down to SQLite only when it is ``_id`` alone, and otherwise decodes
        every files document (35 ms with 2,000 files stored, against 1-2 ms).
        """
        with translated():
            doc: dict[str, Any] | None = self.files.find_one({"_id": file_id})
        if doc is None or (doc.get("metadata") or {}).get("group_id") != group_id:
            return None
        return doc

    def ids_for_groups(self, group_ids: list[str]) -> list[str]:
        with translated():
            docs = self.files.find({"group_id": {"$in": group_ids}}, {"_id": 1})
            return [doc["_id"] for doc in docs]

    def remove(self, group_id: str, file_id: str) -> bool:
        """Unlist and delete one file of a group: its files document, then its chunks."""
        with translated():
            result = self.files.delete_one({"_id": file_id, "group_id": group_id})
        if result.deleted_count != 1:
            return False
        with translated():
            self.chunks.delete_many({"files_id": file_id})
        return True

    # -- reading ----------------------------------------------------------------

    def open(self, file_id: str) -> IO[bytes]:
        """A buffered, seekable reader that fetches chunks on demand."""
        with translated():
            doc = self.files.find_one(
                {"_id": file_id}, {"length": 1, "chunkSize": 1, "uploadDate": 1}
            )
        if doc is None:
            raise UnknownFileError(file_id)
        return self.open_document(doc)

    def open_document(self, doc: dict[str, Any]) -> IO[bytes]:
        """A reader for the file of a files document already read (no extra round trip)."""
        upload_date = doc.get("uploadDate") if self.chunk_reads == "by_id" else None
        raw = ChunkReader(
            self.chunks, doc["_id"], doc["length"], doc["chunkSize"], upload_date=upload_date
        )
        return io.BufferedReader(raw, buffer_size=max(1, doc["chunkSize"]))

    def ids_without_group_id(self, after: str | None = None, limit: int = 1000) -> list[str]:
        """Ids of up to ``limit`` group files written before the top-level ``group_id``."""
        query: dict[str, Any] = {
            "group_id": {"$exists": False},
            "metadata.group_id": {"$exists": True},
        }
        if after is not None:
            query["_id"] = {"$gt": after}
        with translated():
            docs = self.files.find(query, {"_id": 1}).sort("_id", 1).limit(limit)
            return [doc["_id"] for doc in docs]

    def sync_group_id(self, file_id: str) -> bool:
        """Copy ``metadata.group_id`` to the top level if it is missing there; True if copied.

        Files documents are written once and never updated, so nothing can race
        this write but a delete (which makes it match nothing).
        """
        with translated():
            doc = self.files.find_one({"_id": file_id}, {"group_id": 1, "metadata.group_id": 1})
            if doc is None:
                return False
            group_id = (doc.get("metadata") or {}).get("group_id")
            if group_id is None or doc.get("group_id") == group_id:
                return False
            result = self.files.update_one({"_id": file_id}, {"$set": {"group_id": group_id}})
        return result.modified_count == 1

    def delete(self, file_ids: Iterable[str]) -> None:
        """Remove files: the files documents first, then their chunks (one command each)."""
        ids = list(file_ids)
        if not ids:
            return
        with translated():
            self.files.delete_many({"_id": {"$in": ids}})
            self.chunks.delete_many({"files_id": {"$in": ids}})

    def _discard_chunks_quietly(self, file_id: str) -> None:
        # If the server is unreachable, repair removes the orphans later.
        with contextlib.suppress(GroupStoreError), translated():
            self.chunks.delete_many({"files_id": file_id})


def file_store(db: Database[Any], fs: Any = None) -> GridFSStore:
    """The store for a manager's ``fs`` argument: None, a GridFSStore, or a stock GridFSBucket."""
    if fs is None:
        return GridFSStore(db)
    if isinstance(fs, GridFSStore):
        return fs
    if isinstance(fs, GridFSBucket):
        # GridFSBucket exposes neither its name nor its chunk size publicly.
        return GridFSStore(
            db,
            bucket_name=getattr(fs, "_bucket_name", "fs"),
            chunk_size=getattr(fs, "_chunk_size_bytes", DEFAULT_CHUNK_SIZE),
        )
    raise TypeError(f"fs must be a GridFSStore or a gridfs.GridFSBucket, not {type(fs).__name__}")


def _read_chunks(source: IO[bytes], chunk_size: int) -> Iterator[bytes]:
    """Exactly ``chunk_size`` bytes at a time (the last piece shorter), as GridFS requires."""
    pending = bytearray()
    while True:
        data = source.read(chunk_size - len(pending))
        if not data:
            break
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConstraintViolationError(
                "the file must be opened in binary mode (read() gave text)"
            )
        if not pending and len(data) == chunk_size and type(data) is bytes:
            yield data  # a whole chunk in one read (the usual case): no copy
            continue
        pending += data
        if len(pending) == chunk_size:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


class ChunkReader(io.RawIOBase):
    """A raw, seekable stream over one GridFS file's chunks.

    Given the file's ``upload_date`` (on a server where that pays, see
    ``chunk_reads_for``), the reader first fetches chunks one by one by the
    ``_id`` that ``chunk_id`` computes: one cheap round trip each. It turns to
    the cursor when a chunk is not found so (a file written by another GridFS
    writer, or a chunk written late), and after ``by_id_limit`` chunks: each read
    by ``_id`` still costs the server a pass over the chunks collection (in
    SQLite), the cursor one pass (in FerretDB) for the whole rest of the file.

    The cursor reads by ``(files_id, n)`` sorted by ``n``; a seek restarts it at
    the chunk that holds the new position, so a range read never fetches the
    chunks before it.
    """

    def __init__(
        self,
        chunks: Collection[Any],
        file_id: str,
        length: int,
        chunk_size: int,
        upload_date: datetime | None = None,
    ):
        super().__init__()
        self._chunks = chunks
        self._file_id = file_id
        self.length = length
        self._chunk_size = chunk_size
        self._position = 0
        self._cursor: Cursor[Any] | None = None
        self._next_n = 0
        self._buffer = b""
        self._buffer_start = 0
        self._batch_chunks = max(1, DEFAULT_BATCH_BYTES // chunk_size)
        self._upload_date = upload_date
        # After this many reads by _id, one cursor is cheaper on FerretDB/SQLite (see above).
        self.by_id_limit = self._batch_chunks if upload_date is not None else 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.length}[whence]
        position = base + offset
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self.length:
            return 0
        start = self._position - self._buffer_start
        if not 0 <= start < len(self._buffer):
            self._load_chunk(self._position // self._chunk_size)
            start = self._position - self._buffer_start
        count = min(len(buffer), len(self._buffer) - start)
        buffer[:count] = self._buffer[start : start + count]
        self._position += count
        return count

    def _load_chunk(self, n: int) -> None:
        if self.by_id_limit > 0 and self._upload_date is not None:
            self.by_id_limit -= 1
            if self._load_chunk_by_id(n, self._upload_date):
                return
            self.by_id_limit = 0  # not written by groupstore (in time): the cursor from now on
        with translated():
            if self._cursor is None or n != self._next_n:
                self._close_cursor()
                # Bound each reply to a few MiB: by default MongoDB sends up to
                # 16 MiB of chunks per batch (and FerretDB does not cap it at all).
                self._cursor = (
                    self._chunks.find(
                        {"files_id": self._file_id, "n": {"$gte": n}}, {"data": 1, "n": 1}
                    )
                    .sort("n", 1)
                    .batch_size(self._batch_chunks)
                )
            doc = next(self._cursor, None)
        if doc is None or doc["n"] != n:
            self._close_cursor()
            raise UnknownFileError(self._file_id)  # deleted while being read, or corrupt
        self._buffer = bytes(doc["data"])
        self._buffer_start = n * self._chunk_size
        self._next_n = n + 1

    def _load_chunk_by_id(self, n: int, upload_date: datetime) -> bool:
        """Chunk ``n`` by its computed ``_id``: False when no such chunk is there."""
        with translated():
            doc = self._chunks.find_one(
                {"_id": chunk_id(self._file_id, n, upload_date)},
                {"data": 1, "n": 1, "files_id": 1},
            )
        if doc is None or doc.get("files_id") != self._file_id or doc.get("n") != n:
            return False
        self._buffer = bytes(doc["data"])
        self._buffer_start = n * self._chunk_size
        return True

    def _close_cursor(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def close(self) -> None:
        self._close_cursor()
        super().close()
