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
GROUP_FILES_FIELD = "files"  # the group document's list of file metadata (today's layout)
DEFAULT_MAX_AWAIT_SECONDS = 1.0


def change_from_raw(raw: Mapping[str, Any], files_collection: str = "fs.files") -> Change | None:
    """The event of one raw change-stream document; None for changes nobody reacts to.

    Today's layout keeps file metadata in the group document, so a file shows
    as an update of the group: ``$push`` reports ``files.<n>`` (the new entry,
    with its id); ``$pull`` shows as a truncated ``files`` array (MongoDB 5.0+,
    possibly with shifted entries as ``files.<n>``) or as ``files`` rewritten
    whole (older servers), and which entry went is not said. The kind is thus
    the best reading of the change; readers re-read the group anyway.

    When file metadata moves to the GridFS files documents
    (``metadata.group_id``), map their inserts to FILE_UPLOADED here (insert
    events carry the full document) and their deletes to FILE_DELETED (delete
    events carry only the ``_id``: the group must come from a touch of the
    group document, or from pre-images).
    """
    collection = (raw.get("ns") or {}).get("coll")
    operation = raw.get("operationType")
    key = (raw.get("documentKey") or {}).get("_id")
    if collection == GROUPS and key is not None:
        group_id = str(key)
        if operation == "delete":
            return Change(ChangeKind.GROUP_DELETED, group_id)
        if operation == "replace":
            return Change(ChangeKind.GROUP_UPDATED, group_id)
        if operation == "update":
            description: Mapping[str, Any] = raw.get("updateDescription") or {}
            updated: Mapping[str, Any] = description.get("updatedFields") or {}
            truncated = {entry.get("field") for entry in description.get("truncatedArrays") or []}
            if GROUP_FILES_FIELD in truncated or GROUP_FILES_FIELD in updated:
                return Change(ChangeKind.FILE_DELETED, group_id)
            for name, value in updated.items():
                if name.startswith(GROUP_FILES_FIELD + ".") and isinstance(value, Mapping):
                    file_id = value.get("file_id")
                    return Change(
                        ChangeKind.FILE_UPLOADED,
                        group_id,
                        None if file_id is None else str(file_id),
                    )
            return Change(ChangeKind.GROUP_UPDATED, group_id)
        return None  # insert: a new group has nobody watching it yet
    if collection == files_collection:
        return None  # today the group document's update carries every file change
    if collection == API_KEYS and operation == "delete":
        return Change(ChangeKind.SESSION_ENDED)
    return None


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
    with translated():  # other driver errors: StoreUnavailableError, ...
        try:
            stream = db.watch(pipeline, max_await_time_ms=int(max_await_seconds * 1000))
        except OperationFailure as exc:
            raise ChangeStreamsUnsupportedError(
                "the server has no change streams (they need a MongoDB replica set): "
                f"{exc.details.get('errmsg') if exc.details else exc}"
            ) from exc
    return ChangeFeed(stream, files_collection)
