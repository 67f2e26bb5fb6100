"""Domain objects as plain records for tables and ``--json``, and name-or-id look-ups."""

from __future__ import annotations

from typing import Any

from groupstore import (
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
    }
    for extra in ("role", "is_admin"):  # when the library has user roles
        if hasattr(user, extra):
            record[extra] = getattr(user, extra)
    record["created_at"] = user.created_at
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
    return record


def member_id(member: Any) -> str:
    """A member's user id (members are ids, or objects with ``user_id``)."""
    return str(getattr(member, "user_id", member))


def owner_id(group: Any) -> str | None:
    owner = getattr(group, "owner", None)
    if owner is not None:
        return member_id(owner)
    value = getattr(group, "owner_id", None)
    return None if value is None else str(value)


def group_record(group: Any, full: bool = False) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": group.group_id,
        "name": group.name,
        "workflow_id": group.workflow_id,
        "owner": owner_id(group),
        "members": [member_id(m) for m in getattr(group, "members", [])],
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }
    if full:
        record["parameters"] = [p.to_dict() for p in group.parameters.values()]
        record["workflow_spec"] = group.workflow_spec
        record["engine_config"] = group.engine_config
        record["files"] = [file_record(f) for f in getattr(group, "uploads", [])]
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
        for user in store.users.list_users(prefix=ref):
            if user.username.casefold() == ref.casefold():
                return user
        raise


def find_workflow(store: GroupStore, ref: str) -> Workflow:
    """A workflow by id, else by name."""
    try:
        return store.workflows.get_workflow(ref)
    except UnknownWorkflowError:
        for workflow in store.workflows.list_workflows():
            if workflow.name == ref:
                return workflow
        raise
