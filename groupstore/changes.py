"""Changes to the store, as plain events (``GroupStore.watch_changes``).

A ``Change`` says what happened to which group (and file), not what the
group looks like now: whoever reacts to it reads the group again. That
keeps the events small and makes a missed or coalesced event harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ChangeKind(str, Enum):
    GROUP_UPDATED = "GROUP_UPDATED"
    """The group document changed: name, members, or anything else."""
    GROUP_DELETED = "GROUP_DELETED"
    FILE_UPLOADED = "FILE_UPLOADED"
    FILE_DELETED = "FILE_DELETED"
    SESSION_ENDED = "SESSION_ENDED"
    """An API key ended (logout, expiry): sessions should check that theirs is still valid."""


@dataclass(frozen=True)
class Change:
    """One change: its kind, the group (None for SESSION_ENDED) and the file, when known."""

    kind: ChangeKind
    group_id: str | None = None
    file_id: str | None = None
    user_id: str | None = None
    """SESSION_ENDED: whose key ended, when known (None: possibly anyone's)."""
