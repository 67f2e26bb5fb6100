"""``GroupStore.watch_changes``: raw change-stream documents become plain ``Change`` events."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import groupstore
from groupstore import Change, ChangeKind, GroupStore, User, Workflow
from groupstore.storage.changes import ChangeFeed, change_from_raw
from tests.backend import IS_FERRETDB, MONGO_URI


def raw(coll: str, operation: str, key: Any = "g1", **extra: Any) -> dict[str, Any]:
    return {
        "ns": {"db": "groupstore", "coll": coll},
        "operationType": operation,
        "documentKey": {"_id": key},
        **extra,
    }


def updated(fields: dict[str, Any]) -> dict[str, Any]:
    return {"updateDescription": {"updatedFields": fields, "removedFields": []}}


@pytest.mark.parametrize(
    ("document", "change"),
    [
        pytest.param(raw("groups", "delete"), Change(ChangeKind.GROUP_DELETED, "g1"), id="delete"),
        pytest.param(
            raw("groups", "update", **updated({"name": "new", "updated_at": 1})),
            Change(ChangeKind.GROUP_UPDATED, "g1"),
            id="rename",
        ),
        pytest.param(
            raw("groups", "replace"), Change(ChangeKind.GROUP_UPDATED, "g1"), id="replace"
        ),
        pytest.param(
            raw("groups", "update", **updated({"members": [], "updated_at": 1})),
            Change(ChangeKind.GROUP_UPDATED, "g1"),
            id="members",
        ),
        pytest.param(
            raw("fs.files", "insert", key="f9", fullDocument={"metadata": {"group_id": "g1"}}),
            Change(ChangeKind.FILE_UPLOADED, "g1", "f9"),
            id="upload",
        ),
        pytest.param(
            raw(
                "fs.files",
                "delete",
                key="f9",
                fullDocumentBeforeChange={"metadata": {"group_id": "g1"}},
            ),
            Change(ChangeKind.FILE_DELETED, "g1", "f9"),
            id="file-delete-with-pre-image",
        ),
        pytest.param(
            raw("fs.files", "delete", key="f9"),
            Change(ChangeKind.FILE_DELETED, None, "f9"),
            id="file-delete-without-pre-image",
        ),
        pytest.param(raw("groups", "insert"), None, id="new-group"),
        pytest.param(
            raw("api_keys", "delete", key="hash"), Change(ChangeKind.SESSION_ENDED), id="logout"
        ),
        pytest.param(raw("api_keys", "insert", key="hash"), None, id="login"),
        pytest.param({"operationType": "invalidate"}, None, id="invalidate"),
    ],
)
def test_a_raw_change_maps_to_its_event(document: dict[str, Any], change: Change | None) -> None:
    assert change_from_raw(document) == change


def _has_change_streams() -> bool:
    return bool(MONGO_URI) and not IS_FERRETDB


def test_watch_changes_is_refused_with_a_code_where_there_are_no_change_streams(
    store: GroupStore,
) -> None:
    if _has_change_streams():
        pytest.skip("MongoDB: whether change streams exist depends on the deployment")

    with pytest.raises(groupstore.ChangeStreamsUnsupportedError) as caught:
        store.watch_changes()

    assert caught.value.code == "CHANGE_STREAMS_UNSUPPORTED"


@pytest.mark.real_server
def test_watch_changes_reports_an_upload_on_a_replica_set(
    store: GroupStore, alice: User, workflow: Workflow
) -> None:
    if not _has_change_streams():
        pytest.skip("needs MongoDB with change streams (a replica set)")
    group = store.groups.create_group(workflow.workflow_id, "g", [], {}, user_id=alice.user_id)
    seen: list[Change] = []

    with store.watch_changes() as feed:

        def read() -> None:
            for change in feed:
                seen.append(change)
                if change.kind is ChangeKind.FILE_UPLOADED:
                    return

        reader = threading.Thread(target=read)
        reader.start()
        file = store.groups.upload_file(group.group_id, b"x", "x.txt")
        reader.join(timeout=30)

    assert Change(ChangeKind.FILE_UPLOADED, group.group_id, file.file_id) in seen


class FakeStream:
    """pymongo's ChangeStream as ChangeFeed uses it: try_next, alive, close."""

    def __init__(self, *documents: dict[str, Any]) -> None:
        self.documents = list(documents)
        self.alive = True
        self.closed = False

    def try_next(self) -> dict[str, Any] | None:
        if self.documents:
            return self.documents.pop(0)
        self.alive = False  # as after an invalidate event
        return None

    def close(self) -> None:
        self.closed = True


def test_a_feed_yields_the_mapped_changes_and_ends_when_the_stream_dies() -> None:
    stream = FakeStream(
        raw("groups", "insert"),  # nobody reacts: skipped
        raw("groups", "delete"),
        raw("api_keys", "delete", key="hash"),
    )

    with ChangeFeed(stream, "fs.files") as feed:
        changes = list(feed)

    assert changes == [Change(ChangeKind.GROUP_DELETED, "g1"), Change(ChangeKind.SESSION_ENDED)]
    assert stream.closed


def test_a_closed_feed_yields_nothing_more() -> None:
    stream = FakeStream(raw("groups", "delete"), raw("groups", "delete", key="g2"))
    feed = ChangeFeed(stream, "fs.files")

    for change in feed:
        assert change.group_id == "g1"
        feed.close()

    assert stream.closed and stream.documents == [raw("groups", "delete", key="g2")]
