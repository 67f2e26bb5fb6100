"""The library's changes: one ``Change`` per acknowledged write, through the store's publisher,
into the change log every process reads (``GroupStore.read_changes``), or a change stream."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import groupstore
from groupstore import Change, ChangeKind, Group, GroupStore, User, Workflow
from groupstore.storage.changes import (
    ChangeFeed,
    ChangeLog,
    change_document,
    change_from_raw,
)
from tests.backend import IS_FERRETDB, MONGO_URI, PASSWORD


class Recorder:
    """A publisher that keeps what it is given."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def publish(self, change: Change) -> None:
        self.changes.append(change)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def recorded(store_factory: Callable[..., GroupStore], recorder: Recorder) -> GroupStore:
    return store_factory(publisher=recorder, sender=groupstore.RecordingSender())


@pytest.fixture
def team(recorded: GroupStore) -> tuple[Group, User, User]:
    alice = recorded.users.register_user("alice", PASSWORD)
    bob = recorded.users.register_user("bob", PASSWORD)
    workflow = recorded.workflows.create_workflow("w")
    group = recorded.groups.create_group(
        workflow.workflow_id, "team", user_id=alice.user_id, members=[bob.user_id]
    )
    return group, alice, bob


Write = Callable[[GroupStore, Group, User, User], object]


def _reset(store: GroupStore, group: Group, alice: User, bob: User) -> object:
    store.users.request_password_reset("bob")
    sender = store.users.sender
    assert isinstance(sender, groupstore.RecordingSender)
    return store.users.reset_password(sender.last("reset_password"), "another-password")


WRITES: dict[str, tuple[Write, Change]] = {
    "rename": (
        lambda s, g, a, b: s.groups.update_group(g.group_id, name="new", caller=a.user_id),
        Change(ChangeKind.GROUP_UPDATED, "G", by="A"),
    ),
    "remove-member": (
        lambda s, g, a, b: s.groups.remove_member(g.group_id, b.user_id, caller=a.user_id),
        Change(ChangeKind.GROUP_UPDATED, "G", user_id="B", by="A"),
    ),
    "leave": (
        lambda s, g, a, b: s.groups.leave_group(g.group_id, b.user_id),
        Change(ChangeKind.GROUP_UPDATED, "G", user_id="B", by="B"),
    ),
    "transfer": (
        lambda s, g, a, b: s.groups.transfer_ownership(g.group_id, b.user_id, caller=a.user_id),
        Change(ChangeKind.GROUP_UPDATED, "G", user_id="B", by="A"),
    ),
    "upload": (
        lambda s, g, a, b: s.groups.upload_file(g.group_id, b"x", "x.txt", caller=b.user_id),
        Change(ChangeKind.FILE_UPLOADED, "G", "F", by="B"),
    ),
    "delete-group": (
        lambda s, g, a, b: s.groups.delete_group(g.group_id, caller=a.user_id),
        Change(ChangeKind.GROUP_DELETED, "G", by="A"),
    ),
    "delete-workflow": (
        lambda s, g, a, b: s.workflows.delete_workflow(g.workflow_id),
        Change(ChangeKind.WORKFLOW_DELETED, workflow_id="W"),
    ),
    "logout": (
        lambda s, g, a, b: s.users.logout_user(s.users.login_user("bob", PASSWORD)),
        Change(ChangeKind.SESSION_ENDED, user_id="B", by="B"),
    ),
    "change-password": (
        lambda s, g, a, b: s.users.change_password(b.user_id, PASSWORD, "another-password"),
        Change(ChangeKind.SESSION_ENDED, user_id="B", by="B"),
    ),
    "reset-password": (_reset, Change(ChangeKind.SESSION_ENDED, user_id="B", by="B")),
    "deactivate": (
        lambda s, g, a, b: s.users.deactivate_user(b.user_id),
        Change(ChangeKind.SESSION_ENDED, user_id="B"),
    ),
}


def _named(change: Change, group: Group, alice: User, bob: User, file_id: str | None) -> Change:
    names = {"G": group.group_id, "A": alice.user_id, "B": bob.user_id, "W": group.workflow_id}
    names["F"] = file_id or "F"
    return Change(
        change.kind,
        names.get(change.group_id or "", change.group_id),
        names.get(change.file_id or "", change.file_id),
        user_id=names.get(change.user_id or "", change.user_id),
        by=names.get(change.by or "", change.by),
        workflow_id=names.get(change.workflow_id or "", change.workflow_id),
    )


@pytest.mark.parametrize("name", list(WRITES))
def test_each_acknowledged_write_emits_its_change(
    recorded: GroupStore, recorder: Recorder, team: tuple[Group, User, User], name: str
) -> None:
    group, alice, bob = team
    write, expected = WRITES[name]
    recorder.changes.clear()

    result = write(recorded, group, alice, bob)

    file_id = getattr(result, "file_id", None)
    assert recorder.changes == [_named(expected, group, alice, bob, file_id)]


def test_creating_and_membership_writes_emit_their_changes(
    recorded: GroupStore, recorder: Recorder
) -> None:
    alice = recorded.users.register_user("alice", PASSWORD)
    bob = recorded.users.register_user("bob", PASSWORD)
    workflow = recorded.workflows.create_workflow("w", caller=None)
    group = recorded.groups.create_group(workflow.workflow_id, "t", caller=alice.user_id)
    recorded.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)
    recorded.groups.update_group(group.group_id, members=[alice.user_id], caller=alice.user_id)
    file = recorded.groups.upload_file(group.group_id, b"x", "x.txt")
    recorded.groups.delete_file(group.group_id, file.file_id, caller=alice.user_id)

    assert [(c.kind, c.group_id, c.file_id, c.by) for c in recorder.changes] == [
        (ChangeKind.WORKFLOW_CREATED, None, None, None),
        (ChangeKind.GROUP_CREATED, group.group_id, None, alice.user_id),
        (ChangeKind.GROUP_UPDATED, group.group_id, None, alice.user_id),
        (ChangeKind.GROUP_UPDATED, group.group_id, None, alice.user_id),
        (ChangeKind.FILE_UPLOADED, group.group_id, file.file_id, None),
        (ChangeKind.FILE_DELETED, group.group_id, file.file_id, alice.user_id),
    ]
    assert recorder.changes[0].workflow_id == workflow.workflow_id
    assert recorder.changes[2].user_id == bob.user_id


REFUSED: dict[str, Write] = {
    "rename-by-a-member": lambda s, g, a, b: s.groups.update_group(
        g.group_id, name="x", caller=b.user_id
    ),
    "add-a-member-again": lambda s, g, a, b: s.groups.add_member(
        g.group_id, b.user_id, caller=a.user_id
    ),
    "the-owner-leaves": lambda s, g, a, b: s.groups.leave_group(g.group_id, a.user_id),
    "upload-by-an-outsider": lambda s, g, a, b: s.groups.upload_file(
        g.group_id, b"x", "x.txt", caller="nobody"
    ),
    "delete-an-unknown-file": lambda s, g, a, b: s.groups.delete_file(g.group_id, "nope"),
    "delete-by-a-member": lambda s, g, a, b: s.groups.delete_group(g.group_id, caller=b.user_id),
    "wrong-old-password": lambda s, g, a, b: s.users.change_password(
        b.user_id, "wrong-password", "another-password"
    ),
    "logout-of-an-unknown-key": lambda s, g, a, b: s.users.logout_user("no-such-key"),
    "rename-to-nothing": lambda s, g, a, b: s.groups.update_group(g.group_id),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_refused_or_empty_write_emits_nothing(
    recorded: GroupStore, recorder: Recorder, team: tuple[Group, User, User], name: str
) -> None:
    group, alice, bob = team
    recorder.changes.clear()

    with contextlib.suppress(groupstore.GroupStoreError):
        REFUSED[name](recorded, group, alice, bob)

    assert recorder.changes == []


# -- the change log: the collection every process reads ------------------------------------


def test_the_change_log_round_trip_in_order_with_positions(
    store: GroupStore, alice: User, workflow: Workflow
) -> None:
    cursor = store.read_changes()  # from now on
    group = store.groups.create_group(workflow.workflow_id, "g", user_id=alice.user_id)
    file = store.groups.upload_file(group.group_id, b"x", "x.txt")
    store.groups.delete_group(group.group_id)

    changes = cursor.poll()

    assert [(c.kind, c.group_id, c.file_id) for c in changes] == [
        (ChangeKind.GROUP_CREATED, group.group_id, None),
        (ChangeKind.FILE_UPLOADED, group.group_id, file.file_id),
        (ChangeKind.GROUP_DELETED, group.group_id, None),
    ]
    positions = [c.position for c in changes]
    assert positions == list(range(positions[0] or 0, (positions[0] or 0) + 3))
    assert cursor.poll() == []  # each change once
    assert (
        store.changes_between(positions[0] or 0, positions[2] or 0, group.group_id) == (changes[1:])
    )
    assert store.settled_position() == positions[2]


def test_writers_in_several_processes_share_one_unbroken_sequence(store: GroupStore) -> None:
    # Three ChangeLog objects on one database, as three processes would have: each
    # learns the others' positions only by losing a race for one (a duplicate _id).
    logs = [ChangeLog(store.db) for _ in range(3)]
    per_writer = 15

    def write(log: ChangeLog, n: int) -> None:
        for i in range(per_writer):
            log.append(Change(ChangeKind.GROUP_UPDATED, f"g{n}-{i}"))

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    changes = store.read_changes(0).poll()
    assert [c.position for c in changes] == list(range(1, 3 * per_writer + 1))
    assert len({c.group_id for c in changes}) == 3 * per_writer  # none lost, none twice


def test_a_cursor_waits_for_a_hole_then_skips_it(store: GroupStore) -> None:
    log = store.storage.changes
    for position in (1, 3):  # 2 is not (yet) there
        log.collection.insert_one(change_document(Change(ChangeKind.GROUP_UPDATED, "g"), position))
    cursor = log.cursor(0, gap_wait=0.2)

    first = cursor.poll()
    log.collection.insert_one(change_document(Change(ChangeKind.GROUP_DELETED, "g"), 2))
    filled = cursor.poll()

    assert [c.position for c in first] == [1]
    assert [c.position for c in filled] == [2, 3]
    log.collection.insert_one(change_document(Change(ChangeKind.GROUP_UPDATED, "g"), 5))
    assert cursor.poll() == []  # 4 missing: wait for it ...
    time.sleep(0.25)
    assert [c.position for c in cursor.poll()] == [5]  # ... then skip it


def test_entries_older_than_the_retention_are_pruned_by_writers(store: GroupStore) -> None:
    log = ChangeLog(store.db, retention=timedelta(milliseconds=50), prune_every=2)
    for n in range(4):
        log.append(Change(ChangeKind.GROUP_UPDATED, f"g{n}"))  # prunes at 2 and 4
        time.sleep(0.06)

    left = [c.position for c in log.read(0)]

    assert left == [3, 4]  # 1 and 2 were appended more than 50 ms before the 4th append


def test_the_log_keeps_at_most_max_entries_but_never_what_a_writer_may_still_trust(
    store: GroupStore,
) -> None:
    log = ChangeLog(store.db, prune_every=4, max_entries=3)
    log.fresh = 0.0  # a position is trusted for no time at all (a minute by default)
    for n in range(8):
        log.append(Change(ChangeKind.GROUP_UPDATED, f"g{n}"))  # prunes at 4 and 8

    left = [c.position for c in log.read(0)]

    # At 8, the count allows deleting up to 5, but 5 came after the last check (4):
    # only what was there at a check older than ``fresh`` may go.
    assert left == [5, 6, 7, 8]


def test_a_writer_that_slept_through_a_prune_asks_for_the_newest_position(
    store: GroupStore,
) -> None:
    sleeper = ChangeLog(store.db, retention=timedelta(milliseconds=50))
    sleeper.append(Change(ChangeKind.GROUP_UPDATED, "a"))  # position 1
    other = ChangeLog(store.db)
    for n in range(3):
        other.append(Change(ChangeKind.GROUP_UPDATED, f"b{n}"))
    other.collection.delete_many({"_id": {"$lte": 3}})  # pruned, say
    time.sleep(0.03)  # longer than half the sleeper's retention

    appended = sleeper.append(Change(ChangeKind.GROUP_UPDATED, "c"))

    assert appended.position == 5  # not 2, which a reader at 4 would never see


# -- change streams (a MongoDB replica set) ------------------------------------------------


def raw(operation: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "ns": {"db": "groupstore", "coll": "changes"},
        "operationType": operation,
        "documentKey": {"_id": (document or {}).get("_id", 1)},
        "fullDocument": document,
    }


def test_a_change_stream_insert_on_the_log_is_its_change() -> None:
    entry = change_document(Change(ChangeKind.FILE_UPLOADED, "g1", "f9", by="u"), 7)

    assert change_from_raw(raw("insert", entry)) == Change(
        ChangeKind.FILE_UPLOADED, "g1", "f9", by="u", position=7
    )
    assert change_from_raw(raw("delete")) is None  # a prune
    assert change_from_raw({"operationType": "invalidate"}) is None
    assert change_from_raw(raw("insert", {**entry, "kind": "FROM_THE_FUTURE"})) is None


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

    assert [(c.kind, c.file_id) for c in seen][-1] == (ChangeKind.FILE_UPLOADED, file.file_id)


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


def test_a_feed_yields_the_logged_changes_and_ends_when_the_stream_dies() -> None:
    deleted = change_document(Change(ChangeKind.GROUP_DELETED, "g1"), 1)
    ended = change_document(Change(ChangeKind.SESSION_ENDED, user_id="u"), 2)
    stream = FakeStream(raw("delete"), raw("insert", deleted), raw("insert", ended))

    with ChangeFeed(stream) as feed:
        changes = list(feed)

    assert changes == [
        Change(ChangeKind.GROUP_DELETED, "g1", position=1),
        Change(ChangeKind.SESSION_ENDED, user_id="u", position=2),
    ]
    assert stream.closed


def test_a_closed_feed_yields_nothing_more() -> None:
    first = raw("insert", change_document(Change(ChangeKind.GROUP_DELETED, "g1"), 1))
    second = raw("insert", change_document(Change(ChangeKind.GROUP_DELETED, "g2"), 2))
    stream = FakeStream(first, second)
    feed = ChangeFeed(stream)

    for change in feed:
        assert change.group_id == "g1"
        feed.close()

    assert stream.closed and stream.documents == [second]
