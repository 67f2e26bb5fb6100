"""A conditional write that matched nothing proves nothing by itself (issue 18, the SIGKILL flake).

``add_member`` writes with the filter "the user is not yet a member"; when
that matched nothing it used to answer "already a member" after a read that
only checked the caller's right, never the user's membership. So a write
that missed for any other reason (an answer that says "no document" for a
command whose outcome the server lost, or a group whose two member lists
disagree) was acknowledged without the user being added: an acknowledged
``add_member`` whose user was not a member afterwards, as the fault load test
saw once. Now the explaining read must show the user in both lists, or the
write is tried again. The doubles below reproduce each miss exactly.
"""

from __future__ import annotations

import pytest

from groupstore import StoreUnavailableError


@pytest.fixture
def group(store, workflow, alice):
    return store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=alice.user_id)


def stored_lists(store, group_id):
    doc = store.db.groups.find_one({"_id": group_id})
    return [entry["user_id"] for entry in doc["members"]], doc["member_ids"]


def miss_first(store, times: int = 1):
    """Adding a member answers "matched nothing", without writing, ``times`` times."""
    groups = store.groups.groups
    real = groups.add_member
    missed: list[str] = []

    def add_member(group_id, member, *, owner=None):
        if len(missed) < times:
            missed.append(group_id)
            return None
        return real(group_id, member, owner=owner)

    groups.add_member = add_member
    return missed


def test_an_add_member_whose_write_missed_is_written_again(store, group, alice, bob):
    missed = miss_first(store)

    result = store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)

    assert missed == [group.group_id]
    assert bob.user_id in result.member_ids
    assert stored_lists(store, group.group_id) == ([alice.user_id, bob.user_id],) * 2


def test_an_add_member_that_keeps_missing_answers_store_unavailable(store, group, alice, bob):
    miss_first(store, times=100)

    with pytest.raises(StoreUnavailableError):
        store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)
    assert stored_lists(store, group.group_id) == ([alice.user_id],) * 2


def test_an_add_member_where_only_member_ids_hold_the_user_mends_the_lists(
    store, group, alice, bob
):
    # member_ids already holds bob, members does not (an earlier build's write):
    # the filter (on member_ids) never matches, and "already a member" was a lie.
    store.db.groups.update_one({"_id": group.group_id}, {"$push": {"member_ids": bob.user_id}})

    result = store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)

    assert result.is_member(bob.user_id)
    assert stored_lists(store, group.group_id) == ([alice.user_id, bob.user_id],) * 2


def test_adding_a_member_again_still_writes_nothing(store, group, alice, bob):
    store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)
    before = store.db.groups.find_one({"_id": group.group_id})

    again = store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)

    assert again.is_member(bob.user_id)
    assert store.db.groups.find_one({"_id": group.group_id}) == before


def pull_applied_but_missed(store):
    """The first member removal is applied, but answers "matched nothing"."""
    groups = store.groups.groups
    real = groups.remove_member
    calls = []

    def remove_member(group_id, member, *, owner=None):
        result = real(group_id, member, owner=owner)
        calls.append(result)
        return None if len(calls) == 1 else result

    groups.remove_member = remove_member
    return calls


def test_a_removal_applied_but_answered_as_a_miss_succeeds(store, group, alice, bob):
    store.groups.add_member(group.group_id, bob.user_id, caller=alice.user_id)
    calls = pull_applied_but_missed(store)

    result = store.groups.remove_member(group.group_id, bob.user_id, caller=alice.user_id)

    assert len(calls) == 1 and calls[0] is not None  # applied, answered as a miss
    assert not result.is_member(bob.user_id)
    assert stored_lists(store, group.group_id) == ([alice.user_id],) * 2
