"""WorkflowManager: enough of flowserv's workflows for groups to be real."""

from __future__ import annotations

import pytest

from groupstore import (
    ConstraintViolationError,
    Int,
    UnknownWorkflowError,
    UnknownWorkflowGroupError,
)


def test_created_workflow_reads_back_equal(store):
    workflow = store.workflows.create_workflow(
        "wf", description="d", workflow_spec={"steps": [[1]]}, parameters=[Int("n", default=1)]
    )
    assert store.workflows.get_workflow(workflow.workflow_id) == workflow
    assert workflow.parameters["n"].default == 1


def test_workflow_names_are_unique(store):
    store.workflows.create_workflow("wf")
    with pytest.raises(ConstraintViolationError, match="exists"):
        store.workflows.create_workflow("wf")


def test_workflow_identifier_is_used_and_unique(store):
    assert store.workflows.create_workflow("a", identifier="W1").workflow_id == "W1"
    with pytest.raises(ConstraintViolationError, match="already used"):
        store.workflows.create_workflow("b", identifier="W1")


def test_non_json_workflow_spec_is_rejected(store):
    with pytest.raises(ConstraintViolationError):
        store.workflows.create_workflow("wf", workflow_spec={"x": {1, 2}})
    assert store.workflows.list_workflows() == []


def test_list_workflows_in_creation_order(store):
    names = ["c", "a", "b"]
    for name in names:
        store.workflows.create_workflow(name)
    assert [w.name for w in store.workflows.list_workflows()] == names


def test_unknown_workflow_is_rejected(store):
    with pytest.raises(UnknownWorkflowError):
        store.workflows.get_workflow("nope")
    with pytest.raises(UnknownWorkflowError):
        store.workflows.delete_workflow("nope")


def test_delete_workflow_removes_its_groups_and_files_only(store, alice):
    doomed = store.workflows.create_workflow("doomed")
    kept = store.workflows.create_workflow("kept")
    group = store.groups.create_group(doomed.workflow_id, "g", [], {}, user_id=alice.user_id)
    other = store.groups.create_group(kept.workflow_id, "g", [], {}, user_id=alice.user_id)
    store.groups.upload_file(group.group_id, b"x" * 300_000, "a.bin")
    kept_file = store.groups.upload_file(other.group_id, b"keep", "k.txt")
    store.workflows.delete_workflow(doomed.workflow_id)
    with pytest.raises(UnknownWorkflowGroupError):
        store.groups.get_group(group.group_id)
    assert store.db["fs.files"].count_documents({}) == 1
    assert store.db["fs.chunks"].count_documents({"files_id": {"$ne": kept_file.file_id}}) == 0
    assert store.groups.list_uploaded_files(other.group_id) == [kept_file]


def test_get_workflows_returns_the_known_ones(store):
    a = store.workflows.create_workflow("a")
    b = store.workflows.create_workflow("b")
    store.workflows.create_workflow("c")
    found = store.workflows.get_workflows([b.workflow_id, "nope", a.workflow_id])
    assert sorted(w.name for w in found) == ["a", "b"]
