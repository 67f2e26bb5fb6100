"""The one place where driver exceptions become groupstore errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import (
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from groupstore.errors import (
    ConstraintViolationError,
    GroupStoreError,
    StoreUnavailableError,
)

log = logging.getLogger("groupstore")

DuplicateResolver = Callable[[str | None], GroupStoreError]
"""Builds the error for a duplicate key, given the violated index's name (when known)."""


def violated_index(exc: DuplicateKeyError) -> str | None:
    """The name of the unique index a write violated, when the server says so.

    MongoDB reports ``keyPattern`` and names the index in ``errmsg``; mongomock
    reports neither, so callers must cope with ``None``.
    """
    details: Mapping[str, Any] = exc.details or {}
    key_pattern: dict[str, Any] = details.get("keyPattern") or {}
    if list(key_pattern) == ["_id"]:
        return "_id_"
    errmsg = str(details.get("errmsg") or "")
    marker = "index: "
    if marker in errmsg:
        return errmsg.split(marker, 1)[1].split(" ", 1)[0]
    return None


TOO_LARGE = "the document is too large to store (MongoDB documents are limited to 16 MiB)"
# What MongoDB itself answers for a document the driver let through (up to 16 MiB
# + 16 KiB) or an update that would grow one past 16 MiB: BSONObjectTooLarge,
# and "document too large" on update.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
# FerretDB on PostgreSQL cannot put "\u0000" in jsonb, even in a query's filter
# (an id with NUL in it): SQLSTATE 22P05. The caller's value is at fault.
_BACKEND_NUL_MESSAGES = ("(SQLSTATE 22P05)", "unsupported Unicode escape sequence")
# FerretDB 1.x reports a unique index violated by an *update* as InternalError
# (code 1) carrying its backend's message, not as DuplicateKeyError (11000).
_BACKEND_UNIQUE_MESSAGES = ("UNIQUE constraint failed", "violates unique constraint")


# FerretDB on SQLite answers a write that waited longer than its busy timeout (10 s) for
# the database file's write lock with InternalError "database is locked (5) (SQLITE_BUSY)"
# (seen under load on deletes): the server is overloaded, not broken, and nothing was
# written by that command. Unavailable, then, not an internal error: try again.
_BACKEND_BUSY_MESSAGES = ("(SQLITE_BUSY)", "database is locked")


def is_busy(exc: OperationFailure) -> bool:
    """Whether the server refused a command because it is too busy right now (FerretDB)."""
    return any(text in str(exc) for text in _BACKEND_BUSY_MESSAGES)


def is_unique_violation(exc: OperationFailure) -> bool:
    """Whether a write failed on a unique index (MongoDB's 11000, or FerretDB's form of it)."""
    if exc.code == 11000:
        return True
    return exc.code == 1 and any(text in str(exc) for text in _BACKEND_UNIQUE_MESSAGES)


def short_reason(exc: Exception) -> str:
    """The driver's message without its topology dump (``..., Timeout: 5s, Topology ...``)."""
    text = str(exc)
    for marker in (", Timeout: ", ", Topology Description: "):
        text = text.split(marker, 1)[0]
    text = text.split(" (configured timeouts:", 1)[0]
    return text.strip() or type(exc).__name__


@contextmanager
def translated(on_duplicate: DuplicateResolver | None = None) -> Iterator[None]:
    """Run driver calls, turning every driver exception into a ``GroupStoreError``."""
    try:
        yield
    except GroupStoreError:
        raise
    except DuplicateKeyError as exc:
        if on_duplicate is None:
            raise ConstraintViolationError("duplicate key") from exc
        raise on_duplicate(violated_index(exc)) from exc
    except DocumentTooLarge as exc:
        raise ConstraintViolationError(TOO_LARGE) from exc
    except OperationFailure as exc:
        if exc.code in _TOO_LARGE_CODES:
            raise ConstraintViolationError(TOO_LARGE) from exc
        if any(text in str(exc) for text in _BACKEND_NUL_MESSAGES):
            raise ConstraintViolationError(
                "a value contains the NUL character, which this server cannot store or query"
            ) from exc
        if is_busy(exc):
            raise StoreUnavailableError(f"the database is busy: {exc}") from exc
        if not is_unique_violation(exc):
            raise GroupStoreError(f"database error: {exc}") from exc
        if on_duplicate is None:
            raise ConstraintViolationError("duplicate key") from exc
        raise on_duplicate(None) from exc
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as exc:
        # ConnectionFailure covers ServerSelectionTimeoutError, AutoReconnect
        # and NetworkTimeout: the server is down, unreachable or too slow.
        # pymongo appends its whole topology description to the message: keep that
        # for debugging, and give callers (and one-line CLI errors) the first part.
        log.debug("the database is unavailable: %s", exc)
        raise StoreUnavailableError(f"the database is unavailable: {short_reason(exc)}") from exc
    except PyMongoError as exc:
        raise GroupStoreError(f"database error: {exc}") from exc


def insert_unique(collection: Collection[Any], document: dict[str, Any], name_taken: str) -> None:
    """Insert a document whose ``_id`` and name are unique by index.

    A clash raises ConstraintViolationError saying which: the identifier, or
    ``name_taken`` for the name.
    """

    def duplicate(index: str | None) -> GroupStoreError:
        if index is None:  # neither mongomock nor FerretDB say which index: ask (error path only)
            with translated():
                found = collection.find_one({"_id": document["_id"]}, {"_id": 1})
            index = "_id_" if found else None
        if index == "_id_":
            return ConstraintViolationError(f"identifier '{document['_id']}' is already used")
        return ConstraintViolationError(name_taken)

    with translated(on_duplicate=duplicate):
        collection.insert_one(document)
