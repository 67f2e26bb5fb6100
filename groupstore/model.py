"""The domain: plain dataclasses, free of any driver type.

Converting to and from MongoDB documents happens in one place,
``groupstore.storage.documents``. The shapes follow flowserv-core's, so that
code written against flowserv runs on what groupstore returns: a group's
``members`` are objects with ``user_id`` and ``name``, a ``FileHandle`` has
``open()`` and ``size()`` like flowserv's ``IOHandle``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from groupstore.parameters import Parameter

JSON = Any
"""A JSON-compatible value: dict (str keys), list, str, int, float, bool or None."""


@dataclass(frozen=True)
class User:
    """A registered user. Passwords and API keys never appear here."""

    user_id: str
    username: str
    active: bool
    created_at: datetime
    is_admin: bool = False
    """Administrators create and delete workflows and activate other users."""


@dataclass(frozen=True)
class ApiKey:
    """The result of a login: the plain token is shown once, only its hash is stored."""

    token: str
    user: User
    expires_at: datetime

    @property
    def user_id(self) -> str:
        return self.user.user_id

    def __repr__(self) -> str:
        # Keep tokens out of logs and tracebacks.
        return f"ApiKey(user_id={self.user_id!r}, expires_at={self.expires_at!r}, token=***)"


@dataclass(frozen=True)
class Workflow:
    """A workflow template that groups are created for.

    ``parameters``, ``workflow_spec`` and ``engine_config`` are the defaults a
    new group takes when its creator gives none.
    """

    workflow_id: str
    name: str
    description: str | None
    workflow_spec: JSON
    parameters: dict[str, Parameter]
    created_at: datetime
    engine_config: JSON = None


@dataclass(frozen=True)
class Member:
    """A member (or the owner) of a group: the user's id and name, embedded in the group.

    ``name`` is flowserv's attribute for the user name; ``username`` is groupstore's.
    """

    user_id: str
    username: str

    @property
    def name(self) -> str:
        return self.username


@dataclass(frozen=True)
class UploadedFile:
    """Metadata of a file uploaded to a group; the bytes live in GridFS."""

    file_id: str
    name: str
    mime_type: str
    size: int
    created_at: datetime
    sha256: str
    group_id: str


@dataclass(frozen=True)
class GroupSummary:
    """What anyone may see of a group: its id, name, workflow and timestamps.

    A caller who is not a member gets this; members get the whole ``Group``.
    """

    group_id: str
    name: str
    workflow_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Group(GroupSummary):
    """A workflow group: one MongoDB document with its members, parameters, spec and config.

    ``uploads`` (the group's files, in upload order) live in documents of their
    own; they are read on first access, once, and kept.
    """

    owner_id: str
    members: list[Member]
    parameters: dict[str, Parameter]
    workflow_spec: JSON
    engine_config: JSON
    _uploads: Callable[[], list[UploadedFile]] | list[UploadedFile] = field(
        default_factory=list, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def owner(self) -> Member:
        """The member who owns the group (rename, membership, delete, transfer)."""
        for member in self.members:
            if member.user_id == self.owner_id:
                return member
        # Only a trusted caller's seed-style update_group can get here (the
        # owner is kept a member by every rule-checked call).
        return Member(user_id=self.owner_id, username="")

    @property
    def member_ids(self) -> list[str]:
        return [member.user_id for member in self.members]

    @property
    def uploads(self) -> list[UploadedFile]:
        """The group's files in upload order (one read on first access)."""
        with self._lock:
            if callable(self._uploads):
                object.__setattr__(self, "_uploads", self._uploads())
            return list(self._uploads)  # type: ignore[arg-type]

    def is_member(self, user_id: str | None) -> bool:
        """Whether the user belongs to the group (``None`` never does)."""
        return user_id is not None and user_id in self.member_ids


@dataclass(frozen=True)
class FileHandle:
    """An uploaded file ready to be read: flowserv's ``IOHandle`` (``open()``, ``size()``).

    ``open()`` returns a binary stream (also a context manager) that reads the
    bytes from GridFS chunk by chunk.
    """

    file_id: str
    group_id: str
    name: str
    mime_type: str
    created_at: datetime
    sha256: str
    length: int
    _opener: Callable[[], IO[bytes]] = field(repr=False, compare=False)

    def open(self) -> IO[bytes]:
        """A readable, seekable binary stream over the file's bytes."""
        return self._opener()

    def size(self) -> int:
        """The file's size in bytes (a method, as flowserv's ``IOHandle.size()``)."""
        return self.length
