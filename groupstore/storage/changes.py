"""Watching the store's changes with MongoDB change streams.

One database-level change stream, filtered to the collections that matter
(groups, the GridFS files collection, API keys), turned into plain
``Change`` events by :func:`change_from_raw`, the one function to adapt
when the documents change shape.

Change streams need a replica set (or a sharded cluster). A standalone
MongoDB, FerretDB and mongomock have none: opening the feed raises
``ChangeStreamsUnsupportedError``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import mongomock
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from groupstore.changes import Change, ChangeKind
from groupstore.errors import ChangeStreamsUnsupportedError
from groupstore.storage.errors import translated

GROUPS = "groups"
API_KEYS = "api_keys"
DEFAULT_MAX_AWAIT_SECONDS = 1.0


def change_from_raw(raw: Mapping[str, Any], files_collection: str = "fs.files") -> Change | None:
    """The event of one raw change-stream document; None for changes nobody reacts to.

    A group document's delete is GROUP_DELETED, any other change of it
    GROUP_UPDATED (uploads and file deletes do not touch it). A file is its
    GridFS files document: its insert (the full document, with
    ``metadata.group_id``) is FILE_UPLOADED; its delete is FILE_DELETED, for
    the group named by the pre-image when the server keeps one
    (``changeStreamPreAndPostImages``, MongoDB 6.0+), else for no group in
    particular (every subscriber re-reads its group and sees whether it lost
    a file). Readers re-read the group anyway: an event says where to look.
    """
    collection = (raw.get("ns") or {}).get("coll")
    operation = raw.get("operationType")
    key = (raw.get("documentKey") or {}).get("_id")
    if collection == GROUPS and key is not None:
        group_id = str(key)
        if operation == "delete":
            return Change(ChangeKind.GROUP_DELETED, group_id)
        if operation in ("update", "replace"):
            return Change(ChangeKind.GROUP_UPDATED, group_id)
        return None  # insert: a new group has nobody watching it yet
    if collection == files_collection and key is not None:
        if operation == "insert":
            return Change(ChangeKind.FILE_UPLOADED, _file_group(raw.get("fullDocument")), str(key))
        if operation == "delete":
            before = raw.get("fullDocumentBeforeChange")
            return Change(ChangeKind.FILE_DELETED, _file_group(before), str(key))
        return None
    if collection == API_KEYS and operation == "delete":
        return Change(ChangeKind.SESSION_ENDED)
    return None


def _file_group(document: object) -> str | None:
    """The group of a GridFS files document (``metadata.group_id``), when there is one."""
    if not isinstance(document, Mapping):
        return None
    metadata = document.get("metadata")
    group_id = metadata.get("group_id") if isinstance(metadata, Mapping) else None
    return None if group_id is None else str(group_id)


class ChangeFeed:
    """An open change stream: iterate it for ``Change`` events; ``close()`` from any thread.

    Iteration blocks until the next event; it ends within about
    ``max_await_seconds`` after ``close()``. Errors are groupstore errors
    (``StoreUnavailableError`` when the server goes away for longer than the
    driver's automatic resume covers).
    """

    def __init__(self, stream: Any, files_collection: str) -> None:
        self._stream = stream
        self._files_collection = files_collection
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Change]:
        while not self._closed.is_set():
            with translated():
                raw = self._stream.try_next()
            if raw is None:
                if not self._stream.alive:  # invalidated (database dropped): the end
                    return
                continue
            change = change_from_raw(raw, self._files_collection)
            if change is not None:
                yield change

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(PyMongoError):  # a server gone away: nothing left to release
            self._stream.close()

    def __enter__(self) -> ChangeFeed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def watch_changes(
    db: Database[Any],
    bucket_name: str = "fs",
    max_await_seconds: float = DEFAULT_MAX_AWAIT_SECONDS,
) -> ChangeFeed:
    """Open a change stream over the groups, the GridFS files and the API keys of ``db``."""
    if isinstance(db, mongomock.Database):
        raise ChangeStreamsUnsupportedError("the in-memory store has no change streams")
    files_collection = f"{bucket_name}.files"
    pipeline = [{"$match": {"ns.coll": {"$in": [GROUPS, files_collection, API_KEYS]}}}]
    _keep_pre_images(db, files_collection)
    with translated():  # other driver errors: StoreUnavailableError, ...
        try:
            stream = db.watch(
                pipeline,
                max_await_time_ms=int(max_await_seconds * 1000),
                full_document_before_change="whenAvailable",
            )
        except OperationFailure as exc:
            raise ChangeStreamsUnsupportedError(
                "the server has no change streams (they need a MongoDB replica set): "
                f"{exc.details.get('errmsg') if exc.details else exc}"
            ) from exc
    return ChangeFeed(stream, files_collection)


def _keep_pre_images(db: Database[Any], files_collection: str) -> None:
    """Ask the server to keep files documents' pre-images, so a delete names its group.

    MongoDB 6.0+ only; elsewhere (or without the privilege) deletes are
    announced for no group in particular.
    """
    with contextlib.suppress(PyMongoError):
        db.command("collMod", files_collection, changeStreamPreAndPostImages={"enabled": True})
