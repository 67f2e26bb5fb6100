"""A small download costs two round trips, and on FerretDB/SQLite both are filters on ``_id``.

FerretDB/SQLite evaluates a filter in SQLite only when it is ``_id`` alone; any other
filter makes FerretDB decode the whole collection (storage/files.py, docs/ferretdb.md).
"""

from __future__ import annotations

import io
from typing import Any

import gridfs
import pytest
from pymongo import monitoring

import groupstore
from tests.backend import BACKEND, CHEAP_HASHER, MONGO_URI, PASSWORD, new_store_uri

pytestmark = pytest.mark.real_server


class Commands(monitoring.CommandListener):
    """The (command, collection, filter) of each command while ``on``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, dict[str, Any]]] = []
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on:
            command = event.command
            self.seen.append(
                (event.command_name, command.get(event.command_name), command.get("filter", {}))
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def counted():
    commands = Commands()
    _, database = new_store_uri()
    store = groupstore.connect(
        MONGO_URI, database=database, client_options={"event_listeners": [commands]}
    )
    store.users.hasher = CHEAP_HASHER
    try:
        alice = store.users.register_user("alice", PASSWORD)
        workflow = store.workflows.create_workflow("wf")
        group = store.groups.create_group(workflow.workflow_id, "G", user_id=alice.user_id)
        yield store, commands, group
    finally:
        store.client.drop_database(database)
        store.close()


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
