"""No acknowledged write is lost under concurrency, on every backend.

FerretDB 1.x applies a single-document update as read, modify, write back
(16 threads x 25 ``$push`` to one document kept 34-59 of 400 items), and so
did mongomock (it reads and writes back under separate lock acquisitions).
groupstore writes file metadata as documents of their own (inserted and
deleted, never a read-modify-write of a shared list), makes the in-memory
backend's writes atomic, and updates a group document on FerretDB only while
holding the group's lease. These tests log every acknowledged write on the
client side and check the store against that log afterwards.
"""

from __future__ import annotations

import hashlib
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import groupstore

ROUNDS = 8
UPLOADERS = 16
DELETERS = 8


def _race(actions):
    """Run the callables from as many threads, released at the same moment."""
    barrier = threading.Barrier(len(actions))

    def run(action):
        barrier.wait()
        try:
            return action()
        except groupstore.GroupStoreError as exc:
            return exc

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


@pytest.fixture
def team(store, workflow):
    users = [store.users.register_user(f"user{i}", "a long password") for i in range(6)]
    owner, *others = users
    group = store.groups.create_group(
        workflow.workflow_id, "team", user_id=owner.user_id, members=[u.user_id for u in others]
    )
    return store, group, owner, others


def test_uploads_deletes_and_member_changes_at_once_lose_nothing(team):
    store, group, owner, others = team
    expected: dict[str, bytes] = {}  # the client's log: every acknowledged file
    rng = random.Random(7)
    for round_ in range(ROUNDS):
        doomed = [
            store.groups.upload_file(group.group_id, f"old {round_}.{i}".encode(), "old.txt")
            for i in range(DELETERS)
        ]
        expected.update({f.file_id: f"old {round_}.{i}".encode() for i, f in enumerate(doomed)})
        members = [owner.user_id, *rng.sample([u.user_id for u in others], 3)]

        def upload(i, round_=round_):
            data = f"new {round_}.{i}".encode()
            return store.groups.upload_file(group.group_id, data, f"n{i}.txt"), data

        actions = [lambda i=i: upload(i) for i in range(UPLOADERS)]
        actions += [
            lambda f=f: store.groups.delete_file(group.group_id, f.file_id) or f.file_id
            for f in doomed
        ]
        actions.append(
            lambda members=members: store.groups.update_group(group.group_id, members=members)
        )
        results = _race(actions)

        assert not [r for r in results if isinstance(r, Exception)], results
        for uploaded, data in results[:UPLOADERS]:
            expected[uploaded.file_id] = data
        for file_id in results[UPLOADERS : UPLOADERS + DELETERS]:
            del expected[file_id]
        stored = store.groups.get_group(group.group_id)
        assert stored.member_ids == members
        listed = store.groups.list_uploaded_files(group.group_id)
        assert {f.file_id for f in listed} == set(expected), f"round {round_}"
    for file in store.groups.list_uploaded_files(group.group_id):
        with store.groups.get_uploaded_file(group.group_id, file.file_id).open() as stream:
            data = stream.read()
        assert data == expected[file.file_id]
        assert hashlib.sha256(data).hexdigest() == file.sha256


def test_sixteen_members_added_at_once_are_all_kept(store, workflow):
    owner = store.users.register_user("owner", "a long password")
    users = [store.users.register_user(f"user{i}", "a long password") for i in range(16)]
    group = store.groups.create_group(workflow.workflow_id, "team", user_id=owner.user_id)
    results = _race(
        [
            lambda u=u: store.groups.add_member(group.group_id, u.user_id, caller=owner.user_id)
            for u in users
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    stored = store.groups.get_group(group.group_id)
    assert set(stored.member_ids) == {owner.user_id, *(u.user_id for u in users)}


def test_members_leaving_at_once_while_others_join_lose_nothing(store, workflow):
    owner = store.users.register_user("owner", "a long password")
    leaving = [store.users.register_user(f"old{i}", "a long password") for i in range(8)]
    joining = [store.users.register_user(f"new{i}", "a long password") for i in range(8)]
    group = store.groups.create_group(
        workflow.workflow_id, "team", user_id=owner.user_id, members=[u.user_id for u in leaving]
    )
    results = _race(
        [lambda u=u: store.groups.leave_group(group.group_id, u.user_id) for u in leaving]
        + [
            lambda u=u: store.groups.add_member(group.group_id, u.user_id, caller=owner.user_id)
            for u in joining
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    stored = store.groups.get_group(group.group_id)
    assert set(stored.member_ids) == {owner.user_id, *(u.user_id for u in joining)}


def test_in_memory_backend_applies_concurrent_pushes_atomically():
    # The reproduction with the driver alone: plain mongomock keeps fewer than 400.
    with groupstore.connect("mongomock://") as store:
        collection = store.db.push_race
        collection.insert_one({"_id": 1, "items": []})
        _race(
            [
                lambda t=t: [
                    collection.update_one({"_id": 1}, {"$push": {"items": f"{t}.{i}"}})
                    for i in range(25)
                ]
                for t in range(16)
            ]
        )
        document = collection.find_one({"_id": 1})
        assert document is not None and len(document["items"]) == 400
