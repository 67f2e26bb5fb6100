"""The workflow group manager: flowserv's ``WorkflowGroupManager`` on MongoDB + GridFS.

Every rule is checked before anything is written, and every write that must
be atomic is a single-document operation, so a failed call changes nothing.
The unique index on (workflow id, name) decides name conflicts on create and
on rename; there is no check-then-insert race.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from groupstore.errors import (
    ConstraintViolationError,
    UnauthorizedAccessError,
    UnknownFileError,
    UnknownUserError,
    UnknownWorkflowError,
    UnknownWorkflowGroupError,
)
from groupstore.model import JSON, FileHandle, Group, UploadedFile
from groupstore.parameters import parameters_from_input
from groupstore.storage.documents import utc_now
from groupstore.storage.files import file_store
from groupstore.storage.groups import GroupCollection
from groupstore.storage.workflows import WorkflowCollection
from groupstore.uploads import open_source
from groupstore.users import UserManager
from groupstore.validation import (
    guess_mime_type,
    validate_file_name,
    validate_identifier,
    validate_name,
    validate_user_ids,
)

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class GroupPage:
    """One page of a keyset-paginated listing: (cursor, group) pairs in creation order."""

    items: list[tuple[str, Group]]
    has_next_page: bool


class WorkflowGroupManager:
    """Create and maintain workflow groups and their uploaded files."""

    def __init__(self, db: Any, fs: Any = None, users: UserManager | None = None):
        """``fs``: a GridFS bucket in ``db`` by default (a ``gridfs.GridFSBucket`` also works)."""
        self.groups = GroupCollection(db)
        self.workflows = WorkflowCollection(db)
        self.fs = file_store(db, fs)
        self.users = users or UserManager(db)

    # -- groups ---------------------------------------------------------------

    def create_group(
        self,
        workflow_id: str,
        name: str,
        parameters: Any,
        workflow_spec: JSON,
        user_id: str | None = None,
        members: Iterable[str] | None = None,
        engine_config: JSON = None,
        identifier: str | None = None,
    ) -> Group:
        """A new group of the workflow, with the owner as its first member.

        Raises ConstraintViolationError (bad or taken name or identifier,
        non-JSON spec or config), InvalidParameterError, UnknownUserError
        (no owner, or an unknown or inactive member) and UnknownWorkflowError.
        """
        group_id = validate_identifier(identifier) or uuid.uuid4().hex
        name = validate_name(name)
        if user_id is None:
            raise UnknownUserError(None)
        member_ids = validate_user_ids([user_id, *validate_user_ids(members or [])])
        now = utc_now()
        group = Group(
            group_id=group_id,
            name=name,
            workflow_id=workflow_id,
            owner_id=user_id,
            members=member_ids,
            parameters=parameters_from_input(parameters),
            workflow_spec=workflow_spec,
            engine_config=engine_config,
            uploads=[],
            created_at=now,
            updated_at=now,
        )
        document = self.groups.prepare(group)  # rejects non-JSON values before any I/O
        if not self.workflows.exists(workflow_id):
            raise UnknownWorkflowError(workflow_id)
        self._check_active(member_ids)
        self.groups.insert(document)
        return group

    def get_group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise UnknownWorkflowGroupError(group_id)
        return group

    def list_groups(
        self, workflow_id: str | None = None, user_id: str | None = None
    ) -> list[Group]:
        """Groups in creation order, of a workflow and/or with a member.

        Raises UnknownWorkflowError / UnknownUserError for an unknown filter;
        those are checked only when nothing matched (a match proves existence).
        """
        groups = [group for _, group in self.groups.find(workflow_id, user_id)]
        if not groups:
            self._check_filters(workflow_id, user_id)
        return groups

    def list_groups_page(
        self,
        workflow_id: str | None = None,
        user_id: str | None = None,
        after: str | None = None,
        first: int = 50,
    ) -> GroupPage:
        """A page of ``list_groups``: up to ``first`` groups after the cursor ``after``."""
        if not 0 <= first <= MAX_PAGE_SIZE:
            raise ConstraintViolationError(f"page size must be between 0 and {MAX_PAGE_SIZE}")
        # One extra row tells whether another page exists, in the same round trip.
        items = list(self.groups.find(workflow_id, user_id, after=after, limit=first + 1))
        if not items and after is None:
            self._check_filters(workflow_id, user_id)
        return GroupPage(items=items[:first], has_next_page=len(items) > first)

    def update_group(
        self, group_id: str, name: str | None = None, members: Iterable[str] | None = None
    ) -> Group:
        """Rename the group and/or replace its member list (exactly the given users)."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = validate_name(name)
        if members is not None:
            changes["members"] = validate_user_ids(members)
            self._check_active(changes["members"])
        if not changes:
            return self.get_group(group_id)
        changes["updated_at"] = utc_now()
        group = self.groups.update(group_id, changes)
        if group is None:
            raise UnknownWorkflowGroupError(group_id)
        return group

    def delete_group(self, group_id: str) -> None:
        """Delete the group and its files: the document first, then the bytes."""
        group = self.groups.delete(group_id)
        if group is None:
            raise UnknownWorkflowGroupError(group_id)
        self.fs.delete(file.file_id for file in group.uploads)

    # -- files ----------------------------------------------------------------

    def upload_file(self, group_id: str, file: Any, name: str) -> UploadedFile:
        """Stream a file into GridFS and record it in the group.

        ``file`` is bytes, a binary file object, a path, or an object with
        ``open()``. The group is checked first (as flowserv does), then the name.
        """
        if not self.groups.exists(group_id):
            raise UnknownWorkflowGroupError(group_id)
        name = validate_file_name(name)
        file_id = uuid.uuid4().hex
        mime_type = guess_mime_type(name)
        created_at = utc_now()
        with open_source(file) as source:
            stored = self.fs.write(
                file_id,
                name,
                source,
                metadata={"group_id": group_id, "contentType": mime_type},
                upload_date=created_at,
            )
        uploaded = UploadedFile(
            file_id=file_id,
            name=name,
            mime_type=mime_type,
            size=stored.size,
            created_at=created_at,
            sha256=stored.sha256,
        )
        if not self.groups.add_file(group_id, uploaded, {"updated_at": created_at}):
            # The group was deleted while the bytes were streaming in.
            self.fs.delete([file_id])
            raise UnknownWorkflowGroupError(group_id)
        return uploaded

    def list_uploaded_files(self, group_id: str) -> list[UploadedFile]:
        """The group's files in upload order."""
        return self.get_group(group_id).uploads

    def get_uploaded_file(
        self, group_id: str, file_id: str, member: str | None = None
    ) -> FileHandle:
        """A handle whose ``open()`` streams the bytes; a file of another group is unknown.

        With ``member``, the same read also checks that this user belongs to
        the group (UnauthorizedAccessError otherwise, before the file is looked at).
        """
        members, file = self.groups.get_file(group_id, file_id)
        if members is None:
            raise UnknownWorkflowGroupError(group_id)
        if member is not None and member not in members:
            raise UnauthorizedAccessError("only members of the group may do this")
        if file is None:
            raise UnknownFileError(file_id)
        fs = self.fs
        return FileHandle(
            file_id=file.file_id,
            group_id=group_id,
            name=file.name,
            mime_type=file.mime_type,
            size=file.size,
            created_at=file.created_at,
            sha256=file.sha256,
            _opener=lambda: fs.open(file_id),
        )

    def delete_file(self, group_id: str, file_id: str) -> None:
        """Delete one file: its metadata first, then the bytes."""
        group_exists, removed = self.groups.remove_file(
            group_id, file_id, {"updated_at": utc_now()}
        )
        if not group_exists:
            raise UnknownWorkflowGroupError(group_id)
        if not removed:
            raise UnknownFileError(file_id)
        self.fs.delete([file_id])

    # -- checks ---------------------------------------------------------------

    def _check_active(self, user_ids: list[str]) -> None:
        if not user_ids:
            return
        active = self.users.active_user_ids(user_ids)
        for user_id in user_ids:
            if user_id not in active:
                raise UnknownUserError(user_id)

    def _check_filters(self, workflow_id: str | None, user_id: str | None) -> None:
        if workflow_id is not None and not self.workflows.exists(workflow_id):
            raise UnknownWorkflowError(workflow_id)
        if user_id is not None:
            self.users.get_user(user_id, active=True)
