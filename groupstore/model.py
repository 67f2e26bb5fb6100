"""The domain: plain dataclasses, free of any driver type.

Converting to and from MongoDB documents happens in one place,
``groupstore.storage.documents``.
"""

from __future__ import annotations

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
    """A workflow template that groups are created for."""

    workflow_id: str
    name: str
    description: str | None
    workflow_spec: JSON
    parameters: dict[str, Parameter]
    created_at: datetime


@dataclass(frozen=True)
class UploadedFile:
    """Metadata of a file uploaded to a group; the bytes live in GridFS."""

    file_id: str
    name: str
    mime_type: str
    size: int
    created_at: datetime
    sha256: str


@dataclass(frozen=True)
class Group:
    """A workflow group: one MongoDB document with everything embedded."""

    group_id: str
    name: str
    workflow_id: str
    owner_id: str
    members: list[str]
    parameters: dict[str, Parameter]
    workflow_spec: JSON
    engine_config: JSON
    uploads: list[UploadedFile]
    created_at: datetime
    updated_at: datetime

    def is_member(self, user_id: str | None) -> bool:
        """Whether the user belongs to the group (``None`` never does)."""
        return user_id is not None and user_id in self.members


@dataclass(frozen=True)
class FileHandle:
    """An uploaded file ready to be read; ``open()`` streams it from GridFS."""

    file_id: str
    group_id: str
    name: str
    mime_type: str
    size: int
    created_at: datetime
    sha256: str
    _opener: Callable[[], IO[bytes]] = field(repr=False, compare=False)

    def open(self) -> IO[bytes]:
        """A readable binary stream (also a context manager), read chunk by chunk."""
        return self._opener()
