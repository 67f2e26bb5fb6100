"""Uploaded files: the contract's file rules plus flowserv's group file tests."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timezone

import gridfs
import pytest

from groupstore import (
    ConstraintViolationError,
    UnauthorizedAccessError,
    UnknownFileError,
    UnknownWorkflowGroupError,
)


@pytest.fixture
def group(store, workflow, alice):
    return store.groups.create_group(workflow.workflow_id, "G1", [], {}, user_id=alice.user_id)


@pytest.fixture
def other_group(store, workflow, alice):
    return store.groups.create_group(workflow.workflow_id, "G2", [], {}, user_id=alice.user_id)


def read(store, group_id, file_id) -> bytes:
    with store.groups.get_uploaded_file(group_id, file_id).open() as stream:
        return stream.read()


def gridfs_counts(store) -> tuple[int, int]:
    return store.db["fs.files"].count_documents({}), store.db["fs.chunks"].count_documents({})


class IOHandle:
    """flowserv's IOHandle shape: open() gives a fresh binary stream."""

    def __init__(self, data: bytes):
        self.data = data

    def open(self):
        return io.BytesIO(self.data)


# -- upload ------------------------------------------------------------------------


def test_upload_returns_metadata_and_content_round_trips(store, group):
    data = json.dumps({"A": 1}).encode()
    file = store.groups.upload_file(group.group_id, data, "A.json")
    assert (file.name, file.mime_type, file.size) == ("A.json", "application/json", len(data))
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert file.created_at.tzinfo == timezone.utc
    assert json.loads(read(store, group.group_id, file.file_id)) == {"A": 1}


@pytest.mark.parametrize(
    "make_source",
    [
        lambda data, tmp_path: data,
        lambda data, tmp_path: bytearray(data),
        lambda data, tmp_path: io.BytesIO(data),
        lambda data, tmp_path: IOHandle(data),
        lambda data, tmp_path: _write(tmp_path / "f.bin", data),
        lambda data, tmp_path: str(_write(tmp_path / "f.bin", data)),
    ],
    ids=["bytes", "bytearray", "file-object", "io-handle", "path", "str-path"],
)
def test_upload_accepts_every_kind_of_source(store, group, tmp_path, make_source):
    data = bytes(range(256)) * 3000  # several chunks
    file = store.groups.upload_file(group.group_id, make_source(data, tmp_path), "x.bin")
    assert read(store, group.group_id, file.file_id) == data


def _write(path, data):
    path.write_bytes(data)
    return path


def test_upload_of_empty_file_works(store, group):
    file = store.groups.upload_file(group.group_id, b"", "empty.txt")
    assert file.size == 0
    assert read(store, group.group_id, file.file_id) == b""


def test_upload_of_exact_chunk_multiple_round_trips(store, group):
    data = b"z" * (255 * 1024 * 2)
    file = store.groups.upload_file(group.group_id, data, "two-chunks.bin")
    assert read(store, group.group_id, file.file_id) == data
    assert store.db["fs.chunks"].count_documents({"files_id": file.file_id}) == 2


def test_upload_to_unknown_group_is_checked_before_the_name(store):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.upload_file("nope", b"data", " ")


@pytest.mark.parametrize(
    "name", [" ", "", "a/b.txt", "a\\b.txt", "../x.txt", "..", "a\x00b", "x" * 513, None]
)
def test_invalid_file_name_is_rejected_and_nothing_is_stored(store, group, name):
    with pytest.raises(ConstraintViolationError):
        store.groups.upload_file(group.group_id, b"data", name)
    assert store.groups.list_uploaded_files(group.group_id) == []
    assert gridfs_counts(store) == (0, 0)


def test_text_mode_file_object_is_rejected(store, group):
    with pytest.raises(ConstraintViolationError, match="binary"):
        store.groups.upload_file(group.group_id, io.StringIO("text"), "a.txt")
    assert gridfs_counts(store) == (0, 0)


def test_unreadable_source_is_rejected(store, group):
    with pytest.raises(ConstraintViolationError):
        store.groups.upload_file(group.group_id, 12345, "a.txt")


def test_missing_path_is_rejected(store, group, tmp_path):
    with pytest.raises(ConstraintViolationError, match="cannot read"):
        store.groups.upload_file(group.group_id, tmp_path / "missing.bin", "a.bin")


def test_failing_source_leaves_no_chunks(store, group):
    class Broken(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def readable(self):
            return True

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 20:
                raise OSError("disk on fire")
            return b"x" * size

    with pytest.raises(OSError, match="disk on fire"):
        store.groups.upload_file(group.group_id, Broken(), "a.bin")
    assert gridfs_counts(store) == (0, 0)
    assert store.groups.list_uploaded_files(group.group_id) == []


@pytest.mark.parametrize(
    ("name", "mime_type"),
    [
        ("a.json", "application/json"),
        ("b.txt", "text/plain"),
        ("c.csv", "text/csv"),
        ("noext", "application/octet-stream"),
        ("weird.zzzunknown", "application/octet-stream"),
    ],
)
def test_mime_type_is_guessed_from_the_name(store, group, name, mime_type):
    assert store.groups.upload_file(group.group_id, b"x", name).mime_type == mime_type


def test_duplicate_file_names_are_separate_files(store, group):
    a = store.groups.upload_file(group.group_id, b"a", "same.txt")
    b = store.groups.upload_file(group.group_id, b"b", "same.txt")
    assert a.file_id != b.file_id
    assert read(store, group.group_id, b.file_id) == b"b"


def test_gridfs_files_are_tagged_with_their_group(store, group):
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    doc = store.db["fs.files"].find_one({"_id": file.file_id})
    assert doc["metadata"]["group_id"] == group.group_id
    assert doc["filename"] == "a.txt"


def test_stock_gridfs_reads_what_groupstore_writes(store, group):
    """The bucket layout is plain GridFS; on mongomock this also exercises the client adapter."""
    data = b"0123456789" * 100_000
    file = store.groups.upload_file(group.group_id, data, "a.bin")
    bucket = gridfs.GridFSBucket(store.db)
    assert bucket.open_download_stream(file.file_id).read() == data
    out = io.BytesIO()
    bucket.download_to_stream(file.file_id, out)
    assert out.getvalue() == data


def test_stock_gridfs_bucket_upload_and_delete_work_on_the_store(store):
    bucket = gridfs.GridFSBucket(store.db, bucket_name="other")
    file_id = bucket.upload_from_stream("x.bin", io.BytesIO(b"abc"))
    assert bucket.open_download_stream(file_id).read() == b"abc"
    bucket.delete(file_id)
    assert store.db["other.files"].count_documents({}) == 0


# -- list / get -----------------------------------------------------------------------


def test_list_files_in_upload_order_per_group(store, group, other_group):
    a = store.groups.upload_file(group.group_id, b"a", "a.txt")
    b = store.groups.upload_file(group.group_id, b"b", "b.txt")
    c = store.groups.upload_file(other_group.group_id, b"c", "c.txt")
    assert store.groups.list_uploaded_files(group.group_id) == [a, b]
    assert store.groups.list_uploaded_files(other_group.group_id) == [c]
    assert store.groups.get_group(group.group_id).uploads == [a, b]


def test_list_files_of_unknown_group_is_rejected(store):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.list_uploaded_files("nope")


def test_file_handle_carries_name_type_and_size(store, group):
    file = store.groups.upload_file(group.group_id, b'{"a": 1}', "data.json")
    handle = store.groups.get_uploaded_file(group.group_id, file.file_id)
    assert (handle.name, handle.mime_type, handle.size()) == ("data.json", "application/json", 8)


def test_file_of_another_group_is_unknown(store, group, other_group):
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    with pytest.raises(UnknownFileError):
        store.groups.get_uploaded_file(other_group.group_id, file.file_id)


def test_unknown_file_id_is_unknown(store, group):
    with pytest.raises(UnknownFileError):
        store.groups.get_uploaded_file(group.group_id, "nope")


def test_get_file_of_unknown_group_is_rejected(store):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.get_uploaded_file("nope", "nope")


def test_open_streams_are_seekable_for_range_reads(store, group):
    data = bytes(range(256)) * 4000  # ~1 MiB, four chunks
    file = store.groups.upload_file(group.group_id, data, "a.bin")
    with store.groups.get_uploaded_file(group.group_id, file.file_id).open() as stream:
        stream.seek(300_000)
        assert stream.read(1000) == data[300_000:301_000]
        stream.seek(10)
        assert stream.read(5) == data[10:15]
        stream.seek(-3, io.SEEK_END)
        assert stream.read() == data[-3:]


def test_each_open_gives_an_independent_stream(store, group):
    file = store.groups.upload_file(group.group_id, b"abcdef", "a.txt")
    handle = store.groups.get_uploaded_file(group.group_id, file.file_id)
    with handle.open() as first, handle.open() as second:
        assert first.read(3) == b"abc"
        assert second.read() == b"abcdef"


# -- delete ---------------------------------------------------------------------------


def test_delete_file_removes_metadata_and_bytes(store, group, other_group):
    file = store.groups.upload_file(group.group_id, b"x" * 600_000, "a.bin")
    kept = store.groups.upload_file(other_group.group_id, b"keep", "b.txt")
    store.groups.delete_file(group.group_id, file.file_id)
    with pytest.raises(UnknownFileError):
        store.groups.get_uploaded_file(group.group_id, file.file_id)
    assert store.groups.list_uploaded_files(group.group_id) == []
    assert store.db["fs.files"].count_documents({"_id": file.file_id}) == 0
    assert store.db["fs.chunks"].count_documents({"files_id": file.file_id}) == 0
    assert read(store, other_group.group_id, kept.file_id) == b"keep"


def test_delete_file_twice_is_unknown(store, group):
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    store.groups.delete_file(group.group_id, file.file_id)
    with pytest.raises(UnknownFileError):
        store.groups.delete_file(group.group_id, file.file_id)


def test_delete_file_of_another_group_is_unknown_and_keeps_it(store, group, other_group):
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    with pytest.raises(UnknownFileError):
        store.groups.delete_file(other_group.group_id, file.file_id)
    assert read(store, group.group_id, file.file_id) == b"x"


def test_delete_file_of_unknown_group_is_rejected(store):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.delete_file("nope", "nope")


def test_delete_group_leaves_no_document_file_or_chunk(store, group, other_group):
    for i in range(3):
        store.groups.upload_file(group.group_id, b"y" * 300_000, f"{i}.bin")
    kept = store.groups.upload_file(other_group.group_id, b"keep", "k.txt")
    store.groups.delete_group(group.group_id)
    assert store.db.groups.count_documents({"_id": group.group_id}) == 0
    assert store.db["fs.files"].count_documents({"metadata.group_id": group.group_id}) == 0
    assert gridfs_counts(store) == (1, 1)
    assert read(store, other_group.group_id, kept.file_id) == b"keep"


def test_upload_to_a_group_deleted_meanwhile_leaves_nothing(store, group, monkeypatch):
    """The group vanishes while the bytes stream in: the upload fails and removes its bytes."""
    real_write = store.groups.fs.write

    def write_then_delete_group(*args, **kwargs):
        stored = real_write(*args, **kwargs)
        store.groups.delete_group(group.group_id)
        return stored

    monkeypatch.setattr(store.groups.fs, "write", write_then_delete_group)
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.upload_file(group.group_id, b"data", "a.txt")
    assert gridfs_counts(store) == (0, 0)


def test_short_reads_of_a_raw_stream_store_the_whole_file(store, group):
    """Raw streams may return fewer bytes than asked; pymongo's GridIn stops there, we do not."""

    class ShortReads(io.RawIOBase):
        def __init__(self, data: bytes):
            self.data = memoryview(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            count = min(len(buffer), 1000, len(self.data))
            buffer[:count] = self.data[:count]
            self.data = self.data[count:]
            return count

    data = bytes(range(256)) * 2000
    file = store.groups.upload_file(group.group_id, ShortReads(data), "short.bin")
    assert file.size == len(data)
    assert read(store, group.group_id, file.file_id) == data


def test_manager_accepts_a_stock_gridfs_bucket_as_fs(store, group):
    from groupstore import WorkflowGroupManager

    manager = WorkflowGroupManager(store.db, fs=gridfs.GridFSBucket(store.db, bucket_name="alt"))
    file = manager.upload_file(group.group_id, b"into alt", "a.txt")
    assert store.db["alt.files"].count_documents({"_id": file.file_id}) == 1
    with manager.get_uploaded_file(group.group_id, file.file_id).open() as stream:
        assert stream.read() == b"into alt"


def test_get_file_for_a_caller_checks_membership_before_the_file(store, group, bob):
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    owner = group.owner_id
    assert store.groups.get_uploaded_file(group.group_id, file.file_id, caller=owner).size() == 1
    with pytest.raises(UnauthorizedAccessError):
        store.groups.get_uploaded_file(group.group_id, file.file_id, caller=bob.user_id)
    with pytest.raises(UnauthorizedAccessError):  # membership comes before the file
        store.groups.get_uploaded_file(group.group_id, "nope", caller=bob.user_id)
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.get_uploaded_file("nope", file.file_id, caller=owner)
