"""A small download costs two round trips, and on FerretDB/SQLite both are filters on ``_id``.

FerretDB/SQLite evaluates a filter in SQLite only when it is ``_id`` alone; any other
filter makes FerretDB decode the whole collection (storage/files.py, docs/ferretdb.md).
"""

from __future__ import annotations

import io

import gridfs
import pytest

from tests.backend import BACKEND, PASSWORD
from tests.support import CommandCounter, counted_store

pytestmark = pytest.mark.real_server


@pytest.fixture
def counted():
    commands = CommandCounter(on=False)
    with counted_store(commands) as store:
        alice = store.users.register_user("alice", PASSWORD)
        workflow = store.workflows.create_workflow("wf")
        group = store.groups.create_group(workflow.workflow_id, "G", user_id=alice.user_id)
        yield store, commands, group


def download(store, group_id: str, file_id: str) -> bytes:
    with store.groups.get_uploaded_file(group_id, file_id).open() as stream:
        return stream.read()


def test_a_small_download_costs_2_round_trips(counted) -> None:
    store, commands, group = counted
    file = store.groups.upload_file(group.group_id, b"x" * 4096, "a.bin")
    commands.on = True
    assert download(store, group.group_id, file.file_id) == b"x" * 4096
    assert [name for name, *_ in commands.seen] == ["find", "find"], commands.seen
    (_, files, files_filter), (_, chunks, chunks_filter) = commands.seen
    assert (files, chunks) == ("fs.files", "fs.chunks")
    assert list(files_filter) == ["_id"]
    expected = ["_id"] if BACKEND == "ferretdb-sqlite" else ["files_id", "n"]
    assert list(chunks_filter) == expected


def test_a_small_stock_gridfs_file_costs_at_most_one_more(counted) -> None:
    """Read by _id, a file whose chunks another writer made misses once; the cursor reads it."""
    store, commands, _ = counted
    gridfs.GridFSBucket(store.db).upload_from_stream_with_id("s", "s.bin", io.BytesIO(b"abc"))
    commands.on = True
    with store.storage.fs.open("s") as stream:
        assert stream.read() == b"abc"
    assert len(commands.seen) <= 3, commands.seen
