"""Chunk ids computed from the file, and reads of chunks by ``_id`` (storage/files.py).

Every backend runs these: the store reads by ``_id`` only on FerretDB/SQLite, so
the tests that need reads by ``_id`` build a ``GridFSStore`` that is told to.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any, cast

import gridfs
import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect, OperationFailure

from groupstore import StoreUnavailableError, UnknownFileError
from groupstore.storage import files as files_module
from groupstore.storage.documents import utc_now
from groupstore.storage.files import GridFSStore, chunk_id
from tests.backend import BACKEND


class RecordingChunks:
    """A chunks collection that records each read (method and filter) and passes it on."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = chunks
        self.reads: list[tuple[str, dict[str, Any]]] = []

    def find_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.reads.append(("find_one", query))
        return self._chunks.find_one(query, *args, **kwargs)

    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.reads.append(("find", query))
        return self._chunks.find(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chunks, name)


@pytest.fixture
def group(store, workflow, alice):
    return store.groups.create_group(workflow.workflow_id, "G1", [], {}, user_id=alice.user_id)


def by_id_store(store, chunk_size: int = files_module.DEFAULT_CHUNK_SIZE) -> GridFSStore:
    fs = GridFSStore(store.db, chunk_size=chunk_size, chunk_reads="by_id")
    fs.chunks = RecordingChunks(fs.chunks)  # type: ignore[assignment]
    return fs


def reads(fs: GridFSStore) -> list[tuple[str, dict[str, Any]]]:
    return cast(RecordingChunks, fs.chunks).reads


def write(fs: GridFSStore, file_id: str, data: bytes) -> None:
    fs.write(file_id, "a.bin", io.BytesIO(data), {"group_id": "g"}, utc_now())


def test_the_store_reads_chunks_by_id_on_ferretdb_sqlite_only(store):
    expected = "by_id" if BACKEND == "ferretdb-sqlite" else "cursor"
    assert store.storage.fs.chunk_reads == expected


def test_chunk_ids_are_object_ids_stamped_with_the_upload_date(store, group):
    """Repair tells old chunks from new ones by their ObjectId's time: it must stay one."""
    data = b"x" * 600_000  # three chunks
    file = store.groups.upload_file(group.group_id, data, "a.bin")
    doc = store.db["fs.files"].find_one({"_id": file.file_id})
    chunks = list(store.db["fs.chunks"].find({"files_id": file.file_id}).sort("n", 1))
    assert [chunk["n"] for chunk in chunks] == [0, 1, 2]
    for chunk in chunks:
        assert chunk["_id"] == chunk_id(file.file_id, chunk["n"], doc["uploadDate"])
        assert isinstance(chunk["_id"], ObjectId)
        stamp = chunk["_id"].generation_time
        assert timedelta(0) <= file.created_at - stamp < timedelta(seconds=1)
    assert len({chunk["_id"] for chunk in chunks}) == 3


def test_chunk_ids_differ_by_file_and_by_chunk():
    date = utc_now()
    ids = {chunk_id(file_id, n, date) for file_id in ("a", "b", "a/1") for n in (0, 1, 10)}
    assert len(ids) == 9


def test_a_file_reads_by_id_one_chunk_after_the_other_without_a_cursor(store):
    fs = by_id_store(store, chunk_size=1000)
    data = bytes(range(256)) * 20  # 5,120 bytes: six chunks
    write(fs, "f1", data)
    with fs.open("f1") as stream:
        assert stream.read() == data
    assert [method for method, _ in reads(fs)] == ["find_one"] * 6
    assert all(list(query) == ["_id"] for _, query in reads(fs))


def test_reads_by_id_seek_like_the_cursor(store):
    fs = by_id_store(store, chunk_size=1000)
    data = bytes(range(256)) * 20
    write(fs, "f1", data)
    with fs.open("f1") as stream:
        stream.seek(2500)
        assert stream.read(1000) == data[2500:3500]
        stream.seek(10)
        assert stream.read(5) == data[10:15]
        stream.seek(-3, io.SEEK_END)
        assert stream.read() == data[-3:]
    assert {method for method, _ in reads(fs)} == {"find_one"}


def test_after_its_limit_of_reads_by_id_a_reader_turns_to_the_cursor(store):
    fs = by_id_store(store, chunk_size=1000)
    data = bytes(range(256)) * 20
    write(fs, "f1", data)
    with fs.open("f1") as stream:
        stream.raw.by_id_limit = 2  # type: ignore[attr-defined]
        assert stream.read() == data
        stream.seek(1500)  # a seek restarts the cursor
        assert stream.read(10) == data[1500:1510]
    methods = [method for method, _ in reads(fs)]
    assert methods == ["find_one", "find_one", "find", "find"]
    assert reads(fs)[2][1] == {"files_id": "f1", "n": {"$gte": 2}}
    assert reads(fs)[3][1] == {"files_id": "f1", "n": {"$gte": 1}}


def test_a_file_written_by_stock_gridfs_reads_through_the_cursor(store):
    """Its chunks have ObjectIds of their own: the read by _id misses, the cursor reads it."""
    data = bytes(range(256)) * 3000  # 768,000 bytes: four chunks of 255 KiB
    bucket = gridfs.GridFSBucket(store.db)  # the same bucket, fs
    bucket.upload_from_stream_with_id("stock", "s.bin", io.BytesIO(data))
    fs = by_id_store(store)
    with fs.open("stock") as stream:
        assert stream.read() == data
        stream.seek(300_000)
        assert stream.read(1000) == data[300_000:301_000]
    assert [method for method, _ in reads(fs)][:2] == ["find_one", "find"]
    assert "find_one" not in [method for method, _ in reads(fs)][1:]


def test_a_file_written_by_stock_gridfs_reads_through_the_store_as_built(store):
    data = b"written by pymongo" * 1000
    gridfs.GridFSBucket(store.db).upload_from_stream_with_id("stock", "s.bin", io.BytesIO(data))
    with store.storage.fs.open("stock") as stream:
        assert stream.read() == data


def test_chunks_written_after_the_stamp_window_get_plain_ids_and_still_read(store, monkeypatch):
    """A slow upload: its late chunks carry the time they were written, for repair."""
    monkeypatch.setattr(files_module, "STAMP_WINDOW_SECONDS", -1.0)
    fs = by_id_store(store, chunk_size=1000)
    data = bytes(range(256)) * 10
    write(fs, "slow", data)
    date = store.db["fs.files"].find_one({"_id": "slow"})["uploadDate"]
    ids = [doc["_id"] for doc in store.db["fs.chunks"].find({"files_id": "slow"})]
    assert len(ids) == 3 and all(isinstance(_id, ObjectId) for _id in ids)
    assert not {chunk_id("slow", n, date) for n in range(3)} & set(ids)
    with fs.open("slow") as stream:
        assert stream.read() == data


def test_chunks_gone_while_read_by_id_make_the_file_unknown(store):
    fs = by_id_store(store, chunk_size=1000)
    write(fs, "f1", b"y" * 3000)
    with fs.open("f1") as stream:
        assert stream.read(10) == b"y" * 10
        store.db["fs.chunks"].delete_many({"files_id": "f1"})
        stream.seek(2500)
        with pytest.raises(UnknownFileError):
            stream.read()


def test_a_chunk_of_another_file_under_the_computed_id_is_not_taken(store):
    """Reads by _id check files_id and n: a chunk that is not the one asked for is a miss."""
    fs = by_id_store(store, chunk_size=1000)
    write(fs, "f1", b"a" * 500)
    date = store.db["fs.files"].find_one({"_id": "f1"})["uploadDate"]
    store.db["fs.chunks"].delete_many({"files_id": "f1"})
    store.db["fs.chunks"].insert_many(
        [
            {"_id": chunk_id("f1", 0, date), "files_id": "other", "n": 0, "data": b"b" * 500},
            {"_id": ObjectId(), "files_id": "f1", "n": 0, "data": b"c" * 500},
        ]
    )
    with fs.open("f1") as stream:
        assert stream.read() == b"c" * 500


class _Explaining:
    """A chunks collection whose database answers explain with ``answer`` (or raises it)."""

    name = "fs.chunks"

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.commands: list[Any] = []
        self.database = self

    def command(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.commands.append(args)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("kind", "answer", "expected"),
    [
        ("ferretdb", {"filterPushdown": False, "ok": 1.0}, "by_id"),  # SQLite
        ("ferretdb", {"filterPushdown": True, "ok": 1.0}, "cursor"),  # PostgreSQL
        ("ferretdb", OperationFailure("no such command: explain", code=59), "cursor"),
    ],
)
def test_chunk_reads_follow_what_the_server_pushes_down(kind, answer, expected):
    chunks = _Explaining(answer)
    assert files_module.chunk_reads_for(chunks, kind) == expected  # type: ignore[arg-type]
    assert len(chunks.commands) == 1


@pytest.mark.parametrize("kind", ["mongodb", "memory"])
def test_mongodb_and_memory_keep_the_index_cursor_without_asking(kind):
    chunks = _Explaining({"filterPushdown": False})
    assert files_module.chunk_reads_for(chunks, kind) == "cursor"  # type: ignore[arg-type]
    assert chunks.commands == []


def test_a_server_gone_at_the_question_is_unavailable():
    chunks = _Explaining(AutoReconnect("connection refused"))
    with pytest.raises(StoreUnavailableError):
        files_module.chunk_reads_for(chunks, "ferretdb")  # type: ignore[arg-type]
