"""Changes to the store, as plain events: what happened, to which group and file, by whom.

The managers emit a ``Change`` for every write they acknowledge, through the
``Publisher`` the store is built with (by default the store's change log,
``groupstore.storage.changes.ChangeLog``, which appends it to the database's
``changes`` collection, so every process sees it). A ``Change`` says what
happened, not what the group looks like now: whoever reacts to it reads the
group again. That keeps the events small and makes a duplicated or
coalesced event harmless. Read them with ``GroupStore.read_changes`` (a
polled, resumable cursor) or ``GroupStore.watch_changes`` (change streams,
on a MongoDB replica set).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol


class ChangeKind(str, Enum):
    GROUP_CREATED = "GROUP_CREATED"
    GROUP_UPDATED = "GROUP_UPDATED"
    """The group document changed: name, members, owner."""
    GROUP_DELETED = "GROUP_DELETED"
    FILE_UPLOADED = "FILE_UPLOADED"
    FILE_DELETED = "FILE_DELETED"
    WORKFLOW_CREATED = "WORKFLOW_CREATED"
    WORKFLOW_DELETED = "WORKFLOW_DELETED"
    """The workflow is gone; each of its groups has its own GROUP_DELETED."""
    SESSION_ENDED = "SESSION_ENDED"
    """API keys ended (logout, password change or reset, deactivation): sessions check theirs."""


@dataclass(frozen=True)
class Change:
    """One change: its kind, the group (None for SESSION_ENDED) and the file, when known."""

    kind: ChangeKind
    group_id: str | None = None
    file_id: str | None = None
    user_id: str | None = None
    """Whom it concerns: SESSION_ENDED, whose keys ended; a membership change, the member."""
    by: str | None = None
    """Who made it: the acting user (``caller``); None for a trusted caller."""
    workflow_id: str | None = None
    position: int | None = None
    """Where it is in the change log (increasing, one per change); None until published."""

    def at(self, position: int) -> Change:
        return replace(self, position=position)


class Publisher(Protocol):
    """Where the managers send the changes they made (a small port)."""

    def publish(self, change: Change) -> None: ...


class NoPublisher:
    """Publishes nothing (a store built without a change log)."""

    def publish(self, change: Change) -> None:
        """Nothing."""
