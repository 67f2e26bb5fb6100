"""The backup archive's bytes: a stream of BSON records, a manifest, and a trailer checksum.

Layout (all of it written and read front to back, never seeked)::

    MAGIC                     8 bytes: b"GSBACKUP", then the format's version byte
    record*                   1 byte kind + one BSON document (its own int32 length first)
    M record                  the manifest (counts and sha256s, see groupstore.backup)
    E record                  {"sha256": hex of every byte before this record}
    end of file

Kinds: ``H`` header, ``C`` a collection starts (``{"name": ...}``), ``D`` one
document of it (as the server sent it: raw BSON, never decoded and re-encoded
on the way), ``K`` one GridFS chunk, ``F`` one GridFS files document with the
sha256 of its content (``{"d": doc, "sha256": hex}``), ``S`` the files whose
chunks came before but which are left out (``{"ids": [...]}``), ``M``, ``E``.
A reader that stops before ``E`` has a truncated archive; one whose bytes do not
hash to ``E``'s sha256 an altered one.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from typing import IO, Any

import bson
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument

from groupstore.errors import ArchiveError, TruncatedArchiveError

MAGIC = b"GSBACKUP\x01"
KINDS = frozenset(b"HCDKFSME")
# A document is at most 16 MiB (plus what a server tolerates); an F record wraps one.
MAX_RECORD = 17 * 1024 * 1024
_INT32 = struct.Struct("<i")


def _encode(value: dict[str, Any]) -> bytes:
    return bson.encode(value)


class ArchiveWriter:
    """Writes records to a binary stream, hashing every byte for the trailer."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._out = stream
        self._digest = hashlib.sha256()
        self.bytes_written = 0
        self._write(MAGIC)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)
        self.bytes_written += len(data)

    def _record(self, kind: bytes, body: bytes) -> None:
        self._write(kind)
        self._write(body)

    def header(self, fields: dict[str, Any]) -> None:
        self._record(b"H", _encode(fields))

    def section(self, name: str) -> None:
        self._record(b"C", _encode({"name": name}))

    def document(self, raw: bytes) -> None:
        self._record(b"D", raw)

    def chunk(self, raw: bytes) -> None:
        self._record(b"K", raw)

    def file(self, raw: bytes, sha256: str) -> None:
        self._record(b"F", _encode({"d": RawBSONDocument(raw), "sha256": sha256}))

    def skipped(self, file_ids: list[Any]) -> None:
        self._record(b"S", _encode({"ids": file_ids}))

    def manifest(self, manifest: dict[str, Any]) -> None:
        self._record(b"M", _encode(manifest))

    def finish(self) -> None:
        """The trailer: the sha256 of everything written before it."""
        trailer = _encode({"sha256": self._digest.hexdigest()})
        self._out.write(b"E" + trailer)
        self.bytes_written += 1 + len(trailer)


def read_records(stream: IO[bytes]) -> Iterator[tuple[str, bytes]]:
    """Each record's kind and BSON body, up to the trailer, which is checked.

    Raises TruncatedArchiveError when the stream ends before the trailer, and
    ArchiveError when it is not an archive or its bytes do not match the
    trailer (checked only at the end: callers that must not act on unchecked
    bytes read the archive twice, see groupstore.backup).
    """
    digest = hashlib.sha256()
    magic = stream.read(len(MAGIC))
    if magic != MAGIC:
        if magic[:8] == MAGIC[:8]:
            raise ArchiveError(f"unsupported backup format version {magic[8:9]!r}")
        if len(magic) < len(MAGIC) and MAGIC.startswith(magic) and magic:
            raise TruncatedArchiveError("the backup archive is truncated (in its first bytes)")
        raise ArchiveError("not a groupstore backup archive")
    digest.update(magic)
    offset = len(magic)
    while True:
        kind = stream.read(1)
        if not kind:
            raise TruncatedArchiveError(
                f"the backup archive is truncated: it ends at byte {offset} without its trailer"
            )
        if kind[0] not in KINDS:
            raise ArchiveError(f"the backup archive is damaged: unknown record at byte {offset}")
        head = stream.read(4)
        if len(head) < 4:
            raise TruncatedArchiveError(f"the backup archive is truncated at byte {offset}")
        (length,) = _INT32.unpack(head)
        if not 5 <= length <= MAX_RECORD:
            raise ArchiveError(
                f"the backup archive is damaged: bad record length {length} at byte {offset}"
            )
        rest = stream.read(length - 4)
        if len(rest) < length - 4:
            raise TruncatedArchiveError(f"the backup archive is truncated at byte {offset}")
        body = head + rest
        if kind == b"E":
            _check_trailer(body, digest.hexdigest(), stream)
            return
        digest.update(kind)
        digest.update(body)
        offset += 1 + length
        yield kind.decode(), body


def _check_trailer(body: bytes, actual: str, stream: IO[bytes]) -> None:
    expected = decode(body).get("sha256")
    if expected != actual:
        raise ArchiveError(
            "the backup archive is damaged: its bytes do not match its sha256 "
            f"(trailer {str(expected)[:12]}..., computed {actual[:12]}...)"
        )
    if stream.read(1):
        raise ArchiveError("the backup archive is damaged: bytes after its trailer")


def decode(body: bytes) -> dict[str, Any]:
    """A record's BSON body as a dict (ArchiveError if it is not valid BSON)."""
    try:
        value: dict[str, Any] = bson.decode(body)
    except (BSONError, ValueError, TypeError) as exc:
        raise ArchiveError(f"the backup archive is damaged: {exc}") from exc
    return value


def chunk_fields(body: bytes) -> tuple[Any, int, bytes]:
    """A chunk's ``files_id``, ``n`` and ``data``."""
    doc = decode(body)
    try:
        return doc["files_id"], int(doc["n"]), bytes(doc["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"the backup archive is damaged: a chunk without {exc}") from exc


def encode_document(doc: dict[str, Any]) -> bytes:
    """A document's BSON bytes (what the in-memory store gives instead of raw replies)."""
    return bson.encode(doc)


def file_fields(body: bytes) -> tuple[bytes, dict[str, Any], str]:
    """An F record's files document (raw and decoded) and its content's sha256."""
    record = bson.decode(body, codec_options=RAW_CODEC) if body else None
    try:
        raw: bytes = record["d"].raw  # type: ignore[index]
        sha = str(record["sha256"])  # type: ignore[index]
    except (KeyError, TypeError, AttributeError, BSONError) as exc:
        raise ArchiveError(f"the backup archive is damaged: a file record without {exc}") from exc
    return raw, decode(raw), sha


RAW_CODEC: Any = bson.CodecOptions(document_class=RawBSONDocument)
