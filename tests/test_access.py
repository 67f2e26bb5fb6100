"""The one access rule, enforced by the library when a caller is named (ACCESS_RULES).

Table-driven: every group method, called by the owner, by a member and by an
outsider. A refusal is UnauthorizedAccessError (FORBIDDEN) and changes nothing;
non-members get summaries instead of groups.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import groupstore
from groupstore import (
    ACCESS_RULES,
    ConstraintViolationError,
    Group,
    GroupSummary,
    UnauthorizedAccessError,
    UnknownUserError,
    UnknownWorkflowGroupError,
)

ROLES = ("owner", "member", "outsider")


@dataclass
class World:
    store: groupstore.GroupStore
    group: Group
    file_id: str
    users: dict[str, str]  # role -> user id
    newcomer: str


@pytest.fixture
def world(store, workflow) -> World:
    users = {
        role: store.users.register_user(role, "a long password").user_id
        for role in (*ROLES, "newcomer")
    }
    group = store.groups.create_group(
        workflow.workflow_id, "team", user_id=users["owner"], members=[users["member"]]
    )
    file = store.groups.upload_file(group.group_id, b"data", "a.txt")
    return World(store, group, file.file_id, users, users.pop("newcomer"))


def snapshot(store: groupstore.GroupStore) -> Any:
    """Everything a group operation could change."""
    return (
        sorted(store.db.groups.find(), key=lambda doc: doc["_id"]),
        sorted(store.db["fs.files"].find(), key=lambda doc: doc["_id"]),
        store.db["fs.chunks"].count_documents({}),
    )


Call = Callable[[World, str], Any]

# method -> (call as a caller, roles allowed)
CALLS: dict[str, tuple[Call, set[str]]] = {
    "update_group": (
        lambda w, c: w.store.groups.update_group(w.group.group_id, name="renamed", caller=c),
        {"owner"},
    ),
    "delete_group": (
        lambda w, c: w.store.groups.delete_group(w.group.group_id, caller=c),
        {"owner"},
    ),
    "add_member": (
        lambda w, c: w.store.groups.add_member(w.group.group_id, w.newcomer, caller=c),
        {"owner"},
    ),
    "remove_member": (
        lambda w, c: w.store.groups.remove_member(w.group.group_id, w.users["member"], caller=c),
        {"owner"},
    ),
    "transfer_ownership": (
        lambda w, c: w.store.groups.transfer_ownership(
            w.group.group_id, w.users["member"], caller=c
        ),
        {"owner"},
    ),
    "leave_group": (
        lambda w, c: w.store.groups.leave_group(w.group.group_id, c),
        {"member"},  # the owner needs a transfer first: a ConstraintViolationError
    ),
    "upload_file": (
        lambda w, c: w.store.groups.upload_file(w.group.group_id, b"new", "b.txt", caller=c),
        {"owner", "member"},
    ),
    "list_uploaded_files": (
        lambda w, c: w.store.groups.list_uploaded_files(w.group.group_id, caller=c),
        {"owner", "member"},
    ),
    "get_uploaded_file": (
        lambda w, c: w.store.groups.get_uploaded_file(w.group.group_id, w.file_id, caller=c),
        {"owner", "member"},
    ),
    "delete_file": (
        lambda w, c: w.store.groups.delete_file(w.group.group_id, w.file_id, caller=c),
        {"owner", "member"},
    ),
}
READS = {"get_group", "list_groups", "list_groups_page", "create_group"}


def test_the_table_covers_every_rule() -> None:
    assert set(CALLS) | READS == set(ACCESS_RULES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_method_is_allowed_to_its_roles_and_refused_to_others(world, method, role):
    call, allowed = CALLS[method]
    caller = world.users[role]
    before = snapshot(world.store)
    if role in allowed:
        call(world, caller)
        return
    expected = (
        ConstraintViolationError
        if (method, role) == ("leave_group", "owner")
        else UnauthorizedAccessError
    )
    with pytest.raises(expected) as refused:
        call(world, caller)
    if expected is UnauthorizedAccessError:
        assert refused.value.code == "FORBIDDEN"
    assert snapshot(world.store) == before


@pytest.mark.parametrize("role", ROLES)
def test_get_group_shows_members_everything_and_others_the_summary(world, role):
    read = world.store.groups.get_group(world.group.group_id, caller=world.users[role])
    if role == "outsider":
        assert type(read) is GroupSummary
        assert not hasattr(read, "members") and not hasattr(read, "engine_config")
        assert (read.group_id, read.name, read.workflow_id) == (
            world.group.group_id,
            "team",
            world.group.workflow_id,
        )
    else:
        assert isinstance(read, Group) and read == world.group


def test_listings_give_summaries_of_groups_the_caller_is_not_in(world, workflow):
    store, outsider = world.store, world.users["outsider"]
    own = store.groups.create_group(workflow.workflow_id, "own", user_id=outsider)
    listed = store.groups.list_groups(workflow_id=workflow.workflow_id, caller=outsider)
    assert [type(group) for group in listed] == [GroupSummary, Group]
    assert listed[1] == own
    page = store.groups.list_groups_page(workflow_id=workflow.workflow_id, caller=outsider)
    assert [type(group) for _, group in page.items] == [GroupSummary, Group]


@pytest.fixture
def memberships(world, workflow):
    """Groups of ``member``: ``team`` (with the owner), ``shared`` (with the outsider, who
    owns it), ``alone``; and the outsider's own ``solo``."""
    store, users = world.store, world.users
    create = store.groups.create_group
    shared = create(
        workflow.workflow_id, "shared", user_id=users["outsider"], members=[users["member"]]
    )
    alone = create(workflow.workflow_id, "alone", user_id=users["member"])
    solo = create(workflow.workflow_id, "solo", user_id=users["outsider"])
    return {"team": world.group, "shared": shared, "alone": alone, "solo": solo}


def listed_names(world, user: str, caller: str) -> tuple[list[str], list[str]]:
    """Names that list_groups and list_groups_page give ``caller`` for ``user``'s groups."""
    groups = world.store.groups
    listing = groups.list_groups(user_id=world.users.get(user, user), caller=caller)
    page = groups.list_groups_page(user_id=world.users.get(user, user), caller=caller)
    return [g.name for g in listing], [g.name for _, g in page.items]


def test_another_users_groups_are_listed_only_where_the_caller_is_a_member_too(world, memberships):
    names = ["shared"]
    assert listed_names(world, "member", world.users["outsider"]) == (names, names)
    assert listed_names(world, "outsider", world.users["owner"]) == ([], [])


def test_a_caller_lists_all_of_their_own_groups(world, memberships):
    names = ["team", "shared", "alone"]
    assert listed_names(world, "member", world.users["member"]) == (names, names)


def test_an_administrator_lists_any_users_groups_as_summaries_where_not_a_member(
    world, memberships
):
    store = world.store
    admin = store.users.register_user("root", "a long password").user_id
    store.users.promote_user(admin)
    listing = store.groups.list_groups(user_id=world.users["member"], caller=admin)
    assert [g.name for g in listing] == ["team", "shared", "alone"]
    assert {type(g) for g in listing} == {GroupSummary}
    page = store.groups.list_groups_page(user_id=world.users["member"], caller=admin)
    assert [g.name for _, g in page.items] == ["team", "shared", "alone"]


def test_listing_the_groups_of_an_unknown_user_is_unknown_user(world):
    with pytest.raises(UnknownUserError):
        world.store.groups.list_groups(user_id="nope", caller=world.users["outsider"])
    with pytest.raises(UnknownUserError):
        world.store.groups.list_groups_page(user_id="nope", caller=world.users["outsider"])


def test_an_unknown_group_is_unknown_before_it_is_forbidden(world):
    with pytest.raises(UnknownWorkflowGroupError):
        world.store.groups.update_group("nope", name="x", caller=world.users["outsider"])
    with pytest.raises(UnknownWorkflowGroupError):
        world.store.groups.upload_file("nope", b"x", "a.txt", caller=world.users["outsider"])


def test_a_caller_cannot_create_a_group_for_someone_else(world, workflow):
    with pytest.raises(UnauthorizedAccessError):
        world.store.groups.create_group(
            workflow.workflow_id, "x", user_id=world.users["member"], caller=world.users["owner"]
        )
    created = world.store.groups.create_group(
        workflow.workflow_id, "mine", caller=world.users["member"]
    )
    assert created.owner_id == world.users["member"]


def test_the_owner_cannot_be_removed_without_a_transfer(world):
    store, group, owner = world.store, world.group, world.users["owner"]
    with pytest.raises(ConstraintViolationError, match="transfer"):
        store.groups.remove_member(group.group_id, owner, caller=owner)
    with pytest.raises(ConstraintViolationError, match="transfer"):
        store.groups.update_group(group.group_id, members=[world.users["member"]], caller=owner)
    store.groups.transfer_ownership(group.group_id, world.users["member"], caller=owner)
    store.groups.leave_group(group.group_id, owner)
    after = store.groups.get_group(group.group_id)
    assert (after.owner_id, after.member_ids) == (world.users["member"], [world.users["member"]])


def test_transfer_to_a_non_member_is_refused(world):
    store, owner = world.store, world.users["owner"]
    with pytest.raises(ConstraintViolationError, match="not a member"):
        store.groups.transfer_ownership(world.group.group_id, world.newcomer, caller=owner)


def test_adding_a_member_twice_keeps_one_entry(world):
    store, owner = world.store, world.users["owner"]
    store.groups.add_member(world.group.group_id, world.newcomer, caller=owner)
    again = store.groups.add_member(world.group.group_id, world.newcomer, caller=owner)
    assert again.member_ids.count(world.newcomer) == 1


def test_a_member_removed_while_uploading_gets_forbidden_and_leaves_no_file(world):
    """The upload's last step re-checks membership: a removal that came first wins."""
    store, group, member = world.store, world.group, world.users["member"]
    started, removed = threading.Event(), threading.Event()

    class SlowSource:
        """A stream that lets the removal happen while its bytes are being read."""

        def __init__(self) -> None:
            self.sent = False

        def read(self, size: int = -1) -> bytes:
            if self.sent:
                return b""
            started.set()
            assert removed.wait(10)
            self.sent = True
            return b"late bytes"

    def remove() -> None:
        assert started.wait(10)
        store.groups.remove_member(group.group_id, member, caller=world.users["owner"])
        removed.set()

    remover = threading.Thread(target=remove)
    remover.start()
    with pytest.raises(UnauthorizedAccessError):
        store.groups.upload_file(group.group_id, SlowSource(), "late.txt", caller=member)
    remover.join()
    names = [f.name for f in store.groups.list_uploaded_files(group.group_id)]
    assert names == ["a.txt"]
    assert store.db["fs.chunks"].count_documents({}) == 1  # only a.txt's


@pytest.mark.parametrize("rounds", [20])
def test_uploads_racing_a_removal_either_finish_before_it_or_are_refused(world, rounds):
    """Never a file that arrived after the member was removed."""
    store, group, owner = world.store, world.group, world.users["owner"]
    for i in range(rounds):
        member = store.users.register_user(f"racer{i}", "a long password").user_id
        store.groups.add_member(group.group_id, member, caller=owner)
        results: list[Any] = []
        barrier = threading.Barrier(2)

        def upload(member=member, i=i, barrier=barrier, results=results) -> None:
            barrier.wait()
            try:
                results.append(
                    store.groups.upload_file(group.group_id, b"x", f"r{i}.txt", caller=member)
                )
            except UnauthorizedAccessError as exc:
                results.append(exc)

        thread = threading.Thread(target=upload)
        thread.start()
        barrier.wait()
        store.groups.remove_member(group.group_id, member, caller=owner)
        thread.join()
        listed = {f.name for f in store.groups.list_uploaded_files(group.group_id)}
        (result,) = results
        if isinstance(result, UnauthorizedAccessError):
            assert f"r{i}.txt" not in listed
        else:
            assert f"r{i}.txt" in listed
