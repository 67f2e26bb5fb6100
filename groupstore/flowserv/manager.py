"""flowserv's ``WorkflowGroupManager`` on groupstore: groups in MongoDB, files in GridFS.

flowserv keeps users, workflows and runs in its SQL database, and its runs
reference groups by foreign key (``workflow_run.group_id`` ->
``workflow_group``), its rankings join runs to groups for the group's name.
So each group also has a thin *anchor* row in flowserv's ``workflow_group``
table: id, name, workflow id, and a copy of the group's parameters, spec and
engine config (which never change after creation), no owner, members or
uploads. groupstore's document is the group; the anchor is there for
flowserv's foreign keys and joins.

The two writes are ordered so that no group exists in one store and not the
other after a failure (docs/flowserv.md):

* create: the anchor is inserted (flushed, not committed), then the group
  document; the SQL transaction commits last. A failed group insert removes
  the anchor from the transaction; a failed commit deletes the group again.
* rename: the same order (anchor name, group, commit; undone the same way).
* delete: the anchor is deleted (flushed), then the group document; the SQL
  transaction commits, and only then go the group's files. A failed document
  delete rolls the transaction back; a failed commit puts the document back.

When the undo fails too (both stores down at once), ``repair`` finds and
removes what is left over.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import IO, Any

from flowserv.model.base import GroupObject, RunObject, WorkflowObject
from flowserv.model.files import FileHandle as FlowservFileHandle
from flowserv.model.template.parameter import ParameterIndex
from flowserv.volume.base import IOHandle
from sqlalchemy.exc import IntegrityError

import groupstore
from groupstore.errors import (
    ConstraintViolationError,
    UnknownUserError,
    UnknownWorkflowError,
    UnknownWorkflowGroupError,
)
from groupstore.flowserv.directory import SessionDirectory
from groupstore.flowserv.errors import raises_flowserv
from groupstore.model import FileHandle, Group, Member, UploadedFile
from groupstore.storage.schema import mark_directory
from groupstore.store import GroupStore
from groupstore.validation import validate_identifier, validate_name

log = logging.getLogger(__name__)

_default_store: GroupStore | None = None


_MARKED: weakref.WeakSet[GroupStore] = weakref.WeakSet()
"""Stores already marked as keeping flowserv's groups (``mark_directory``) by this process."""


def default_store() -> GroupStore:
    """The process's store from ``GROUPSTORE_MONGO_URI`` / ``GROUPSTORE_DATABASE`` (once)."""
    global _default_store
    if _default_store is None:
        _default_store = groupstore.connect()
    return _default_store


def flowserv_parameters(group: Group) -> Any:
    """The group's parameters as flowserv's ``ParameterIndex``."""
    return ParameterIndex.from_dict([p.to_dict() for p in group.parameters.values()])


@dataclass(frozen=True)
class Upload:
    """An uploaded file as flowserv's serializer reads it (``created_at``: an ISO string)."""

    file_id: str
    name: str
    mime_type: str
    size: int
    created_at: str
    group_id: str
    sha256: str

    @classmethod
    def of(cls, uploaded: UploadedFile) -> Upload:
        return cls(
            file_id=uploaded.file_id,
            name=uploaded.name,
            mime_type=uploaded.mime_type,
            size=uploaded.size,
            created_at=uploaded.created_at.isoformat(),
            group_id=uploaded.group_id,
            sha256=uploaded.sha256,
        )


class GridFSHandle(IOHandle):  # type: ignore[misc]
    """A GridFS file as flowserv's ``IOHandle``: volumes copy it into a run's folder."""

    def __init__(self, handle: FileHandle) -> None:
        self.handle = handle

    def open(self) -> IO[bytes]:
        return self.handle.open()

    def size(self) -> int:
        return self.handle.size()


class FlowservGroup:
    """A groupstore group with the attributes flowserv reads from its ``GroupObject``."""

    def __init__(self, group: Group, session: Any) -> None:
        self.group = group
        self.session = session
        self.group_id = group.group_id
        self.name = group.name
        self.workflow_id = group.workflow_id
        self.owner_id = group.owner_id
        self.members: list[Member] = group.members
        self.workflow_spec = group.workflow_spec
        self.engine_config = group.engine_config

    @property
    def owner(self) -> Member:
        return self.group.owner

    @cached_property
    def parameters(self) -> Any:
        return flowserv_parameters(self.group)

    @property
    def uploads(self) -> list[Upload]:
        return [Upload.of(f) for f in self.group.uploads]

    @cached_property
    def workflow(self) -> Any:
        """flowserv's workflow object (the run service reads its template)."""
        return self.session.get(WorkflowObject, self.workflow_id)

    @property
    def runs(self) -> list[Any]:
        return list(self.session.query(RunObject).filter(RunObject.group_id == self.group_id))


class WorkflowGroupManager:
    """flowserv's group manager (same constructor and methods) on a ``groupstore.GroupStore``.

    ``session``: flowserv's SQL session (users, workflows, group anchors).
    ``fs``: a ``GroupStore``, or flowserv's volume (ignored: files go to
    GridFS), in which case ``store`` or the process's default store is used.
    ``users``: accepted for flowserv's signature; members are looked up in
    the session (one query for all of them).
    """

    def __init__(
        self,
        session: Any,
        fs: Any = None,
        users: Any = None,
        *,
        store: GroupStore | None = None,
    ) -> None:
        self.session = session
        self.users = users
        if store is None:
            store = fs if isinstance(fs, GroupStore) else default_store()
        self.store = store
        if store not in _MARKED:  # once per store and process: this store's groups are flowserv's
            mark_directory(store.storage, "flowserv")
            _MARKED.add(store)
        self.directory = SessionDirectory(session)
        self.manager = groupstore.WorkflowGroupManager(
            store.storage, users=store.users, directory=self.directory
        )

    # -- groups ---------------------------------------------------------------

    @raises_flowserv
    def create_group(
        self,
        workflow_id: str,
        name: str,
        parameters: Any = None,
        workflow_spec: Any = None,
        user_id: str | None = None,
        members: Iterable[str] | None = None,
        engine_config: Any = None,
        identifier: str | None = None,
    ) -> FlowservGroup:
        group_id = validate_identifier(identifier) or uuid.uuid4().hex
        validate_name(name)
        if user_id is None:
            raise UnknownUserError("none")
        anchor = GroupObject(
            group_id=group_id,
            name=name,
            workflow_id=workflow_id,
            parameters=ParameterIndex(),
            workflow_spec={},
        )
        self._insert_anchor(anchor)
        try:
            group = self.manager.create_group(
                workflow_id,
                name,
                parameters,
                workflow_spec,
                user_id=user_id,
                members=members,
                engine_config=engine_config,
                identifier=group_id,
            )
        except BaseException:
            self._undo_flush(lambda: self.session.delete(anchor))
            raise
        anchor.name = group.name
        anchor.parameters = flowserv_parameters(group)
        anchor.workflow_spec = group.workflow_spec
        anchor.engine_config = group.engine_config
        self._commit(undo=lambda: self.manager.delete_group(group_id))
        return FlowservGroup(group, self.session)

    @raises_flowserv
    def get_group(self, group_id: str) -> FlowservGroup:
        return FlowservGroup(self.manager.get_group(group_id), self.session)

    @raises_flowserv
    def list_groups(
        self, workflow_id: str | None = None, user_id: str | None = None
    ) -> list[FlowservGroup]:
        groups = self.manager.list_groups(workflow_id=workflow_id, user_id=user_id)
        return [FlowservGroup(group, self.session) for group in groups]

    @raises_flowserv
    def update_group(
        self, group_id: str, name: str | None = None, members: Iterable[str] | None = None
    ) -> FlowservGroup:
        anchor = None if name is None else self.session.get(GroupObject, group_id)
        if anchor is None or name is None:
            return FlowservGroup(self.manager.update_group(group_id, name, members), self.session)
        old_name = anchor.name
        anchor.name = validate_name(name)
        self.session.flush()
        try:
            group = self.manager.update_group(group_id, name, members)
        except BaseException:
            self._undo_flush(lambda: setattr(anchor, "name", old_name))
            raise
        self._commit(undo=lambda: self.manager.update_group(group_id, name=old_name))
        return FlowservGroup(group, self.session)

    @raises_flowserv
    def delete_group(self, group_id: str) -> None:
        """Delete the group, its runs (flowserv's cascade) and its files."""
        group = self.manager.get_group(group_id)
        storage = self.store.storage
        anchor = self.session.get(GroupObject, group_id)
        if anchor is not None:
            self.session.delete(anchor)
            self.session.flush()
        try:
            if not storage.groups.delete(group_id):
                raise UnknownWorkflowGroupError(group_id)  # deleted meanwhile
        except BaseException:
            self.session.rollback()
            raise
        self._commit(undo=lambda: storage.groups.insert(storage.groups.prepare(group)))
        storage.fs.delete(storage.fs.ids_for_groups([group_id]))

    # -- files ----------------------------------------------------------------

    @raises_flowserv
    def upload_file(self, group_id: str, file: Any, name: str) -> Upload:
        return Upload.of(self.manager.upload_file(group_id, file, name))

    @raises_flowserv
    def list_uploaded_files(self, group_id: str) -> list[Upload]:
        return [Upload.of(f) for f in self.manager.list_uploaded_files(group_id)]

    @raises_flowserv
    def get_uploaded_file(self, group_id: str, file_id: str) -> Any:
        """flowserv's ``FileHandle`` whose ``fileobj`` streams the bytes from GridFS."""
        handle = self.manager.get_uploaded_file(group_id, file_id)
        return FlowservFileHandle(
            name=handle.name, mime_type=handle.mime_type, fileobj=GridFSHandle(handle)
        )

    @raises_flowserv
    def delete_file(self, group_id: str, file_id: str) -> None:
        self.manager.delete_file(group_id, file_id)

    # -- the two stores -------------------------------------------------------

    def _insert_anchor(self, anchor: Any) -> None:
        """Insert the anchor row in the session's transaction (not committed)."""
        self.session.add(anchor)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            if not self.directory.workflow_exists(anchor.workflow_id):
                raise UnknownWorkflowError(anchor.workflow_id) from None
            raise ConstraintViolationError(f"group '{anchor.group_id}' exists") from None

    def _undo_flush(self, change: Callable[[], Any]) -> None:
        """Take the anchor change back within the transaction (all of it if that fails)."""
        try:
            change()
            self.session.flush()
        except Exception:
            log.exception("could not undo the anchor change; rolling back")
            self.session.rollback()

    def _commit(self, undo: Callable[[], Any]) -> None:
        """Commit the SQL side; if that fails, undo the MongoDB side."""
        try:
            self.session.commit()
        except BaseException:
            try:
                self.session.rollback()
            finally:
                try:
                    undo()
                except Exception:
                    log.exception("could not undo the groupstore write; run repair()")
            raise


@dataclass(frozen=True)
class RepairReport:
    """What ``repair`` fixed."""

    groups_deleted: list[str]
    anchors_deleted: list[str]
    anchors_renamed: list[str]
    store: groupstore.RepairReport
    """groupstore's own repair (orphan files and chunks, leases), with flowserv's workflows."""


def repair(
    session: Any, store: GroupStore, older_than: timedelta = timedelta(minutes=10)
) -> RepairReport:
    """Make both stores agree after a failure whose undo failed too.

    * a group without an anchor (a create whose commit and undo failed) is
      deleted, if created more than ``older_than`` ago (younger ones may be
      creates in progress);
    * an anchor without a group (a delete whose commit and undo failed) is
      deleted, with its runs;
    * an anchor whose name differs takes the group's name;

    then ``groupstore.repair`` with flowserv's workflows (files of deleted
    groups, chunks without a file, stale leases; groups of a deleted
    workflow). Use this, not ``groupstore repair``, on a flowserv store: that
    one checks groups against groupstore's own (empty) workflows.
    Assumes the store serves this flowserv database alone.
    """
    anchors = dict(session.query(GroupObject.group_id, GroupObject.name).all())
    groups = {g.group_id: g for g in store.groups.list_groups()}
    cutoff = datetime.now(timezone.utc) - older_than
    deleted = []
    for group_id, group in groups.items():
        created = group.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        if group_id not in anchors and created < cutoff:
            store.groups.delete_group(group_id)
            deleted.append(group_id)
    orphans = [group_id for group_id in anchors if group_id not in groups]
    renamed = [g for g, name in anchors.items() if g in groups and groups[g].name != name]
    for group_id in orphans:
        session.delete(session.get(GroupObject, group_id))
    for group_id in renamed:
        session.get(GroupObject, group_id).name = groups[group_id].name
    session.commit()
    report = groupstore.repair(store, grace=older_than, directory=SessionDirectory(session))
    return RepairReport(
        groups_deleted=deleted, anchors_deleted=orphans, anchors_renamed=renamed, store=report
    )
