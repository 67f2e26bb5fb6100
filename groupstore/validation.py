"""Validation rules shared by the managers (pure functions, no I/O)."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable

from groupstore.errors import ConstraintViolationError

MAX_NAME_LENGTH = 512
IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,32}")
DEFAULT_MIME_TYPE = "application/octet-stream"


def validate_name(name: object, what: str = "name") -> str:
    """The stripped name; non-empty and at most 512 characters."""
    if name is None:
        raise ConstraintViolationError(f"missing {what}")
    if not isinstance(name, str):
        raise ConstraintViolationError(f"{what} must be a string")
    stripped = name.strip()
    if not stripped:
        raise ConstraintViolationError(f"{what} must not be blank")
    if len(stripped) > MAX_NAME_LENGTH:
        raise ConstraintViolationError(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    return stripped


def validate_identifier(identifier: object) -> str | None:
    """None, or 1-32 characters of ``[A-Za-z0-9_]``."""
    if identifier is None:
        return None
    if not isinstance(identifier, str) or not IDENTIFIER.fullmatch(identifier):
        raise ConstraintViolationError(
            f"invalid identifier {identifier!r}: use 1-32 characters of A-Z, a-z, 0-9 and _"
        )
    return identifier


def validate_file_name(name: object) -> str:
    """A plain file name: no path separators, NUL or ``..``; not blank; at most 512 characters."""
    if not isinstance(name, str):
        raise ConstraintViolationError("file name must be a string")
    if not name.strip():
        raise ConstraintViolationError("file name must not be blank")
    if len(name) > MAX_NAME_LENGTH:
        raise ConstraintViolationError(f"file name is longer than {MAX_NAME_LENGTH} characters")
    if any(bad in name for bad in ("/", "\\", "\x00")) or ".." in name:
        raise ConstraintViolationError(
            f"invalid file name {name!r}: a plain name without '/', '\\', NUL or '..'"
        )
    return name


def guess_mime_type(name: str) -> str:
    """The MIME type for a file name, from its extension only."""
    mime_type, _ = mimetypes.guess_type(name, strict=False)
    return mime_type or DEFAULT_MIME_TYPE


def validate_user_ids(user_ids: object, what: str = "members") -> list[str]:
    """A list of user id strings, duplicates collapsed, first-seen order kept."""
    if isinstance(user_ids, (str, bytes)) or not isinstance(user_ids, Iterable):
        raise ConstraintViolationError(f"{what} must be a list of user ids")
    result: dict[str, None] = {}
    for user_id in user_ids:
        if not isinstance(user_id, str):
            raise ConstraintViolationError(f"{what} must be a list of user ids")
        result[user_id] = None
    return list(result)
