"""Backing a whole store up to one archive file, and restoring it into an empty store.

``backup(store, stream)`` writes every collection of the database (users, API
keys, account tokens, login failures, workflows, groups, GridFS files and
chunks, groupstore's own markers, and any collection a later version adds),
document by document as the server sends them, then a manifest: per
collection a count and a sha256, per file the sha256 of its bytes (in its
``F`` record; the manifest sums them), and a trailer checksum over the whole
archive (format: ``groupstore.storage.archive``). Memory stays flat in the
size of the store: documents stream through one at a time (a few hundred
bytes are kept per GridFS file, from its chunks to its files document, to
check its bytes).

Consistency: per document. The backup reads the database while it may be
written; each document is whole as of the moment it was read, but two
documents may be from different moments (a group renamed after its workflow
was read, a member added later). GridFS files are consistent: their chunks
come first, then their files documents, and a file is in the archive only
when all its bytes are and hash to the sha256 recorded at upload; a file
uploaded or deleted while the backup ran is left out (counted in
``skipped_files``). For a point-in-time copy, stop the writers first.

``restore(store, path)`` reads the archive twice: first to check it all (the
trailer, every collection's count and sha256, every file's sha256 and length)
without writing anything, then to write it. So a truncated or altered archive
is refused before the first write, and memory stays flat (a restore that held
the archive in memory, or in a temporary collection, would not be). A failure
during the writing (the server lost) removes what was written: the store was
empty. With ``merge`` the store may hold data: missing documents are inserted,
identical ones skipped, others (same id, or same unique key, different content)
reported as conflicts and left as they are in the store; a merge interrupted by
a failure keeps what it inserted (each document whole) and can be run again.
Indexes are the ones ``connect`` creates (it did, on the target).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from groupstore.errors import ArchiveError, StoreNotEmptyError, UnknownFileError
from groupstore.storage import backup as db
from groupstore.storage.archive import (
    ArchiveWriter,
    chunk_fields,
    decode,
    file_fields,
    read_records,
)
from groupstore.storage.documents import utc_now
from groupstore.storage.schema import META_COLLECTION
from groupstore.store import GroupStore

FORMAT = "groupstore-backup"
VERSION = 1
CONSISTENCY = (
    "per document: each document as of the moment it was read; GridFS files whole "
    "(bytes checked against their sha256), those written or deleted meanwhile left out"
)
_MOD = 1 << 256
_SKIP_BATCH = 1000


class Progress(Protocol):
    """Where backup and restore report progress, in bytes (the CLI draws a bar)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class _NoProgress:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


class _Sum:
    """A count and an order-independent sha256 of a set of documents.

    The sum (mod 2**256) of each one's sha256: the servers return documents in
    their own natural order, which a restore does not keep.
    """

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, data: bytes) -> None:
        self.count += 1
        self.total = (self.total + int.from_bytes(hashlib.sha256(data).digest(), "big")) % _MOD

    def merge(self, other: _Sum) -> None:
        self.count += other.count
        self.total = (self.total + other.total) % _MOD

    def summary(self) -> dict[str, Any]:
        return {"count": self.count, "sha256": f"{self.total:064x}"}


@dataclass
class _Content:
    """One GridFS file's bytes as its chunks go by: hashed while they come in order."""

    next_n: int = 0
    digest: Any = field(default_factory=hashlib.sha256)  # None once a chunk came out of order
    size: int = 0
    chunks: _Sum = field(default_factory=_Sum)

    def add(self, n: int, data: bytes, raw: bytes) -> None:
        if self.digest is not None and n == self.next_n:
            self.digest.update(data)
            self.next_n += 1
        else:
            self.digest = None
        self.size += len(data)
        self.chunks.add(raw)

    def sha256(self) -> str | None:
        return None if self.digest is None else str(self.digest.hexdigest())


class _Tally:
    """What the manifest says: per collection a count and sha256; the files' bytes."""

    def __init__(self) -> None:
        self.collections: dict[str, _Sum] = {}
        self.files = _Sum()
        self.bytes = 0

    def document(self, name: str, raw: bytes) -> None:
        self.collections.setdefault(name, _Sum()).add(raw)

    def file(self, chunks_name: str, content: _Content, file_id: Any, sha256: str) -> None:
        self.collections.setdefault(chunks_name, _Sum()).merge(content.chunks)
        self.files.add(f"{file_id!r}:{sha256}".encode())
        self.bytes += content.size

    def manifest(self, skipped: int) -> dict[str, Any]:
        return {
            "collections": {
                name: total.summary() for name, total in sorted(self.collections.items())
            },
            "files": {**self.files.summary(), "bytes": self.bytes},
            "skipped_files": skipped,
        }


@dataclass(frozen=True)
class Manifest:
    """An archive's manifest: its header fields and the counts and sha256s."""

    fields: dict[str, Any]

    @property
    def content(self) -> dict[str, Any]:
        """What two backups of equal stores share (no dates, no source)."""
        return {key: self.fields[key] for key in ("collections", "files")}

    @property
    def documents(self) -> int:
        return sum(int(entry["count"]) for entry in self.fields["collections"].values())


@dataclass(frozen=True)
class RestoreReport:
    """What a restore wrote: per collection the documents inserted, identical, in conflict."""

    manifest: Manifest
    inserted: dict[str, int]
    identical: dict[str, int]
    conflicts: dict[str, list[Any]]
    """Per collection, the ids left as the store had them (merge); at most 100 each."""
    conflict_count: int = 0


def backup(store: GroupStore, stream: IO[bytes], progress: Progress | None = None) -> Manifest:
    """Write the whole store to ``stream`` (a binary file); returns the manifest written."""
    progress = progress or _NoProgress()
    storage = store.storage
    names = db.collection_names(storage)
    chunks, files = db.chunks_name(storage), db.files_name(storage)
    progress.start("backing up", db.file_bytes(storage))
    header = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": utc_now(),
        "source": {"kind": store.server_kind, "database": store.database_name},
        "consistency": CONSISTENCY,
    }
    writer = ArchiveWriter(stream)
    writer.header(header)
    tally = _Tally()
    for name in names:
        if name in (chunks, files):
            continue
        writer.section(name)
        for raw in db.raw_documents(storage, name):
            writer.document(raw)
            tally.document(name, raw)
    # Chunks first, then the files documents, as an upload writes them.
    contents: dict[Any, _Content] = {}
    writer.section(chunks)
    for raw in db.raw_documents(storage, chunks):
        files_id, n, data = chunk_fields(raw)
        writer.chunk(raw)
        contents.setdefault(files_id, _Content()).add(n, data, raw)
        progress.advance(len(data))
    skipped: list[Any] = []
    writer.section(files)
    for raw in db.raw_documents(storage, files):
        doc = decode(raw)
        content = contents.pop(doc["_id"], None) or _Content()
        sha = _checked_sha256(store, doc, content)
        if sha is None:
            skipped.append(doc["_id"])
        else:
            writer.file(raw, sha)
            tally.document(files, raw)
            tally.file(chunks, content, doc["_id"], sha)
    # Chunks of files not in the archive: uploads in progress, or orphans for repair.
    skipped.extend(contents)
    for start in range(0, len(skipped), _SKIP_BATCH):
        writer.skipped(skipped[start : start + _SKIP_BATCH])
    manifest = {**header, **tally.manifest(len(skipped))}
    writer.manifest(manifest)
    writer.finish()
    return Manifest(manifest)


def _checked_sha256(store: GroupStore, doc: dict[str, Any], content: _Content) -> str | None:
    """The sha256 of a file's bytes in the archive, or None if they are not all there."""
    sha = content.sha256()
    if sha is None:  # chunks stored out of order (space reused): read the file in order
        try:
            sha, _ = db.content_sha256(store.storage, doc)
        except UnknownFileError:  # deleted while being read
            return None
    expected = (doc.get("metadata") or {}).get("sha256")
    if content.size != doc.get("length") or (expected is not None and expected != sha):
        return None
    return sha


# -- restore ----------------------------------------------------------------------


@dataclass
class _Checked:
    manifest: Manifest
    skipped: set[Any]
    unordered: dict[Any, str]  # file id -> sha256, for files whose chunks came out of order


def verify_archive(path: str | Path, progress: Progress | None = None) -> Manifest:
    """Read a whole archive and check it (ArchiveError, TruncatedArchiveError); its manifest."""
    return _verify(Path(path), progress or _NoProgress()).manifest


def _verify(path: Path, progress: Progress) -> _Checked:
    progress.start("verifying", path.stat().st_size)
    tally = _Tally()
    contents: dict[Any, _Content] = {}
    skipped: set[Any] = set()
    unordered: dict[Any, str] = {}
    header: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    name = None
    with _counting(path, progress) as stream:
        for kind, body in read_records(stream):
            if header is None:
                if kind != "H":
                    raise ArchiveError("the backup archive is damaged: no header")
                header = decode(body)
                _check_header(header)
            elif kind == "C":
                name = decode(body).get("name")
            elif kind == "D" and name is not None:
                decode(body)  # valid BSON
                tally.document(name, body)
            elif kind == "K" and name is not None:
                files_id, n, data = chunk_fields(body)
                contents.setdefault(files_id, _Content()).add(n, data, body)
            elif kind == "F" and name is not None:
                raw, doc, sha = file_fields(body)
                if "_id" not in doc:
                    raise ArchiveError("the backup archive is damaged: a file without an id")
                content = contents.pop(doc.get("_id"), None) or _Content()
                _check_file(doc, content, sha, unordered)
                tally.document(name, raw)
                tally.file(_chunks_of(name), content, doc["_id"], sha)
            elif kind == "S":
                skipped.update(decode(body).get("ids") or [])
            elif kind == "M":
                manifest = decode(body)
            else:
                raise ArchiveError(f"the backup archive is damaged: a {kind} record out of place")
    if header is None or manifest is None:
        raise ArchiveError("the backup archive is damaged: no manifest")
    for file_id in skipped:
        contents.pop(file_id, None)
    if contents:
        raise ArchiveError(
            f"the backup archive is damaged: chunks of {len(contents)} files it does not hold"
        )
    computed = tally.manifest(len(skipped))
    for key in ("collections", "files", "skipped_files"):
        if manifest.get(key) != computed[key]:
            raise ArchiveError(
                f"the backup archive is damaged: its {key} do not match its manifest"
            )
    return _Checked(Manifest(manifest), skipped, unordered)


def _check_header(header: dict[str, Any]) -> None:
    if header.get("format") != FORMAT:
        raise ArchiveError("not a groupstore backup archive")
    if header.get("version") != VERSION:
        raise ArchiveError(f"unsupported backup format version {header.get('version')!r}")


def _chunks_of(files_name: str) -> str:
    return files_name.rsplit(".", 1)[0] + ".chunks"


def _check_file(
    doc: dict[str, Any], content: _Content, sha: str, unordered: dict[Any, str]
) -> None:
    expected = (doc.get("metadata") or {}).get("sha256")
    if content.size != doc.get("length") or (expected is not None and expected != sha):
        raise ArchiveError(f"the backup archive is damaged: file {doc.get('_id')!r} does not match")
    actual = content.sha256()
    if actual is None:
        unordered[doc["_id"]] = sha  # checked once written (read back in order)
    elif actual != sha:
        raise ArchiveError(
            f"the backup archive is damaged: the sha256 of file {doc.get('_id')!r} does not match"
        )


class _counting:
    """The archive opened for reading, reporting each byte read to ``progress``."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self._file = path.open("rb")
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._progress.advance(len(data))
        return data

    def __enter__(self) -> IO[bytes]:
        return self  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def restore(
    store: GroupStore,
    path: str | Path,
    merge: bool = False,
    progress: Progress | None = None,
) -> RestoreReport:
    """Load an archive into ``store``: checked whole first, then written (see the module)."""
    path = Path(path)
    progress = progress or _NoProgress()
    storage = store.storage
    if not merge:
        holding = db.collections_with_data(storage)
        if holding:
            raise StoreNotEmptyError(
                f"the store is not empty ({', '.join(holding)} hold documents): restore "
                "into an empty database, or pass --merge"
            )
    checked = _verify(path, progress)
    if not merge:
        db.clear(storage, META_COLLECTION)  # connect's markers: the archive's replace them
    writer = _Writer(store, merge)
    progress.start("restoring", path.stat().st_size)
    try:
        with _counting(path, progress) as stream:
            writer.write(read_records(stream), checked.skipped)
        for file_id, sha in checked.unordered.items():
            files_doc = db.file_document(storage, file_id)
            if files_doc is None or db.content_sha256(storage, files_doc)[0] != sha:
                raise ArchiveError(f"file {file_id!r} does not match its sha256 once restored")
    except BaseException:
        writer.roll_back()
        raise
    return writer.report(checked.manifest)


class _Writer:
    """Writes an archive's records in batches, counting what it did."""

    def __init__(self, store: GroupStore, merge: bool) -> None:
        self.storage = store.storage
        self.merge = merge
        self.inserted: dict[str, int] = {}
        self.identical: dict[str, int] = {}
        self.conflicts: dict[str, list[Any]] = {}
        self.conflict_count = 0
        self.written: list[str] = []
        self._name: str | None = None
        self._batch: list[bytes] = []
        self._bytes = 0

    def write(self, records: Iterator[tuple[str, bytes]], skipped: set[Any]) -> None:
        for kind, body in records:
            if kind == "C":
                self._flush()
                self._name = str(decode(body)["name"])
            elif kind == "D":
                self._add(body)
            elif kind == "K":
                if not skipped or chunk_fields(body)[0] not in skipped:
                    self._add(body)
            elif kind == "F":
                self._add(file_fields(body)[0])
        self._flush()

    def _add(self, raw: bytes) -> None:
        self._batch.append(raw)
        self._bytes += len(raw)
        if self._bytes >= db.BATCH_BYTES or len(self._batch) >= db.BATCH_DOCUMENTS:
            self._flush()

    def _flush(self) -> None:
        if not self._batch or self._name is None:
            return
        name = self._name
        if name not in self.written:
            self.written.append(name)
        result = db.insert_batch(self.storage, name, self._batch, self.merge)
        self._batch, self._bytes = [], 0
        self.inserted[name] = self.inserted.get(name, 0) + len(result.inserted)
        self.identical[name] = self.identical.get(name, 0) + result.identical
        if result.conflicts:
            self.conflict_count += len(result.conflicts)
            kept = self.conflicts.setdefault(name, [])
            kept.extend(result.conflicts[: max(0, 100 - len(kept))])

    def roll_back(self) -> None:
        """After a failure: an empty store is emptied again; a merge keeps its inserts."""
        if self.merge:
            return
        for name in self.written:
            db.clear(self.storage, name)

    def report(self, manifest: Manifest) -> RestoreReport:
        return RestoreReport(
            manifest=manifest,
            inserted=self.inserted,
            identical=self.identical,
            conflicts=self.conflicts,
            conflict_count=self.conflict_count,
        )
