"""Workflows: the templates that groups are created for."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from groupstore.changes import Change, ChangeKind, Publisher
from groupstore.errors import UnknownWorkflowError, require_admin
from groupstore.model import JSON, Workflow
from groupstore.parameters import parameters_from_input
from groupstore.storage.backend import StorageLike, storage_of
from groupstore.storage.documents import utc_now
from groupstore.validation import validate_identifier, validate_name


class WorkflowManager:
    """Create, read, list and delete workflows.

    Creating and deleting are for administrators: with ``caller`` (a user
    id) the call raises UnauthorizedAccessError unless that user is an
    active administrator; without it the caller is trusted.
    """

    def __init__(self, db: StorageLike, fs: Any = None, publisher: Publisher | None = None) -> None:
        """``publisher``: where each write's ``Change`` goes (the storage's change log)."""
        storage = storage_of(db, fs)
        self.changes: Publisher = publisher or storage.changes
        self.workflows = storage.workflows
        self.groups = storage.groups
        self.users = storage.users
        self.fs = storage.fs

    def create_workflow(
        self,
        name: str,
        description: str | None = None,
        workflow_spec: JSON = None,
        parameters: Any = None,
        identifier: str | None = None,
        engine_config: JSON = None,
        caller: str | None = None,
    ) -> Workflow:
        """A new workflow; names are unique (ConstraintViolationError).

        ``parameters``, ``workflow_spec`` and ``engine_config`` are what a new
        group of the workflow takes when its creator gives none. With
        ``caller``, only administrators may create one (UnauthorizedAccessError).
        """
        require_admin(self.users, caller, "create workflows")
        workflow = Workflow(
            workflow_id=validate_identifier(identifier) or uuid.uuid4().hex,
            name=validate_name(name),
            description=description,
            workflow_spec={} if workflow_spec is None else workflow_spec,
            parameters=parameters_from_input(parameters),
            created_at=utc_now(),
            engine_config=engine_config,
        )
        self.workflows.insert(workflow)  # encodes (and rejects non-JSON) before writing
        self.changes.publish(
            Change(ChangeKind.WORKFLOW_CREATED, workflow_id=workflow.workflow_id, by=caller)
        )
        return workflow

    def get_workflow(self, workflow_id: str) -> Workflow:
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            raise UnknownWorkflowError(workflow_id)
        return workflow

    def get_workflows(self, workflow_ids: Iterable[str]) -> list[Workflow]:
        """The existing workflows among ``workflow_ids``, in one round trip."""
        return self.workflows.get_many(list(workflow_ids))

    def list_workflows(self) -> list[Workflow]:
        """All workflows in creation order."""
        return self.workflows.list()

    def delete_workflow(self, workflow_id: str, caller: str | None = None) -> None:
        """Delete the workflow, its groups and their files.

        The workflow goes first (so no group can be added to it), then the
        group documents, then the bytes: a crash part-way leaves groups of a
        missing workflow or unreferenced GridFS files, which ``repair`` removes.
        """
        require_admin(self.users, caller, "delete workflows")
        if not self.workflows.delete(workflow_id):
            raise UnknownWorkflowError(workflow_id)
        group_ids = self.groups.ids_for_workflow(workflow_id)
        if group_ids:
            self.groups.delete_many(group_ids)
        # One change for all its groups (group_id None: every watcher of a group looks).
        self.changes.publish(
            Change(ChangeKind.WORKFLOW_DELETED, workflow_id=workflow_id, by=caller)
        )
        if group_ids:
            self.fs.delete(self.fs.ids_for_groups(group_ids))
