"""WorkflowGroupManager: every group rule of the contract, plus flowserv's group tests."""

from __future__ import annotations

import pytest

from groupstore import (
    ConstraintViolationError,
    Int,
    InvalidParameterError,
    String,
    UnknownUserError,
    UnknownWorkflowError,
    UnknownWorkflowGroupError,
    WorkflowGroupManager,
)
from tests.backend import PASSWORD


def make(store, workflow, user, name="G1", **kwargs):
    kwargs.setdefault("parameters", [])
    kwargs.setdefault("workflow_spec", {})
    return store.groups.create_group(workflow.workflow_id, name, user_id=user.user_id, **kwargs)


def group_count(store) -> int:
    return store.db.groups.count_documents({})


# -- create --------------------------------------------------------------------


def test_create_group_returns_group_with_owner_as_only_member(store, workflow, alice):
    group = make(store, workflow, alice)
    assert group.name == "G1"
    assert group.owner_id == alice.user_id
    assert group.member_ids == [alice.user_id]
    assert group.owner.name == "alice"
    assert group.engine_config is None
    assert group.parameters == {}
    assert group.workflow_spec == {}


def test_created_group_reads_back_equal(store, workflow, alice):
    group = make(store, workflow, alice, engine_config={"workers": 4})
    assert store.groups.get_group(group.group_id) == group


def test_group_name_is_stripped(store, workflow, alice):
    assert make(store, workflow, alice, name="  team a \t").name == "team a"


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 513])
def test_invalid_group_name_is_rejected(store, workflow, alice, name):
    with pytest.raises(ConstraintViolationError):
        make(store, workflow, alice, name=name)
    assert group_count(store) == 0


def test_group_name_of_512_characters_is_accepted(store, workflow, alice):
    assert len(make(store, workflow, alice, name="x" * 512).name) == 512


def test_duplicate_group_name_in_workflow_is_rejected(store, workflow, alice):
    make(store, workflow, alice, name="A")
    with pytest.raises(ConstraintViolationError, match="exists"):
        make(store, workflow, alice, name="A")
    assert group_count(store) == 1


def test_duplicate_name_after_stripping_is_rejected(store, workflow, alice):
    make(store, workflow, alice, name="A")
    with pytest.raises(ConstraintViolationError):
        make(store, workflow, alice, name=" A ")


def test_same_group_name_in_another_workflow_is_allowed(store, workflow, alice):
    other = store.workflows.create_workflow("other")
    make(store, workflow, alice, name="A")
    assert make(store, other, alice, name="A").workflow_id == other.workflow_id


def test_user_defined_identifier_is_the_group_id(store, workflow, alice):
    group = make(store, workflow, alice, identifier="G_001")
    assert group.group_id == "G_001"
    assert store.groups.get_group("G_001") == group


@pytest.mark.parametrize("identifier", ["", "a-b", "x" * 33, "ä", "a b", 7])
def test_invalid_identifier_is_rejected(store, workflow, alice, identifier):
    with pytest.raises(ConstraintViolationError):
        make(store, workflow, alice, identifier=identifier)
    assert group_count(store) == 0


def test_used_identifier_is_rejected(store, workflow, alice):
    make(store, workflow, alice, name="A", identifier="G1")
    with pytest.raises(ConstraintViolationError, match="already used"):
        make(store, workflow, alice, name="B", identifier="G1")
    assert group_count(store) == 1


def test_missing_owner_is_unknown_user(store, workflow):
    with pytest.raises(UnknownUserError):
        store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=None)


def test_unknown_owner_is_rejected(store, workflow):
    with pytest.raises(UnknownUserError):
        store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id="nobody")
    assert group_count(store) == 0


def test_unknown_member_is_rejected_and_nothing_is_written(store, workflow, alice, bob):
    with pytest.raises(UnknownUserError, match="nobody"):
        make(store, workflow, alice, members=[bob.user_id, "nobody"])
    assert group_count(store) == 0


def test_inactive_member_is_rejected(store, workflow, alice):
    pending = store.users.register_user("pending", PASSWORD, verify=True)
    with pytest.raises(UnknownUserError):
        make(store, workflow, alice, members=[pending.user_id])
    assert group_count(store) == 0


def test_duplicate_members_collapse(store, workflow, alice, bob):
    group = make(store, workflow, alice, members=[bob.user_id, bob.user_id, alice.user_id])
    assert group.member_ids == [alice.user_id, bob.user_id]


def test_unknown_workflow_is_rejected(store, alice):
    with pytest.raises(UnknownWorkflowError):
        store.groups.create_group("no-such-workflow", "G", [], {}, user_id=alice.user_id)
    assert group_count(store) == 0


def test_parameters_as_objects_dicts_or_mapping_give_the_same_group(store, workflow, alice):
    objects = [String("a", index=0), Int("b", index=1, default=3)]
    dicts = [p.to_dict() for p in objects]
    mapping = {p.name: p for p in objects}
    groups = [
        make(store, workflow, alice, name=str(i), parameters=value)
        for i, value in enumerate([objects, dicts, mapping])
    ]
    assert all(g.parameters == {"a": objects[0], "b": objects[1]} for g in groups)
    assert store.groups.get_group(groups[1].group_id).parameters == groups[0].parameters


def test_bad_parameter_declaration_is_rejected(store, workflow, alice):
    with pytest.raises(InvalidParameterError):
        make(store, workflow, alice, parameters=[{"name": "a", "dtype": "nope"}])
    assert group_count(store) == 0


def test_invalid_parameter_error_is_a_constraint_violation():
    assert issubclass(InvalidParameterError, ConstraintViolationError)


AWKWARD_JSON = {
    "a.b": {"$gt": 1, "$ref": "x"},
    "nested": [[1, 2], [[3]], []],
    "unicode": "grüße 🌍",
    "big": 2**62,
    "float": 1.5,
    "": None,
}


def test_spec_and_config_with_awkward_keys_read_back_equal(store, workflow, alice):
    group = make(store, workflow, alice, workflow_spec=AWKWARD_JSON, engine_config=[AWKWARD_JSON])
    again = store.groups.get_group(group.group_id)
    assert again.workflow_spec == AWKWARD_JSON
    assert again.engine_config == [AWKWARD_JSON]


@pytest.mark.parametrize(
    "value", [{1: "int key"}, {"s": {1, 2}}, {"b": b"bytes"}, {"t": (1, 2)}, float("nan"), object()]
)
def test_non_json_spec_is_rejected(store, workflow, alice, value):
    with pytest.raises(ConstraintViolationError):
        make(store, workflow, alice, workflow_spec=value)
    assert group_count(store) == 0


def test_non_json_engine_config_is_rejected(store, workflow, alice):
    with pytest.raises(ConstraintViolationError):
        make(store, workflow, alice, engine_config={"when": object()})
    assert group_count(store) == 0


# -- get / list ------------------------------------------------------------------


def test_unknown_group_is_rejected(store):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.get_group("nope")


def test_list_groups_filters_by_workflow_and_user_in_creation_order(store, workflow, alice, bob):
    other = store.workflows.create_workflow("other")
    g1 = make(store, workflow, alice, name="g1")
    g2 = make(store, other, bob, name="g2")
    g3 = make(store, workflow, bob, name="g3", members=[alice.user_id])
    ids = lambda groups: [g.group_id for g in groups]  # noqa: E731
    assert ids(store.groups.list_groups()) == [g1.group_id, g2.group_id, g3.group_id]
    assert ids(store.groups.list_groups(workflow_id=workflow.workflow_id)) == [
        g1.group_id,
        g3.group_id,
    ]
    assert ids(store.groups.list_groups(workflow_id=other.workflow_id)) == [g2.group_id]
    assert ids(store.groups.list_groups(user_id=alice.user_id)) == [g1.group_id, g3.group_id]
    assert ids(store.groups.list_groups(user_id=bob.user_id)) == [g2.group_id, g3.group_id]
    both = store.groups.list_groups(workflow_id=other.workflow_id, user_id=bob.user_id)
    assert ids(both) == [g2.group_id]


def test_list_groups_of_unknown_workflow_is_rejected(store):
    with pytest.raises(UnknownWorkflowError):
        store.groups.list_groups(workflow_id="nope")


def test_list_groups_of_unknown_user_is_rejected(store):
    with pytest.raises(UnknownUserError):
        store.groups.list_groups(user_id="nope")


def test_list_groups_of_known_workflow_without_groups_is_empty(store, workflow, alice):
    assert store.groups.list_groups(workflow_id=workflow.workflow_id) == []
    assert store.groups.list_groups(user_id=alice.user_id) == []


def test_list_groups_pages_follow_creation_order(store, workflow, alice):
    made = [make(store, workflow, alice, name=f"g{i}").group_id for i in range(5)]
    first = store.groups.list_groups_page(first=2)
    assert [g.group_id for _, g in first.items] == made[:2] and first.has_next_page
    second = store.groups.list_groups_page(first=2, after=first.items[-1][0])
    assert [g.group_id for _, g in second.items] == made[2:4] and second.has_next_page
    last = store.groups.list_groups_page(first=2, after=second.items[-1][0])
    assert [g.group_id for _, g in last.items] == made[4:] and not last.has_next_page


def test_list_groups_page_is_stable_under_inserts(store, workflow, alice):
    made = [make(store, workflow, alice, name=f"g{i}").group_id for i in range(3)]
    first = store.groups.list_groups_page(first=2)
    late = make(store, workflow, alice, name="late").group_id
    rest = store.groups.list_groups_page(first=10, after=first.items[-1][0])
    assert [g.group_id for _, g in rest.items] == [made[2], late]


def test_list_groups_page_rejects_a_bad_cursor(store):
    with pytest.raises(ConstraintViolationError):
        store.groups.list_groups_page(after="not-a-cursor")


# -- update ----------------------------------------------------------------------


def test_update_members_replaces_the_member_list(store, workflow, alice, bob, carol):
    group = make(store, workflow, alice, members=[bob.user_id])
    other = make(store, workflow, alice, name="other")
    updated = store.groups.update_group(group.group_id, members=[alice.user_id, carol.user_id])
    assert updated.member_ids == [alice.user_id, carol.user_id]
    assert store.groups.get_group(group.group_id).member_ids == [alice.user_id, carol.user_id]
    assert store.groups.get_group(other.group_id) == other


def test_update_members_without_the_owner_is_refused_and_changes_nothing(
    store, workflow, alice, bob
):
    # flowserv lets update_group drop everyone, leaving a group nobody can manage.
    group = make(store, workflow, alice, members=[bob.user_id])
    with pytest.raises(ConstraintViolationError, match="transfer ownership"):
        store.groups.update_group(group.group_id, members=[bob.user_id])
    assert store.groups.get_group(group.group_id) == group


def test_rename_changes_only_the_target_group(store, workflow, alice):
    group = make(store, workflow, alice, name="A")
    other = make(store, workflow, alice, name="B")
    assert store.groups.update_group(group.group_id, name=" C ").name == "C"
    assert store.groups.get_group(group.group_id).name == "C"
    assert store.groups.get_group(other.group_id).name == "B"


def test_rename_and_members_update_together(store, workflow, alice, bob):
    group = make(store, workflow, alice)
    updated = store.groups.update_group(
        group.group_id, name="new", members=[alice.user_id, bob.user_id]
    )
    assert (updated.name, updated.member_ids) == ("new", [alice.user_id, bob.user_id])


def test_repeating_an_update_changes_nothing(store, workflow, alice, bob):
    group = make(store, workflow, alice)
    members = [alice.user_id, bob.user_id]
    once = store.groups.update_group(group.group_id, name="new", members=members)
    twice = store.groups.update_group(group.group_id, name="new", members=members)
    assert (twice.name, twice.members) == (once.name, once.members)


def test_update_without_changes_returns_the_group(store, workflow, alice):
    group = make(store, workflow, alice)
    assert store.groups.update_group(group.group_id) == group


def test_rename_to_a_taken_name_is_rejected(store, workflow, alice):
    make(store, workflow, alice, name="A")
    group = make(store, workflow, alice, name="B")
    with pytest.raises(ConstraintViolationError, match="exists"):
        store.groups.update_group(group.group_id, name="A")
    assert store.groups.get_group(group.group_id).name == "B"


def test_rename_to_own_name_is_allowed(store, workflow, alice):
    group = make(store, workflow, alice, name="A")
    assert store.groups.update_group(group.group_id, name="A").name == "A"


def test_rename_to_invalid_name_is_rejected(store, workflow, alice):
    group = make(store, workflow, alice, name="A")
    with pytest.raises(ConstraintViolationError):
        store.groups.update_group(group.group_id, name="  ")
    assert store.groups.get_group(group.group_id) == group


def test_update_with_unknown_member_changes_nothing(store, workflow, alice, bob, carol):
    group = make(store, workflow, alice, members=[bob.user_id])
    with pytest.raises(UnknownUserError):
        store.groups.update_group(group.group_id, name="renamed", members=[carol.user_id, "nobody"])
    assert store.groups.get_group(group.group_id) == group


def test_update_of_unknown_group_is_rejected(store, alice):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.update_group("nope", name="x")
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.update_group("nope")


def test_update_members_collapses_duplicates(store, workflow, alice, bob):
    group = make(store, workflow, alice)
    updated = store.groups.update_group(
        group.group_id, members=[alice.user_id, bob.user_id, bob.user_id]
    )
    assert updated.member_ids == [alice.user_id, bob.user_id]


# -- delete ----------------------------------------------------------------------


def test_delete_group_removes_only_that_group(store, workflow, alice):
    g1 = make(store, workflow, alice, name="g1")
    g2 = make(store, workflow, alice, name="g2")
    store.groups.delete_group(g1.group_id)
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.get_group(g1.group_id)
    assert store.groups.get_group(g2.group_id) == g2


def test_delete_unknown_group_is_rejected(store):
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.delete_group("nope")


def test_deleted_group_name_can_be_reused(store, workflow, alice):
    store.groups.delete_group(make(store, workflow, alice, name="A").group_id)
    assert make(store, workflow, alice, name="A").name == "A"


# -- construction ------------------------------------------------------------------


def test_manager_built_from_a_database_alone_works(store, workflow, alice):
    manager = WorkflowGroupManager(store.db)
    group = manager.create_group(workflow.workflow_id, "G", [], {}, user_id=alice.user_id)
    assert store.groups.get_group(group.group_id) == group


# -- limits and embedded copies ------------------------------------------------


def test_a_spec_over_16_mib_is_refused_on_every_backend_and_changes_nothing(store, workflow, alice):
    # MongoDB refuses documents over 16 MiB; the in-memory backend does too,
    # so that what works in memory works on a real server.
    with pytest.raises(ConstraintViolationError, match="too large"):
        make(store, workflow, alice, workflow_spec={"blob": "x" * (17 * 1024 * 1024)})
    assert group_count(store) == 0


def test_member_names_are_embedded_so_a_user_rename_must_update_them(store, workflow, alice, bob):
    group = make(store, workflow, alice, members=[bob.user_id])
    stored = store.db.groups.find_one({"_id": group.group_id})
    assert [m["username"] for m in stored["members"]] == ["alice", "bob"]
    rename = getattr(store.users, "rename_user", None)
    if rename is not None:  # whoever adds renaming must keep the embedded copies in step
        rename(bob.user_id, "robert")
        assert [m.name for m in store.groups.get_group(group.group_id).members] == [
            "alice",
            "robert",
        ]
