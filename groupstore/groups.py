"""The workflow group manager: flowserv's ``WorkflowGroupManager`` on MongoDB + GridFS.

Every method takes the seed's arguments. Called without ``caller``, it acts
for a trusted caller, as flowserv's manager does (its service layer checks
access). Called with ``caller`` (the acting user's id), it enforces the one
access rule itself (see ``ACCESS_RULES`` and the README):

* anyone: a group's summary (id, name, workflow, timestamps);
* members: everything, and upload, list, download and delete files; leave;
* the owner: also rename, change membership, transfer ownership, delete;
* membership is private: another user's groups (``list_groups(user_id=)``)
  are listed only where the caller is a member too, unless the caller is an
  administrator.

The rule is written into the write: each storage write carries it in its
filter (``owner=caller``: see ``storage.groups``), and only when nothing matched does one
more read tell ``UNKNOWN_GROUP`` from ``FORBIDDEN``. The owner is always a
member; removing them takes a transfer first.

Every input is checked before anything is written, and each write is one
single-document operation, so a failed call changes nothing. The unique
index on (workflow id, name) decides name conflicts on create and rename.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, overload

from groupstore.changes import Change, ChangeKind, Publisher
from groupstore.directory import Directory, StoreDirectory
from groupstore.errors import (
    ConstraintViolationError,
    StoreUnavailableError,
    UnauthorizedAccessError,
    UnknownFileError,
    UnknownUserError,
    UnknownWorkflowError,
    UnknownWorkflowGroupError,
)
from groupstore.model import JSON, FileHandle, Group, GroupSummary, UploadedFile
from groupstore.parameters import parameters_from_input
from groupstore.storage.backend import StorageLike, storage_of
from groupstore.storage.documents import file_from_document, utc_now
from groupstore.storage.groups import Access
from groupstore.uploads import open_source
from groupstore.users import UserManager
from groupstore.validation import (
    guess_mime_type,
    validate_file_name,
    validate_identifier,
    validate_name,
    validate_page_size,
    validate_user_ids,
)

# Conditional writes tried again when a read shows they missed for no reason the caller caused.
WRITE_ATTEMPTS = 3
LIST_RULE = (
    "any user (summaries of groups they are not in); another user's groups only where "
    "the caller is a member too, unless an administrator"
)

ACCESS_RULES: dict[str, str] = {
    "get_group": "any user (the summary unless a member)",
    "list_groups": LIST_RULE,
    "list_groups_page": LIST_RULE,
    "create_group": "any user (becomes the owner)",
    "update_group": "owner",
    "delete_group": "owner",
    "add_member": "owner",
    "remove_member": "owner",
    "transfer_ownership": "owner",
    "leave_group": "member (not the owner)",
    "upload_file": "member",
    "list_uploaded_files": "member",
    "get_uploaded_file": "member",
    "delete_file": "member",
}
"""Who may call each method when a ``caller`` is given (the README's access table)."""

FORBIDDEN_OWNER = "only the group's owner may do this"
FORBIDDEN_MEMBER = "only members of the group may do this"


@dataclass(frozen=True)
class GroupPage:
    """One page of a keyset-paginated listing: (cursor, group) pairs in creation order.

    With a caller, groups they do not belong to are ``GroupSummary`` objects.
    """

    items: list[tuple[str, GroupSummary]]
    has_next_page: bool


def summary_of(group: GroupSummary) -> GroupSummary:
    """Only what anyone may see of a group."""
    return GroupSummary(
        group_id=group.group_id,
        name=group.name,
        workflow_id=group.workflow_id,
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


def visible_to(group: Group, caller: str | None) -> GroupSummary:
    """The whole group for a trusted caller or a member, the summary for anyone else."""
    return group if caller is None or group.is_member(caller) else summary_of(group)


class WorkflowGroupManager:
    """Create and maintain workflow groups, their members and their uploaded files."""

    def __init__(
        self,
        db: StorageLike,
        fs: Any = None,
        users: UserManager | None = None,
        directory: Directory | None = None,
        publisher: Publisher | None = None,
    ):
        """``db``: the store's storage, or a pymongo database to build one on.

        ``fs``: the GridFS bucket of ``db`` by default (a ``gridfs.GridFSBucket`` works too).
        ``directory``: where members and workflows are looked up; groupstore's
        own users and workflows by default.
        ``publisher``: where each acknowledged write's ``Change`` goes (the storage's
        change log by default).
        """
        storage = storage_of(db, fs)
        self.changes: Publisher = publisher or storage.changes
        self.groups = storage.groups
        self.fs = storage.fs
        self.users = users or UserManager(storage, publisher=self.changes)
        self.directory = directory or StoreDirectory(self.users, storage.workflows)

    # -- groups ---------------------------------------------------------------

    def create_group(
        self,
        workflow_id: str,
        name: str,
        parameters: Any = None,
        workflow_spec: JSON = None,
        user_id: str | None = None,
        members: Iterable[str] | None = None,
        engine_config: JSON = None,
        identifier: str | None = None,
        *,
        caller: str | None = None,
    ) -> Group:
        """A new group of the workflow, with the owner as its first member.

        ``parameters``, ``workflow_spec`` and ``engine_config`` default to the
        workflow's. With ``caller``, the owner is the caller (``user_id``, if
        given, must be the same user).

        Raises ConstraintViolationError (bad or taken name or identifier,
        non-JSON spec or config), InvalidParameterError, UnknownUserError
        (no owner, or an unknown or inactive member), UnknownWorkflowError and
        UnauthorizedAccessError (a caller creating a group for someone else).
        """
        if caller is not None:
            if user_id is not None and user_id != caller:
                raise UnauthorizedAccessError("a group's owner is the user who creates it")
            user_id = caller
        group_id = validate_identifier(identifier) or uuid.uuid4().hex
        name = validate_name(name)
        if user_id is None:
            raise UnknownUserError(None)
        member_ids = validate_user_ids([user_id, *validate_user_ids(members or [])])
        given = parameters_from_input(parameters) if parameters is not None else None
        workflow = self.directory.workflow(workflow_id)
        if workflow is None:
            raise UnknownWorkflowError(workflow_id)
        now = utc_now()
        group = Group(
            group_id=group_id,
            name=name,
            workflow_id=workflow_id,
            created_at=now,
            updated_at=now,
            owner_id=user_id,
            members=self.directory.members(member_ids),
            parameters=workflow.parameters if given is None else given,
            workflow_spec=workflow.workflow_spec if workflow_spec is None else workflow_spec,
            engine_config=workflow.engine_config if engine_config is None else engine_config,
        )
        self.groups.insert(self.groups.prepare(group))  # rejects non-JSON values first
        self._emit(ChangeKind.GROUP_CREATED, group_id, caller)
        return group

    @overload
    def get_group(self, group_id: str, *, caller: None = None) -> Group: ...
    @overload
    def get_group(self, group_id: str, *, caller: str) -> GroupSummary: ...

    def get_group(self, group_id: str, *, caller: str | None = None) -> Group | GroupSummary:
        """The group (one round trip); with ``caller``, a summary unless they are a member."""
        group = self.groups.get(group_id)
        if group is None:
            raise UnknownWorkflowGroupError(group_id)
        return visible_to(group, caller)

    @overload
    def list_groups(
        self, workflow_id: str | None = None, user_id: str | None = None, *, caller: None = None
    ) -> list[Group]: ...
    @overload
    def list_groups(
        self, workflow_id: str | None = None, user_id: str | None = None, *, caller: str
    ) -> list[GroupSummary]: ...

    def list_groups(
        self,
        workflow_id: str | None = None,
        user_id: str | None = None,
        *,
        caller: str | None = None,
    ) -> list[Group] | list[GroupSummary]:
        """Groups in creation order, of a workflow and/or with a member.

        With ``caller``, another user's groups are only those the caller shares
        with them, unless the caller is an administrator (see ``_shared_with``).
        Raises UnknownWorkflowError / UnknownUserError for an unknown filter;
        those are checked only when nothing matched (a match proves existence).
        """
        shared_with, user_known = self._shared_with(user_id, caller)
        found = self.groups.find(workflow_id, user_id, shared_with=shared_with)
        groups = [visible_to(group, caller) for _, group in found]
        if not groups:
            self._check_filters(workflow_id, user_id, user_known)
        return groups

    def list_groups_page(
        self,
        workflow_id: str | None = None,
        user_id: str | None = None,
        after: str | None = None,
        first: int = 50,
        *,
        caller: str | None = None,
    ) -> GroupPage:
        """A page of ``list_groups``: up to ``first`` groups after the cursor ``after``."""
        validate_page_size(first)
        # One extra row tells whether another page exists, in the same round trip.
        shared_with, user_known = self._shared_with(user_id, caller)
        items = list(
            self.groups.find(
                workflow_id, user_id, after=after, limit=first + 1, shared_with=shared_with
            )
        )
        if not items and after is None:
            self._check_filters(workflow_id, user_id, user_known)
        visible = [(cursor, visible_to(group, caller)) for cursor, group in items[:first]]
        return GroupPage(items=visible, has_next_page=len(items) > first)

    def update_group(
        self,
        group_id: str,
        name: str | None = None,
        members: Iterable[str] | None = None,
        *,
        caller: str | None = None,
    ) -> Group:
        """Rename the group and/or replace its member list (exactly the given users).

        The owner must stay a member (ConstraintViolationError): hand the group
        over with ``transfer_ownership`` first.
        """
        name = None if name is None else validate_name(name)
        member_ids = None if members is None else validate_user_ids(members)
        if member_ids is not None:
            # The owner must stay a member; the write's filter checks it.
            group = self.groups.replace_members(
                group_id, self.directory.members(member_ids), owner=caller, name=name
            )
        elif name is not None:
            group = self.groups.rename(group_id, name, owner=caller)
        else:
            return self._full(self.get_group(group_id, caller=caller))
        if group is None:
            access = self._explain(group_id, caller, owner_only=True)
            if member_ids is not None and access.owner_id not in member_ids:
                raise ConstraintViolationError(
                    "the owner must stay a member: transfer ownership first"
                )
            raise UnknownWorkflowGroupError(group_id)  # deleted meanwhile
        self._emit(ChangeKind.GROUP_UPDATED, group_id, caller)
        return group

    def delete_group(self, group_id: str, *, caller: str | None = None) -> None:
        """Delete the group and its files: the group document first, then the files."""
        if not self.groups.delete(group_id, owner=caller):
            self._explain(group_id, caller, owner_only=True)
            raise UnknownWorkflowGroupError(group_id)  # deleted meanwhile
        self._emit(ChangeKind.GROUP_DELETED, group_id, caller)
        self.fs.delete(self.fs.ids_for_groups([group_id]))

    # -- membership, one user at a time --------------------------------------

    def add_member(self, group_id: str, user_id: str, *, caller: str | None = None) -> Group:
        """Add an active user to the group (the owner's call); adding a member again is a no-op."""
        (member,) = self.directory.members(validate_user_ids([user_id]))
        for _ in range(WRITE_ATTEMPTS):
            # Writes nothing for a member already there (a miss, explained below).
            group = self.groups.add_member(group_id, member, owner=caller)
            if group is not None:
                self._emit(ChangeKind.GROUP_UPDATED, group_id, caller, user_id=member.user_id)
                return group
            # Nothing matched. That alone does not prove "already a member": the
            # read that explains the miss must show the user in both lists, else
            # the write is tried again (see docs/consistency.md, "Unknown outcomes").
            found = self.groups.read(group_id)
            if found is None:
                raise UnknownWorkflowGroupError(group_id)
            current, member_ids = found
            if caller is not None and current.owner_id != caller:
                raise UnauthorizedAccessError(FORBIDDEN_OWNER)
            listed = current.is_member(member.user_id)
            if listed and member.user_id in member_ids:
                return current  # already a member
            if listed or member.user_id in member_ids:
                # The two lists disagree (a write of an earlier build): the filter,
                # which reads member_ids, would never match. Mend them, then retry.
                self.groups.sync_member_ids(group_id)
        raise StoreUnavailableError(f"group '{group_id}' kept changing; try again")

    def remove_member(self, group_id: str, user_id: str, *, caller: str | None = None) -> Group:
        """Remove a member (the owner's call); the owner needs a transfer first."""
        (user_id,) = validate_user_ids([user_id], "user")
        return self._pull(group_id, user_id, caller, leaving=False)

    def leave_group(self, group_id: str, user_id: str) -> None:
        """The member ``user_id`` leaves the group; the owner needs a transfer first."""
        (user_id,) = validate_user_ids([user_id], "user")
        self._pull(group_id, user_id, user_id, leaving=True)

    def transfer_ownership(
        self, group_id: str, user_id: str, *, caller: str | None = None
    ) -> Group:
        """Make another member the owner (the owner's call); the old owner stays a member."""
        (user_id,) = validate_user_ids([user_id], "user")
        group = self.groups.transfer(group_id, user_id, owner=caller)
        if group is not None:
            self._emit(ChangeKind.GROUP_UPDATED, group_id, caller, user_id=user_id)
            return group
        access = self._explain(group_id, caller, owner_only=True)
        if user_id not in access.member_ids:
            raise ConstraintViolationError(f"user '{user_id}' is not a member of the group")
        raise UnknownWorkflowGroupError(group_id)  # deleted meanwhile

    # -- files ----------------------------------------------------------------

    def upload_file(
        self, group_id: str, file: Any, name: str, *, caller: str | None = None
    ) -> UploadedFile:
        """Stream a file into GridFS; it is listed in the group once all its bytes are in.

        ``file`` is bytes, a binary file object, a path, or an object with
        ``open()``. The group (and the caller's membership) is checked first,
        as flowserv does, then the name; after the bytes are in, one more read
        makes sure the group still exists and the caller is still a member,
        and the file is removed again if not: an upload succeeds only if it
        ended while the caller belonged to the group.
        """
        self._require_member(group_id, caller)
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
        if self.groups.access(group_id, member=caller) is None:
            # Deleted, or the caller removed, while the bytes were streaming in.
            self.fs.delete([file_id])
            self._require_member(group_id, caller)
            raise UnauthorizedAccessError(FORBIDDEN_MEMBER)  # removed, then added again
        self._emit(ChangeKind.FILE_UPLOADED, group_id, caller, file_id=file_id)
        return UploadedFile(
            file_id=file_id,
            name=name,
            mime_type=mime_type,
            size=stored.size,
            created_at=created_at,
            sha256=stored.sha256,
            group_id=group_id,
        )

    def list_uploaded_files(
        self, group_id: str, *, caller: str | None = None
    ) -> list[UploadedFile]:
        """The group's files in upload order.

        A trusted caller's listing is one read; only an empty one costs a
        second, to tell an unknown group from a group without files.
        """
        if caller is not None:
            self._require_member(group_id, caller)
        files = self.fs.list_for_group(group_id)
        if not files and caller is None:
            self._require_member(group_id, None)
        return files

    def list_uploads(self, groups: Iterable[Group]) -> dict[str, list[UploadedFile]]:
        """The files of several groups already read (one round trip): group id -> files.

        Only whole ``Group`` objects are accepted, which the library hands out
        to members (and trusted callers) alone.
        """
        ids = [group.group_id for group in groups if isinstance(group, Group)]
        return self.fs.list_for_groups(ids)

    def get_uploaded_file(
        self, group_id: str, file_id: str, *, caller: str | None = None
    ) -> FileHandle:
        """A handle whose ``open()`` streams the bytes; a file of another group is unknown."""
        if caller is not None:
            self._require_member(group_id, caller)
        doc = self.fs.find_file(group_id, file_id)
        if doc is None:
            if caller is None:
                self._require_member(group_id, None)
            raise UnknownFileError(file_id)
        uploaded = file_from_document(doc)
        fs = self.fs
        return FileHandle(
            file_id=uploaded.file_id,
            group_id=group_id,
            name=uploaded.name,
            mime_type=uploaded.mime_type,
            created_at=uploaded.created_at,
            sha256=uploaded.sha256,
            length=uploaded.size,
            _opener=lambda: fs.open_document(doc),
        )

    def delete_file(self, group_id: str, file_id: str, *, caller: str | None = None) -> None:
        """Delete one file: its listing (the GridFS files document) first, then the bytes."""
        if caller is not None:
            self._require_member(group_id, caller)
        if not self.fs.remove(group_id, file_id):
            self._require_member(group_id, None)
            raise UnknownFileError(file_id)
        self._emit(ChangeKind.FILE_DELETED, group_id, caller, file_id=file_id)

    # -- changes and checks ---------------------------------------------------

    def _emit(
        self,
        kind: ChangeKind,
        group_id: str,
        caller: str | None,
        *,
        file_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """Announce a write that succeeded (after it: a refused write announces nothing)."""
        self.changes.publish(Change(kind, group_id, file_id, user_id=user_id, by=caller))

    def _require_member(self, group_id: str, caller: str | None) -> Access:
        """The group's access list: UNKNOWN_GROUP, then FORBIDDEN for a non-member caller."""
        access = self.groups.access(group_id)
        if access is None:
            raise UnknownWorkflowGroupError(group_id)
        if caller is not None and caller not in access.member_ids:
            raise UnauthorizedAccessError(FORBIDDEN_MEMBER)
        return access

    def _explain(self, group_id: str, caller: str | None, owner_only: bool) -> Access:
        """Why a conditional write matched nothing: UNKNOWN_GROUP or FORBIDDEN (one read)."""
        access = self._require_member(group_id, None)
        if caller is not None and owner_only and access.owner_id != caller:
            raise UnauthorizedAccessError(FORBIDDEN_OWNER)
        return access

    def _pull(
        self,
        group_id: str,
        user_id: str,
        caller: str | None,
        leaving: bool,
        attempts: int = WRITE_ATTEMPTS,
        missed: bool = False,
    ) -> Group:
        """Remove ``user_id`` from the members, never the owner.

        One read finds the exact member entry (the element storage removes:
        see ``GroupCollection.remove_member``) and the reason for a refusal; the
        write's filter then checks again that the caller still owns the group
        (or, when leaving, that the leaver does not) and that the entry is still
        there. A write that
        matched nothing (``missed``) is followed by the same read: if the member
        is gone, the removal is done (this write's or another's: a miss alone
        does not say the write did nothing), else it is tried again.
        """
        group = self.groups.get(group_id)
        if group is None:
            raise UnknownWorkflowGroupError(group_id)
        if missed and not group.is_member(user_id):
            # Perhaps this write's doing: announced (an extra event is harmless, a lost one not).
            self._emit(ChangeKind.GROUP_UPDATED, group_id, caller, user_id=user_id)
            return group
        if leaving and not group.is_member(user_id):
            raise UnauthorizedAccessError(FORBIDDEN_MEMBER)
        if not leaving and caller is not None and group.owner_id != caller:
            raise UnauthorizedAccessError(FORBIDDEN_OWNER)
        if group.owner_id == user_id:
            raise ConstraintViolationError("the owner cannot leave: transfer ownership first")
        member = next((m for m in group.members if m.user_id == user_id), None)
        if member is None:
            raise ConstraintViolationError(f"user '{user_id}' is not a member of the group")
        # The caller must still own the group; a leaver (or a trusted caller's removal)
        # only needs the member not to be its owner.
        updated = self.groups.remove_member(group_id, member, owner=None if leaving else caller)
        if updated is not None:
            self._emit(ChangeKind.GROUP_UPDATED, group_id, caller, user_id=user_id)
            return updated
        if attempts <= 1:
            raise StoreUnavailableError(f"group '{group_id}' kept changing; try again")
        # Changed between the read and the write: the next read says why.
        return self._pull(group_id, user_id, caller, leaving, attempts - 1, missed=True)

    @staticmethod
    def _full(group: GroupSummary) -> Group:
        if not isinstance(group, Group):
            raise UnauthorizedAccessError(FORBIDDEN_OWNER)
        return group

    def _shared_with(
        self, user_id: str | None, caller: str | None
    ) -> tuple[str | None, bool | None]:
        """Membership privacy: (the member a listing must also have, whether ``user_id``
        is an active user; None: not read).

        Listing another user's groups shows who they work with, so a caller
        sees only the groups they share with that user (where they are a member
        anyway); an administrator sees all of them. One round trip reads both
        users (whether the caller is an administrator, whether the user
        exists), so an empty listing needs no other read of the user.
        """
        if caller is None or user_id is None or user_id == caller:
            return None, None
        users = {user.user_id: user for user in self.users.get_users([user_id, caller])}
        listed, acting = users.get(user_id), users.get(caller)
        admin = acting is not None and acting.active and acting.is_admin
        return (None if admin else caller), listed is not None and listed.active

    def _check_filters(
        self, workflow_id: str | None, user_id: str | None, user_known: bool | None = None
    ) -> None:
        """UnknownWorkflowError / UnknownUserError for a filter naming nothing
        (``user_known``: the user's existence is already known, no read needed)."""
        if workflow_id is not None and not self.directory.workflow_exists(workflow_id):
            raise UnknownWorkflowError(workflow_id)
        if user_id is not None and user_known is None:
            self.directory.members([user_id])
        elif user_id is not None and not user_known:
            raise UnknownUserError(user_id)
