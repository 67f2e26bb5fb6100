"""``GridFSStore.write_many``: several files in few inserts, listed only once their bytes are in."""

from __future__ import annotations

import io
from typing import Any

import pytest

from groupstore import GroupStore
from groupstore.storage.documents import utc_now
from groupstore.storage.files import GridFSStore, NewFile


class CountingCollection:
    """A collection that counts ``insert_many`` calls and passes everything on."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.inserts = 0

    def insert_many(self, *args: Any, **kwargs: Any) -> Any:
        self.inserts += 1
        return self.collection.insert_many(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)


class Broken(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise OSError("disk gone")


def new_file(file_id: str, data: bytes) -> NewFile:
    return NewFile(
        file_id,
        f"{file_id}.bin",
        io.BytesIO(data),
        {"group_id": "g", "contentType": "application/octet-stream"},
        utc_now(),
    )


@pytest.fixture
def fs(store: GroupStore) -> GridFSStore:
    return GridFSStore(store.db, chunk_size=4, batch_bytes=16)  # 4 chunks per batch


def test_small_files_go_in_two_inserts_and_read_back(fs: GridFSStore):
    chunks, files = CountingCollection(fs.chunks), CountingCollection(fs.files)
    fs.chunks, fs.files = chunks, files  # type: ignore[assignment]
    data = {"a": b"abc", "b": b"defg", "c": b""}

    stored = fs.write_many([new_file(file_id, body) for file_id, body in data.items()])

    assert [s.size for s in stored] == [3, 4, 0]
    assert (chunks.inserts, files.inserts) == (1, 1)
    for file_id, body in data.items():
        with fs.open(file_id) as stream:
            assert stream.read() == body
    assert [f.file_id for f in fs.list_for_group("g")] == ["a", "b", "c"]


def test_chunks_go_in_batches_that_may_span_files(fs: GridFSStore):
    chunks = CountingCollection(fs.chunks)
    fs.chunks = chunks  # type: ignore[assignment]

    fs.write_many([new_file("a", b"x" * 10), new_file("b", b"y" * 10)])  # 3 + 3 chunks

    assert chunks.inserts == 2  # 4 chunks, then the last 2
    with fs.open("b") as stream:
        assert stream.read() == b"y" * 10


def test_a_failure_leaves_no_file_and_no_chunk(fs: GridFSStore, store: GroupStore):
    files = [
        new_file("a", b"x" * 20),
        NewFile(
            "b",
            "b",
            Broken(),
            {"group_id": "g", "contentType": "application/octet-stream"},
            utc_now(),
        ),
    ]

    with pytest.raises(OSError):
        fs.write_many(files)

    assert fs.list_for_group("g") == []
    assert fs.chunks.count_documents({}) == 0
