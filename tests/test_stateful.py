"""Random call sequences against a plain in-memory model: failed calls change nothing.

Hypothesis drives create / rename / update-members / upload / delete-file /
delete-group, with invalid arguments mixed in (blank and taken names, unknown
and inactive users, unknown groups and files, bad file names). After every
step the store must match the model exactly, down to GridFS: every listed file
reads back in full and no GridFS file or chunk exists without its metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import groupstore
from groupstore import (
    ConstraintViolationError,
    GroupStoreError,
    UnknownFileError,
    UnknownUserError,
    UnknownWorkflowGroupError,
)
from tests.backend import MONGO_URI, PASSWORD, new_store_uri
from tests.support import cheap_hashing

NAMES = st.sampled_from(["a", "b", "c", " a ", "", "   ", "x" * 513])
FILE_NAMES = st.sampled_from(["f.txt", "g.json", "", "../x", "a/b"])
DATA = st.binary(max_size=600)


@dataclass
class ModelGroup:
    name: str
    workflow_id: str
    members: list[str]
    owner: str
    files: dict[str, bytes] = field(default_factory=dict)  # insertion order = upload order


class GroupStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        uri, database = new_store_uri()
        self.store = cheap_hashing(groupstore.connect(uri, database=database))
        # A small chunk size so that a few hundred bytes already span chunks.
        self.store.groups.fs.chunk_size = 128
        self.model: dict[str, ModelGroup] = {}

    @initialize()
    def setup(self) -> None:
        users = self.store.users
        self.active = [users.register_user(n, PASSWORD).user_id for n in ("u1", "u2", "u3")]
        self.inactive = users.register_user("pending", PASSWORD, verify=True).user_id
        self.workflows = [self.store.workflows.create_workflow(n).workflow_id for n in "AB"]

    def teardown(self) -> None:
        if MONGO_URI:
            self.store.client.drop_database(self.store.db.name)
        self.store.close()

    # -- strategies over the current state ------------------------------------

    def _user(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.active, self.inactive, "ghost"]))

    def _group_id(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([*self.model, "no-such-group"]))

    def _taken(self, workflow_id: str, name: str, except_id: str | None = None) -> bool:
        return any(
            g.workflow_id == workflow_id and g.name == name and gid != except_id
            for gid, g in self.model.items()
        )

    # -- rules ------------------------------------------------------------------

    @rule(data=st.data(), name=NAMES)
    def create_group(self, data: st.DataObject, name: str) -> None:
        workflow_id = data.draw(st.sampled_from(self.workflows))
        owner = self._user(data)
        members = [self._user(data) for _ in range(data.draw(st.integers(0, 3)))]
        expected = _name_error(name) or _user_error([owner, *members], self.active)
        if expected is None and self._taken(workflow_id, name.strip()):
            expected = ConstraintViolationError
        try:
            group = self.store.groups.create_group(
                workflow_id, name, [], {}, user_id=owner, members=members
            )
        except GroupStoreError as exc:
            assert expected is not None and isinstance(exc, expected), (exc, expected)
            return
        assert expected is None
        self.model[group.group_id] = ModelGroup(
            name.strip(), workflow_id, list(dict.fromkeys([owner, *members])), owner
        )

    @rule(data=st.data(), name=NAMES)
    def rename(self, data: st.DataObject, name: str) -> None:
        group_id = self._group_id(data)
        group = self.model.get(group_id)
        expected = _name_error(name) or (None if group else UnknownWorkflowGroupError)
        if expected is None and group and self._taken(group.workflow_id, name.strip(), group_id):
            expected = ConstraintViolationError
        self._expect(expected, lambda: self.store.groups.update_group(group_id, name=name))
        if expected is None and group:
            group.name = name.strip()

    @rule(data=st.data())
    def update_members(self, data: st.DataObject) -> None:
        group_id = self._group_id(data)
        members = [self._user(data) for _ in range(data.draw(st.integers(0, 3)))]
        expected = _user_error(members, self.active) or (
            None if group_id in self.model else UnknownWorkflowGroupError
        )
        if expected is None and self.model[group_id].owner not in members:
            expected = ConstraintViolationError  # the owner must stay a member
        self._expect(expected, lambda: self.store.groups.update_group(group_id, members=members))
        if expected is None:
            self.model[group_id].members = list(dict.fromkeys(members))

    @rule(data=st.data(), name=FILE_NAMES, content=DATA)
    def upload(self, data: st.DataObject, name: str, content: bytes) -> None:
        group_id = self._group_id(data)
        if group_id not in self.model:
            expected: type[GroupStoreError] | None = UnknownWorkflowGroupError
        else:
            expected = None if name in ("f.txt", "g.json") else ConstraintViolationError
        try:
            file = self.store.groups.upload_file(group_id, content, name)
        except GroupStoreError as exc:
            assert expected is not None and isinstance(exc, expected), (exc, expected)
            return
        assert expected is None
        self.model[group_id].files[file.file_id] = content

    @rule(data=st.data())
    def delete_file(self, data: st.DataObject) -> None:
        group_id = self._group_id(data)
        group = self.model.get(group_id)
        all_files = [fid for g in self.model.values() for fid in g.files]
        file_id = data.draw(st.sampled_from([*all_files, "no-such-file"]))
        if group is None:
            expected: type[GroupStoreError] | None = UnknownWorkflowGroupError
        else:
            expected = None if file_id in group.files else UnknownFileError
        self._expect(expected, lambda: self.store.groups.delete_file(group_id, file_id))
        if expected is None:
            del self.model[group_id].files[file_id]

    @rule(data=st.data())
    def delete_group(self, data: st.DataObject) -> None:
        group_id = self._group_id(data)
        expected = None if group_id in self.model else UnknownWorkflowGroupError
        self._expect(expected, lambda: self.store.groups.delete_group(group_id))
        self.model.pop(group_id, None)

    def _expect(self, expected: type[GroupStoreError] | None, call: Callable[[], object]) -> None:
        try:
            call()
        except GroupStoreError as exc:
            assert expected is not None and isinstance(exc, expected), (exc, expected)
        else:
            assert expected is None, f"expected {expected.__name__}"

    # -- the store equals the model ---------------------------------------------

    @invariant()
    def store_matches_model(self) -> None:
        if not hasattr(self, "workflows"):
            return
        groups = self.store.groups.list_groups()
        assert [g.group_id for g in groups] == list(self.model)
        for group in groups:
            expected = self.model[group.group_id]
            assert (group.name, group.workflow_id, group.member_ids) == (
                expected.name,
                expected.workflow_id,
                expected.members,
            )
            assert [f.file_id for f in group.uploads] == list(expected.files)
            for file_id, content in expected.files.items():
                handle = self.store.groups.get_uploaded_file(group.group_id, file_id)
                with handle.open() as stream:
                    assert stream.read() == content

    @invariant()
    def gridfs_has_nothing_without_metadata(self) -> None:
        listed = {fid for g in self.model.values() for fid in g.files}
        db = self.store.db
        assert set(db["fs.files"].distinct("_id")) == listed
        assert set(db["fs.chunks"].distinct("files_id")) <= listed


def _name_error(name: str) -> type[GroupStoreError] | None:
    stripped = name.strip()
    return ConstraintViolationError if not stripped or len(stripped) > 512 else None


def _user_error(user_ids: list[str], active: list[str]) -> type[GroupStoreError] | None:
    return None if all(uid in active for uid in user_ids) else UnknownUserError


GroupStoreMachine.TestCase.settings = settings(
    max_examples=60 if not MONGO_URI else 15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGroupStoreStateful = GroupStoreMachine.TestCase
