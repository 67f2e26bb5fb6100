"""The change log: the ``changes`` collection the library appends every change to.

Every write a manager acknowledges is followed by one insert here (see
``groupstore.changes``), and every process reads the same log: a gateway
polls it (``ChangeCursor``) or, on a MongoDB replica set, watches its inserts
with a change stream (``watch_changes``). Why a collection and how its
positions are allocated is in docs/events.md; in short:

* **Positions are the documents' ``_id``: 1, 2, 3...** A writer inserts
  ``last + 1``, where ``last`` is a position it knows exists (it inserted or
  read it). The unique ``_id`` decides races between processes: the loser
  gets a duplicate key, reads the newest position (one round trip) and tries
  the next one. No counter document, no transaction (FerretDB 1.x has
  neither an atomic ``$inc`` nor transactions): only the insert, which is
  atomic everywhere. Because position ``n + 1`` is only ever written by
  someone who saw ``n``, positions are contiguous and appear in order.
* **Readers** read ``_id > position`` in ascending order. A hole (``n + 1``
  missing while ``n + 2`` is there) can only be a write that is not visible
  yet, or one pruned away: the cursor waits up to ``gap_wait`` for it, then
  skips it (and logs it).
* **Bounded**: every ``PRUNE_EVERY`` appends, a writer deletes entries
  older than ``retention`` (judged by its own monotonic clock: positions it
  appended more than ``retention`` ago) and all but the newest
  ``max_entries`` (FerretDB scans the whole collection for every read, so
  the log must stay small there); never entries younger than ``fresh``
  (a minute at most). A position known longer than
  ``fresh`` is read again before it is used, so a writer that slept
  through a prune never writes below the newest entry.
* **Cost**: one insert per change; the first append of a process and each
  lost race cost one more read.

A change is appended after its write succeeded: a process killed between
the two loses the change (no transactions to make them one).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

import mongomock
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from groupstore.changes import Change, ChangeKind
from groupstore.errors import ChangeStreamsUnsupportedError, StoreUnavailableError
from groupstore.storage.documents import utc_now
from groupstore.storage.errors import translated

log = logging.getLogger("groupstore")

CHANGES = "changes"
DEFAULT_RETENTION = timedelta(minutes=10)
DEFAULT_MAX_ENTRIES = 5000
FRESH_SECONDS = 60.0  # a known position is trusted this long; younger entries are never pruned
DEFAULT_GAP_WAIT = 1.0
DEFAULT_MAX_AWAIT_SECONDS = 1.0
PRUNE_EVERY = 256
APPEND_ATTEMPTS = 100
READ_LIMIT = 1000
_FIELDS = ("group_id", "file_id", "user_id", "by", "workflow_id")


def change_document(change: Change, position: int) -> dict[str, Any]:
    """The log entry of a change at ``position`` (None fields left out)."""
    document: dict[str, Any] = {"_id": position, "kind": change.kind.value, "at": utc_now()}
    for name in _FIELDS:
        value = getattr(change, name)
        if value is not None:
            document[name] = value
    return document


def change_from_document(document: Mapping[str, Any]) -> Change | None:
    """The change of a log entry; None for a kind this version does not know."""
    try:
        kind = ChangeKind(document.get("kind"))
    except ValueError:
        return None
    fields = {name: document.get(name) for name in _FIELDS}
    return Change(kind, **fields, position=int(document["_id"]))


class ChangeLog:
    """Appends changes to the ``changes`` collection (a ``Publisher``), and reads them back.

    Safe to share between threads; appends of one process take turns (a lock),
    so they do not race each other for positions.
    """

    def __init__(
        self,
        db: Database[Any],
        retention: timedelta = DEFAULT_RETENTION,
        prune_every: int = PRUNE_EVERY,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.collection = db[CHANGES]
        self.retention = retention.total_seconds()
        self.max_entries = max_entries
        self.fresh = min(FRESH_SECONDS, self.retention / 2)
        self.prune_every = prune_every
        self._lock = threading.Lock()
        self._last = 0
        self._learned = -float("inf")  # when _last was known to exist (monotonic)
        self._appended: deque[tuple[float, int]] = deque()  # (when, position) samples
        self._appends = 0

    # -- writing -------------------------------------------------------------

    def publish(self, change: Change) -> None:
        """Append the change (one insert); see ``append``."""
        self.append(change)

    def append(self, change: Change) -> Change:
        """Append the change at the next free position and return it with that position."""
        with self._lock, translated():
            position = self._next_position()
            for _ in range(APPEND_ATTEMPTS):
                try:
                    self.collection.insert_one(change_document(change, position))
                    break
                except DuplicateKeyError:  # another process took it: read the newest
                    position = self._newest_unlocked() + 1
            else:
                raise StoreUnavailableError("could not append to the change log: too busy")
            now = time.monotonic()
            self._last, self._learned = position, now
            self._appends += 1
            if self._appends % self.prune_every == 0:
                self._prune(now, position)
        return change.at(position)

    def _next_position(self) -> int:
        if time.monotonic() - self._learned > self.fresh:
            return self._newest_unlocked() + 1  # may have been pruned meanwhile: ask
        return self._last + 1

    def _newest_unlocked(self) -> int:
        newest = self.newest()
        self._last, self._learned = newest, time.monotonic()
        return newest

    def _prune(self, now: float, position: int) -> None:
        """Delete what this process knows to be older than the retention, and all but the
        newest ``max_entries`` (one delete)."""
        self._appended.append((now, position))
        expired = 0
        while self._appended and now - self._appended[0][0] > self.retention:
            expired = self._appended.popleft()[1]
        # Beyond max_entries, only entries older than ``fresh``: a writer trusts the
        # position it knows that long, and the next one must not be gone meanwhile.
        settled = max(
            (known for when, known in self._appended if now - when > self.fresh), default=0
        )
        cutoff = max(expired, min(position - self.max_entries, settled))
        if cutoff > 0:
            self.collection.delete_many({"_id": {"$lte": cutoff}})

    # -- reading -------------------------------------------------------------

    def newest(self) -> int:
        """The newest position (0 for an empty log): one read."""
        with translated():
            found = list(self.collection.find({}, {"_id": 1}).sort("_id", -1).limit(1))
        return int(found[0]["_id"]) if found else 0

    def settled(self, after: int) -> int:
        """The last position of the unbroken run of changes after ``after`` (one read).

        Every change up to it is in the log, so every write it announces is
        visible: a read made now reflects them all.
        """
        with translated():
            found = self.collection.find({"_id": {"$gt": after}}, {"_id": 1}).sort("_id", 1)
            positions = [int(doc["_id"]) for doc in found.limit(READ_LIMIT)]
        for position in positions:
            if position != after + 1:
                break
            after = position
        return after

    def read(
        self,
        after: int,
        upto: int | None = None,
        group_id: str | None = None,
        limit: int = READ_LIMIT,
    ) -> list[Change]:
        """Changes after ``after`` (up to ``upto``, of one group when given), oldest first."""
        bounds: dict[str, Any] = {"$gt": after}
        if upto is not None:
            bounds["$lte"] = upto
        query: dict[str, Any] = {"_id": bounds}
        if group_id is not None:
            query["group_id"] = group_id
        with translated():
            documents = list(self.collection.find(query).sort("_id", 1).limit(limit))
        return [change for doc in documents if (change := change_from_document(doc)) is not None]

    def cursor(self, after: int | None = None, gap_wait: float = DEFAULT_GAP_WAIT) -> ChangeCursor:
        """A cursor from ``after`` (default: the newest position now, one read)."""
        return ChangeCursor(self, self.newest() if after is None else after, gap_wait)


class ChangeCursor:
    """Reads the log in order, without holes, from a position on: call ``poll()`` repeatedly.

    ``position`` is the last change returned. A hole (a position not there
    while a later one is) is waited for up to ``gap_wait`` seconds, then skipped.
    """

    def __init__(self, log: ChangeLog, after: int, gap_wait: float = DEFAULT_GAP_WAIT) -> None:
        self.log = log
        self.position = after
        self.gap_wait = gap_wait
        self._gap: tuple[int, float] | None = None  # (missing position, since when)

    def poll(self, limit: int = READ_LIMIT) -> list[Change]:
        """The changes after ``position`` that are there now (one read)."""
        found: list[Change] = []
        expected = self.position + 1
        for change in self.log.read(self.position, limit=limit):
            position = change.position or 0
            if position != expected and not self._give_up_waiting(expected, position):
                break
            found.append(change)
            expected = position + 1
        self.position = expected - 1
        return found

    def _give_up_waiting(self, missing: int, present: int) -> bool:
        now = time.monotonic()
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, now)
        if now - self._gap[1] < self.gap_wait:
            return False
        log.warning("changes %d to %d never appeared (pruned?); skipped", missing, present - 1)
        self._gap = None
        return True


# -- change streams (MongoDB replica sets) ------------------------------------


def change_from_raw(raw: Mapping[str, Any]) -> Change | None:
    """The change of one change-stream document on the log: its inserted entry; else None."""
    if raw.get("operationType") != "insert":
        return None
    document = raw.get("fullDocument")
    return change_from_document(document) if isinstance(document, Mapping) else None


class ChangeFeed:
    """An open change stream: iterate it for ``Change`` events; ``close()`` from any thread.

    Iteration blocks until the next event; it ends within about
    ``max_await_seconds`` after ``close()``. Errors are groupstore errors
    (``StoreUnavailableError`` when the server goes away for longer than the
    driver's automatic resume covers).
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[Change]:
        while not self._closed.is_set():
            with translated():
                raw = self._stream.try_next()
            if raw is None:
                if not self._stream.alive:  # invalidated (collection dropped): the end
                    return
                continue
            change = change_from_raw(raw)
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
    db: Database[Any], max_await_seconds: float = DEFAULT_MAX_AWAIT_SECONDS
) -> ChangeFeed:
    """Open a change stream over the inserts into the change log of ``db``.

    The entries carry their positions, so a reader can switch between this
    feed and a ``ChangeCursor`` without losing its place.
    """
    if isinstance(db, mongomock.Database):
        raise ChangeStreamsUnsupportedError("the in-memory store has no change streams")
    with translated():  # other driver errors: StoreUnavailableError, ...
        try:
            stream = db[CHANGES].watch(
                [{"$match": {"operationType": "insert"}}],
                max_await_time_ms=int(max_await_seconds * 1000),
            )
        except OperationFailure as exc:
            raise ChangeStreamsUnsupportedError(
                "the server has no change streams (they need a MongoDB replica set): "
                f"{exc.details.get('errmsg') if exc.details else exc}"
            ) from exc
    return ChangeFeed(stream)
