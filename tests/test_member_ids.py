"""Every write keeps a group's ``member_ids`` equal to the ids of its ``members``.

``member_ids`` is what the store queries (a member's groups, the access rule
in update filters); a write that changed one list and not the other would
hide a group from its member or keep a removed member in. Databases written
before the field existed get it at connect (``storage.schema``).
"""

from __future__ import annotations

import pytest

from groupstore.storage.client import ensure_indexes
from groupstore.storage.schema import (
    FILES_GROUP_ID_STEP,
    MEMBER_IDS_STEP,
    META_COLLECTION,
    STEPS,
    upgrade,
)
from tests.backend import MONGO_URI


def stored_lists(store, group_id):
    doc = store.db.groups.find_one({"_id": group_id})
    return [entry["user_id"] for entry in doc["members"]], doc["member_ids"]


@pytest.fixture
def group(store, workflow, alice, bob):
    return store.groups.create_group(
        workflow.workflow_id, "G", [], {}, user_id=alice.user_id, members=[bob.user_id]
    )


def test_create_writes_both_lists(store, group, alice, bob):
    assert stored_lists(store, group.group_id) == ([alice.user_id, bob.user_id],) * 2


@pytest.mark.parametrize(
    "change",
    [
        lambda s, g, a, b, c: s.groups.update_group(g, members=[a.user_id, c.user_id]),
        lambda s, g, a, b, c: s.groups.add_member(g, c.user_id, caller=a.user_id),
        lambda s, g, a, b, c: s.groups.add_member(g, b.user_id, caller=a.user_id),  # again
        lambda s, g, a, b, c: s.groups.remove_member(g, b.user_id, caller=a.user_id),
        lambda s, g, a, b, c: s.groups.leave_group(g, b.user_id),
        lambda s, g, a, b, c: s.groups.transfer_ownership(g, b.user_id, caller=a.user_id),
    ],
    ids=["replace", "add", "add-again", "remove", "leave", "transfer"],
)
def test_every_membership_change_keeps_both_lists_equal(store, group, alice, bob, carol, change):
    result = change(store, group.group_id, alice, bob, carol)
    members, member_ids = stored_lists(store, group.group_id)
    assert members == member_ids
    if result is not None:
        assert result.member_ids == member_ids
    for user in (alice, bob, carol):
        listed = [g.group_id for g in store.groups.list_groups(user_id=user.user_id)]
        assert listed == ([group.group_id] if user.user_id in member_ids else [])


def test_adding_a_member_again_changes_nothing(store, group, alice, bob):
    before = store.db.groups.find_one({"_id": group.group_id})
    store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)
    assert store.db.groups.find_one({"_id": group.group_id}) == before


def forget_member_ids(store, group_id):
    """A group as an earlier 0.2.0 build wrote it, on a database never upgraded."""
    store.db.groups.update_one({"_id": group_id}, {"$unset": {"member_ids": ""}})
    store.db[META_COLLECTION].delete_many({})


def test_upgrade_gives_older_groups_their_member_ids_once(store, group, alice, bob):
    forget_member_ids(store, group.group_id)
    assert store.groups.list_groups(user_id=bob.user_id) == []

    assert upgrade(store.storage) == 1

    assert stored_lists(store, group.group_id) == ([alice.user_id, bob.user_id],) * 2
    assert [g.group_id for g in store.groups.list_groups(user_id=bob.user_id)] == [group.group_id]
    assert store.db[META_COLLECTION].find_one({"_id": MEMBER_IDS_STEP}) is not None
    forget_member_ids(store, group.group_id)
    store.db[META_COLLECTION].insert_many([{"_id": step} for step in STEPS])
    assert upgrade(store.storage) == 0  # the markers say done: not looked at again


@pytest.mark.skipif(not MONGO_URI, reason="needs a real server: a second connect to one database")
def test_connect_upgrades_a_database_written_before_member_ids(store, store_factory, group, bob):
    forget_member_ids(store, group.group_id)

    again = store_factory(database=store.database_name)

    listed = again.groups.list_groups(user_id=bob.user_id)
    assert [g.group_id for g in listed] == [group.group_id]


def test_connect_drops_the_indexes_member_ids_and_group_id_replaced(store):
    store.db.groups.create_index([("members.user_id", 1), ("seq", 1)], name="group_by_member")
    files = store.db["fs.files"]
    files.create_index([("metadata.group_id", 1), ("metadata.seq", 1)], name="files_by_group")

    ensure_indexes(store.db, bucket_name="fs")  # what connect runs

    names = {index["name"] for index in store.db.groups.list_indexes()}
    assert "group_by_member_id" in names and "group_by_member" not in names
    names = {index["name"] for index in files.list_indexes()}
    assert "files_by_group_id" in names and "files_by_group" not in names


def test_a_file_document_carries_its_group_id_at_the_top_level_too(store, group):
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    doc = store.db["fs.files"].find_one({"_id": file.file_id})
    assert doc["group_id"] == doc["metadata"]["group_id"] == group.group_id


def test_upgrade_lists_again_the_files_of_an_earlier_build(store, group):
    files = [store.groups.upload_file(group.group_id, b"x", f"{i}.txt") for i in range(3)]
    store.db["fs.files"].update_many({}, {"$unset": {"group_id": ""}})
    store.db[META_COLLECTION].delete_many({})
    assert store.groups.list_uploaded_files(group.group_id) == []

    assert upgrade(store.storage) == 3

    listed = store.groups.list_uploaded_files(group.group_id)
    assert [f.file_id for f in listed] == [f.file_id for f in files]
    assert store.db[META_COLLECTION].find_one({"_id": FILES_GROUP_ID_STEP}) is not None
