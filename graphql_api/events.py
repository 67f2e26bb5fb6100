"""Events for subscriptions: every process's changes, delivered to this process's sockets.

The gateway publishes nothing. The library's managers append a ``Change`` to
the database's change log for every write they acknowledge, whichever
process made it (this gateway, another one, the CLI, a script); each
gateway reads that log and hands the changes to its subscriptions' queues.
Two brokers, chosen by ``GROUPSTORE_EVENTS``:

- ``poll`` (:class:`PollingBroker`, the default): a thread reads the log
  every ``GROUPSTORE_EVENTS_POLL_SECONDS`` (0.2 s) with a
  ``groupstore.ChangeCursor``. Works on every server (FerretDB, a standalone
  MongoDB, mongomock in one process).
- ``change-streams`` (:class:`ChangeStreamBroker`): a thread reads a MongoDB
  change stream on the log (a replica set), so changes are pushed. On a
  server without change streams it logs that and polls instead.

Every change carries its ``position`` in the log (increasing, one per
change). The broker remembers the last one it delivered; a subscription
registered at that point and asked to resume ``after`` an earlier position
reads the group's changes in between from the log (``changes_between``)
and then the live ones: none missed, none twice. Delivery is at least once
and in log order (so in order per group).

An event says only what happened to which group; a subscription reads the
group again (and re-checks the caller) for each one, so a coalesced event
costs freshness, never correctness. A full queue drops its oldest event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from starlette.concurrency import run_in_threadpool

import groupstore
from groupstore import Change, ChangeKind

logger = logging.getLogger("graphql_api")

QUEUE_SIZE = 100
RETRY_SECONDS = 5.0
STOP_TIMEOUT = 10.0
POLL_SECONDS = 0.2
BROADCAST = frozenset({ChangeKind.SESSION_ENDED, ChangeKind.WORKFLOW_DELETED})
"""Changes without a group that every subscription looks at."""

__all__ = [
    "Change",
    "ChangeKind",
    "ChangeStreamBroker",
    "EventBroker",
    "EventQueue",
    "PollingBroker",
]


class EventQueue:
    """The events of one subscription, oldest first; a full queue drops its oldest.

    ``since``: the broker's position when the queue was registered; every
    change after it reaches the queue.
    """

    def __init__(self, group_id: str, size: int = QUEUE_SIZE, since: int = 0) -> None:
        self.group_id = group_id
        self.since = since
        self._queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def put(self, event: Change) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> Change:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        return await self.get()


class EventBroker:
    """Fan-out of changes to this process's queues, on the event loop's thread.

    Fed by ``deliver``; the subclasses feed it from the database.
    """

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.position = 0
        """The position of the last change delivered."""
        self._by_group: dict[str, set[EventQueue]] = {}

    async def start(self) -> None:
        """Begin delivering."""

    async def stop(self) -> None:
        """Stop delivering."""

    def deliver(self, event: Change) -> None:
        """Hand the event to every queue of its group (BROADCAST kinds: to every queue).

        A change at or before ``position`` was delivered already: skipped.
        """
        if event.position is not None:
            if event.position <= self.position:
                return
            self.position = event.position
        if event.group_id is not None:
            targets = list(self._by_group.get(event.group_id, ()))
        elif event.kind in BROADCAST:
            targets = [queue for queues in self._by_group.values() for queue in queues]
        else:
            return
        for queue in targets:
            queue.put(event)

    @contextlib.contextmanager
    def subscribe(self, group_id: str) -> Iterator[EventQueue]:
        """A queue of the group's events (and broadcasts), registered while in use."""
        queue = EventQueue(group_id, self.queue_size, since=self.position)
        self._by_group.setdefault(group_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._by_group.get(group_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._by_group[group_id]

    @property
    def subscriptions(self) -> int:
        return sum(len(queues) for queues in self._by_group.values())


class _ThreadBroker(EventBroker):
    """A broker fed by a thread that reads the database and hands over on the loop."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        super().__init__(queue_size)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        self._interrupt()
        if self._thread is not None:
            await run_in_threadpool(self._thread.join, STOP_TIMEOUT)
            self._thread = None

    def _interrupt(self) -> None:
        """Wake the thread up (nothing to do for a sleeping poller)."""

    def _hand_over(self, changes: list[Change]) -> bool:
        """Deliver on the loop; False once the loop is closed (the app is shutting down)."""
        if not changes or self._loop is None:
            return True
        try:
            self._loop.call_soon_threadsafe(self._deliver_all, changes)
        except RuntimeError:
            return False
        return True

    def _deliver_all(self, changes: list[Change]) -> None:
        for change in changes:
            self.deliver(change)


class ChangeLogSource(Protocol):
    """What the polling broker needs of a store (``GroupStore`` has it)."""

    def read_changes(self, after: int | None = None) -> groupstore.ChangeCursor: ...


class PollingBroker(_ThreadBroker):
    """Changes read from the change log every ``interval`` seconds (``GROUPSTORE_EVENTS=poll``).

    One read per interval per process, whatever the number of subscriptions.
    A failed read is logged and tried again at the next interval, from the
    same position: nothing is lost while the database is away.
    """

    def __init__(
        self, source: ChangeLogSource, interval: float = POLL_SECONDS, queue_size: int = QUEUE_SIZE
    ) -> None:
        super().__init__(queue_size)
        self.source = source
        self.interval = interval
        self.cursor: groupstore.ChangeCursor | None = None

    async def start(self) -> None:
        self.cursor = await run_in_threadpool(self.source.read_changes)  # from the newest
        self.position = self.cursor.position
        self._start_thread("groupstore-change-poller", self._run)

    def _run(self) -> None:
        cursor = self.cursor
        assert cursor is not None
        failing = False
        while not self._stopping.is_set():
            try:
                changes = cursor.poll()
                failing = False
            except groupstore.GroupStoreError as exc:
                if not failing:
                    logger.warning("reading the change log failed (%s); retrying", exc)
                failing, changes = True, []
            if not self._hand_over(changes):
                return
            if not changes or len(changes) < 100:  # a full batch: read on at once
                self._stopping.wait(self.interval)


class ChangeFeed(Protocol):
    def __iter__(self) -> Iterator[Change]: ...

    def close(self) -> None: ...


class ChangeSource(ChangeLogSource, Protocol):
    """What the change-stream broker needs of a store (``GroupStore`` has it)."""

    def watch_changes(self) -> ChangeFeed: ...


class ChangeStreamBroker(PollingBroker):
    """Changes pushed by a MongoDB change stream on the log (``GROUPSTORE_EVENTS=change-streams``).

    ``start`` opens the stream, then reads the log's newest position; the
    stream's changes up to it are skipped. On a server without change
    streams (ChangeStreamsUnsupportedError) it logs a warning and polls the
    log instead, as a ``PollingBroker``. When the stream fails later, the
    thread logs it, opens a new one after ``retry_seconds`` and reads what
    the log got in between (by position), so nothing is lost.
    """

    def __init__(
        self,
        source: ChangeSource,
        queue_size: int = QUEUE_SIZE,
        retry_seconds: float = RETRY_SECONDS,
        poll_interval: float = POLL_SECONDS,
    ) -> None:
        super().__init__(source, poll_interval, queue_size)
        self.source: ChangeSource = source
        self.retry_seconds = retry_seconds
        self.polling = False
        self._feed: ChangeFeed | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        try:
            self._feed = await run_in_threadpool(self.source.watch_changes)
        except groupstore.ChangeStreamsUnsupportedError as exc:
            logger.warning(
                "GROUPSTORE_EVENTS=change-streams, but %s: polling the change log every %ss",
                exc,
                self.interval,
            )
            self.polling = True
            await super().start()
            return
        self.cursor = await run_in_threadpool(self.source.read_changes)
        self.position = self.cursor.position
        self._start_thread("groupstore-change-stream", self._watch)

    def _interrupt(self) -> None:
        with self._lock:
            if self._feed is not None:
                self._feed.close()

    def _watch(self) -> None:
        cursor = self.cursor
        assert cursor is not None
        while not self._stopping.is_set():
            feed = self._feed
            try:
                if feed is None:
                    feed = self.source.watch_changes()
                    with self._lock:
                        self._feed = feed
                    if self._stopping.is_set():
                        feed.close()
                        return
                    # What the log got while there was no stream (dupes skip by position).
                    cursor.position = self.position
                    if not self._hand_over(cursor.poll()):
                        return
                for event in feed:
                    if not self._hand_over([event]):
                        return
            except groupstore.GroupStoreError as exc:
                logger.warning(
                    "the change stream failed (%s); reopening in %ss", exc, self.retry_seconds
                )
            with self._lock:
                if feed is not None:
                    feed.close()
                self._feed = None
            self._stopping.wait(self.retry_seconds)


def broker_for(
    events: str, store: ChangeSource | None = None, poll_seconds: float = POLL_SECONDS
) -> EventBroker:
    """The broker the ``GROUPSTORE_EVENTS`` setting names, reading ``store``'s change log.

    Without a store: a bare ``EventBroker`` (fed by ``deliver`` only, for tests).
    """
    if store is None:
        return EventBroker()
    if events == "change-streams":
        return ChangeStreamBroker(store, poll_interval=poll_seconds)
    return PollingBroker(store, poll_seconds)
