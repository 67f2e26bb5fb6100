"""The contract's round-trip budgets, counted with pymongo's command monitoring."""

from __future__ import annotations

import pytest

import groupstore
from tests.backend import PASSWORD
from tests.support import CommandCounter, counted_store

pytestmark = pytest.mark.real_server
CHANGE_COST = 1
"""Every acknowledged write appends its change to the change log (docs/events.md): one insert."""


@pytest.fixture
def counted():
    counter = CommandCounter(on=False)
    with counted_store(counter) as store:
        yield store, counter


@pytest.fixture
def setup(counted):
    store, counter = counted
    alice = store.users.register_user("alice", PASSWORD)
    bob = store.users.register_user("bob", PASSWORD)
    workflow = store.workflows.create_workflow("wf")
    group = store.groups.create_group(
        workflow.workflow_id, "G", [], {}, user_id=alice.user_id, members=[bob.user_id]
    )
    return store, counter, alice, bob, workflow, group


def test_get_group_costs_at_most_2(setup):
    store, counter, *_, group = setup
    with counter.count() as commands:
        store.groups.get_group(group.group_id)
    assert len(commands) <= 2, commands


def test_create_group_costs_at_most_3(setup):
    store, counter, alice, bob, workflow, _ = setup
    with counter.count() as commands:
        store.groups.create_group(
            workflow.workflow_id, "new", [], {}, user_id=alice.user_id, members=[bob.user_id]
        )
    assert len(commands) <= 3 + CHANGE_COST, commands


def lease_cost(store) -> int:
    """FerretDB difference: its single-document updates are not atomic, so an update of a
    group also takes and gives back the group's lease there (storage/locks.py): two round
    trips that MongoDB does not need."""
    return 0 if store.storage.atomic_updates else 2


def test_update_group_costs_at_most_3(setup):
    store, counter, alice, _, _, group = setup
    with counter.count() as commands:
        store.groups.update_group(group.group_id, name="renamed", members=[alice.user_id])
    assert len(commands) <= 3 + lease_cost(store) + CHANGE_COST, commands


def test_update_group_by_its_owner_costs_the_same(setup):
    store, counter, alice, _, _, group = setup
    with counter.count() as commands:
        store.groups.update_group(
            group.group_id, name="renamed", members=[alice.user_id], caller=alice.user_id
        )
    assert len(commands) <= 3 + lease_cost(store) + CHANGE_COST, commands


@pytest.mark.parametrize("operation", ["add_member", "transfer_ownership"])
def test_single_member_operations_cost_one_user_read_and_one_write(setup, operation):
    store, counter, alice, bob, workflow, _ = setup
    carol = store.users.register_user("carol", PASSWORD)
    group = store.groups.create_group(
        workflow.workflow_id, "other", user_id=alice.user_id, members=[carol.user_id]
    )
    target = bob if operation == "add_member" else carol
    with counter.count() as commands:
        getattr(store.groups, operation)(group.group_id, target.user_id, caller=alice.user_id)
    assert len(commands) <= 2 + lease_cost(store) + CHANGE_COST, commands


def test_remove_member_costs_one_read_and_one_write(setup):
    store, counter, alice, bob, _, group = setup
    with counter.count() as commands:
        store.groups.remove_member(group.group_id, bob.user_id, caller=alice.user_id)
    assert len(commands) <= 2 + lease_cost(store) + CHANGE_COST, commands


def test_get_group_for_a_caller_costs_one_read(setup):
    store, counter, _, bob, _, group = setup
    with counter.count() as commands:
        store.groups.get_group(group.group_id, caller=bob.user_id)
    assert len(commands) == 1, commands


def test_upload_by_a_member_costs_the_same_as_a_trusted_upload(setup):
    store, counter, _, bob, _, group = setup
    with counter.count() as commands:
        store.groups.upload_file(group.group_id, b"small file", "a.txt", caller=bob.user_id)
    assert len(commands) <= 4 + CHANGE_COST, commands


def test_delete_file_by_a_member_costs_at_most_5(setup):
    store, counter, _, bob, _, group = setup
    file = store.groups.upload_file(group.group_id, b"x" * 600_000, "a.bin")
    with counter.count() as commands:
        store.groups.delete_file(group.group_id, file.file_id, caller=bob.user_id)
    assert len(commands) <= 5 + CHANGE_COST, commands


def test_group_uploads_are_read_once_on_first_access(setup):
    store, counter, *_, group = setup
    store.groups.upload_file(group.group_id, b"x", "a.txt")
    fresh = store.groups.get_group(group.group_id)
    with counter.count() as commands:
        assert len(fresh.uploads) == 1
        assert len(fresh.uploads) == 1
    assert commands == ["find"], commands


def test_listing_files_of_a_group_with_files_costs_one_read(setup):
    store, counter, *_, group = setup
    store.groups.upload_file(group.group_id, b"x", "a.txt")
    with counter.count() as commands:
        assert [f.name for f in store.groups.list_uploaded_files(group.group_id)] == ["a.txt"]
    assert commands == ["find"], commands


def test_listing_files_of_an_empty_group_costs_a_second_read_to_tell_it_from_unknown(setup):
    store, counter, *_, group = setup
    with counter.count() as commands:
        assert store.groups.list_uploaded_files(group.group_id) == []
    assert commands == ["find", "find"], commands
    with pytest.raises(groupstore.UnknownWorkflowGroupError):
        store.groups.list_uploaded_files("no-such-group")


def test_listing_files_as_a_member_costs_the_membership_read_and_the_listing(setup):
    store, counter, _, bob, _, group = setup
    store.groups.upload_file(group.group_id, b"x", "a.txt")
    with counter.count() as commands:
        assert len(store.groups.list_uploaded_files(group.group_id, caller=bob.user_id)) == 1
    assert commands == ["find", "find"], commands


def test_small_upload_costs_at_most_4(setup):
    store, counter, *_, group = setup
    with counter.count() as commands:
        store.groups.upload_file(group.group_id, b"small file", "a.txt")
    assert len(commands) <= 4 + CHANGE_COST, commands


@pytest.mark.parametrize("files", [1, 25])
def test_delete_group_costs_at_most_5_whatever_the_files(setup, files):
    store, counter, *_, group = setup
    for i in range(files):
        store.groups.upload_file(group.group_id, b"x" * 1000, f"{i}.bin")
    with counter.count() as commands:
        store.groups.delete_group(group.group_id)
    assert len(commands) <= 5 + CHANGE_COST, commands


def test_delete_file_costs_at_most_5(setup):
    store, counter, *_, group = setup
    file = store.groups.upload_file(group.group_id, b"x" * 600_000, "a.bin")
    with counter.count() as commands:
        store.groups.delete_file(group.group_id, file.file_id)
    assert len(commands) <= 5 + CHANGE_COST, commands


def test_list_groups_costs_at_most_2_per_batch(setup):
    store, counter, alice, _, workflow, _ = setup
    for i in range(250):  # several server batches (the first holds 101)
        store.groups.create_group(workflow.workflow_id, f"g{i}", [], {}, user_id=alice.user_id)
    with counter.count() as commands:
        groups = store.groups.list_groups(workflow_id=workflow.workflow_id, user_id=alice.user_id)
    batches = commands.count("find") + commands.count("getMore")
    assert len(groups) == 251
    assert len(commands) <= 2 * batches, commands


def test_listing_another_users_groups_costs_at_most_2_per_batch(setup):
    store, counter, alice, bob, workflow, _ = setup
    for i in range(150):  # shared with bob: several batches
        store.groups.create_group(
            workflow.workflow_id, f"s{i}", [], {}, user_id=alice.user_id, members=[bob.user_id]
        )
    store.groups.create_group(workflow.workflow_id, "private", [], {}, user_id=alice.user_id)
    with counter.count() as commands:
        groups = store.groups.list_groups(user_id=alice.user_id, caller=bob.user_id)
    assert len(groups) == 151  # and "G" of the setup; 2 batches (the first holds 101)
    assert len(commands) <= 2 * 2, commands  # the two users in one read, then the batches
    with counter.count() as commands:
        page = store.groups.list_groups_page(user_id=alice.user_id, first=50, caller=bob.user_id)
    assert len(page.items) == 50
    assert len(commands) <= 2, commands


def test_list_groups_of_a_known_but_empty_filter_costs_at_most_2(setup):
    store, counter, *_ = setup
    other = store.workflows.create_workflow("empty")
    with counter.count() as commands:
        assert store.groups.list_groups(workflow_id=other.workflow_id) == []
    assert len(commands) <= 2, commands
