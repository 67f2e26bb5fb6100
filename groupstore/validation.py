"""Validation rules shared by the managers (pure functions, no I/O).

Names that people read (users, groups, workflows, files) are normalised to
NFC, so that one name has one stored form, and refused when they hold
characters that change how *other* text looks: control characters (NUL,
ANSI escapes, newlines), invisible format characters such as the
bidirectional overrides (``"c06\u202egpj.exe"`` shows as ``c06exe.jpg``),
line and paragraph separators, and lone surrogates. The zero-width joiner
and non-joiner stay allowed: Persian, Indic scripts and emoji sequences need them.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterable

from groupstore.errors import ConstraintViolationError

MAX_NAME_LENGTH = 512
MAX_PASSWORD_LENGTH = 1024  # Argon2 takes any length; this bounds the work a request can cause
DEFAULT_PASSWORD_MIN_LENGTH = 8
IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,32}")
DEFAULT_MIME_TYPE = "application/octet-stream"

# Cc control, Cf format (bidi overrides and marks, zero-width space, BOM...),
# Cs surrogate, Zl / Zp line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner, joiner


MAX_PAGE_SIZE = 1000
"""The most rows one page of ``list_groups_page`` / ``list_users_page`` returns."""


def validate_page_size(first: object) -> int:
    """``first`` when it is a page size from 0 to MAX_PAGE_SIZE (ConstraintViolationError)."""
    if not isinstance(first, int) or not 0 <= first <= MAX_PAGE_SIZE:
        raise ConstraintViolationError(f"page size must be between 0 and {MAX_PAGE_SIZE}")
    return first


def _refused_character(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _ALLOWED_FORMAT:
            return char
    return None


def _check_characters(text: str, what: str) -> str:
    """``text`` in NFC; ConstraintViolationError if it holds a refused character."""
    bad = _refused_character(text)  # before normalising: NFC would choke on lone surrogates
    if bad is not None:
        raise ConstraintViolationError(
            f"{what} contains the character U+{ord(bad):04X} "
            f"({unicodedata.name(bad, unicodedata.category(bad))}): control, "
            "invisible formatting and bidirectional characters are not allowed"
        )
    return unicodedata.normalize("NFC", text)


def validate_name(name: object, what: str = "name") -> str:
    """The stripped name in NFC; non-empty, at most 512 characters, no control or format
    characters (ConstraintViolationError otherwise)."""
    if name is None:
        raise ConstraintViolationError(f"missing {what}")
    if not isinstance(name, str):
        raise ConstraintViolationError(f"{what} must be a string")
    # Surrounding whitespace (a pasted newline) goes before the check; inner control does not.
    stripped = _check_characters(name.strip(), what)
    if not stripped:
        raise ConstraintViolationError(f"{what} must not be blank")
    if len(stripped) > MAX_NAME_LENGTH:
        raise ConstraintViolationError(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    return stripped


def validate_password(password: object, min_length: int = DEFAULT_PASSWORD_MIN_LENGTH) -> str:
    """The password exactly as given (never stripped or normalised): a string of
    ``min_length`` to 1024 characters, not only whitespace."""
    if not isinstance(password, str) or not password.strip():
        raise ConstraintViolationError("empty password")
    if len(password) < min_length:
        raise ConstraintViolationError(f"password is shorter than {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ConstraintViolationError(f"password is longer than {MAX_PASSWORD_LENGTH} characters")
    return password


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
    """A plain file name in NFC: no path separators, ``..``, control or format characters;
    not blank; at most 512 characters."""
    if not isinstance(name, str):
        raise ConstraintViolationError("file name must be a string")
    name = _check_characters(name, "file name")
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
