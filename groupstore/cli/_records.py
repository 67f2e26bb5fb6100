"""Domain objects as plain records for tables and ``--json``, and name-or-id look-ups."""

from __future__ import annotations

from typing import Any

from groupstore import (
    Group,
    GroupStore,
    UnknownUserError,
    UnknownWorkflowError,
    User,
    Workflow,
)


def user_record(user: User) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": user.user_id,
        "username": user.username,
        "active": user.active,
        "is_admin": user.is_admin,
        "created_at": user.created_at,
    }
    return record


def workflow_record(workflow: Workflow, full: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": workflow.workflow_id,
        "name": workflow.name,
        "description": workflow.description,
        "created_at": workflow.created_at,
    }
    if full:
        record["workflow_spec"] = workflow.workflow_spec
        record["parameters"] = [p.to_dict() for p in workflow.parameters.values()]
        record["engine_config"] = workflow.engine_config
    return record


def group_record(group: Group, full: bool = False, names: bool = False) -> dict[str, Any]:
    """``names``: owner and members by username (for people), else by id (``--json``)."""
    record: dict[str, Any] = {
        "id": group.group_id,
        "name": group.name,
        "workflow_id": group.workflow_id,
        "owner": group.owner.username if names else group.owner_id,
        "members": [m.username for m in group.members] if names else group.member_ids,
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }
    if full:
        record["parameters"] = [p.to_dict() for p in group.parameters.values()]
        record["workflow_spec"] = group.workflow_spec
        record["engine_config"] = group.engine_config
        record["files"] = [file_record(f) for f in group.uploads]
    return record


def size_of(file: Any) -> int:
    """A file's size: an attribute, or a method (flowserv's ``IOHandle.size()``)."""
    size = file.size
    return int(size() if callable(size) else size)


def file_record(file: Any) -> dict[str, Any]:
    return {
        "id": file.file_id,
        "name": file.name,
        "mime_type": file.mime_type,
        "size": size_of(file),
        "sha256": getattr(file, "sha256", None),
        "created_at": file.created_at,
    }


def find_user(store: GroupStore, ref: str) -> User:
    """A user by id, else an active user by name (any case)."""
    try:
        return store.users.get_user(ref)
    except UnknownUserError:
        return store.users.get_user_by_name(ref)


def find_workflow(store: GroupStore, ref: str) -> Workflow:
    """A workflow by id, else by name."""
    try:
        return store.workflows.get_workflow(ref)
    except UnknownWorkflowError:
        for workflow in store.workflows.list_workflows():
            if workflow.name == ref:
                return workflow
        raise
