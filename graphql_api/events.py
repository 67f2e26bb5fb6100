"""Events for subscriptions: who changed which group, delivered to this process's sockets.

Mutations call ``info.context.events.publish(Change(...))`` after the library
call succeeded; each subscription holds a queue from ``subscribe(group_id)``.
Two brokers, chosen by ``GROUPSTORE_EVENTS``:

- ``memory`` (:class:`EventBroker`): ``publish`` hands the event to the
  queues of this process. Right for one gateway process.
- ``change-streams`` (:class:`ChangeStreamBroker`): ``publish`` does nothing;
  a thread reads ``GroupStore.watch_changes()`` (MongoDB change streams, a
  replica set) and hands every write of every gateway process to the queues.

An event says only what happened to which group; a subscription reads the
group again (and re-checks the caller) for each one, so a dropped or
coalesced event costs freshness, never correctness. A full queue drops its
oldest event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from starlette.concurrency import run_in_threadpool

import groupstore
from groupstore import Change, ChangeKind

logger = logging.getLogger("graphql_api")

QUEUE_SIZE = 100
RETRY_SECONDS = 5.0
STOP_TIMEOUT = 10.0

__all__ = ["Change", "ChangeKind", "ChangeStreamBroker", "EventBroker", "EventQueue"]


class EventQueue:
    """The events of one subscription, oldest first; a full queue drops its oldest."""

    def __init__(self, group_id: str, size: int = QUEUE_SIZE) -> None:
        self.group_id = group_id
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
    """In-process fan-out (``GROUPSTORE_EVENTS=memory``). Use on the event loop's thread."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._by_group: dict[str, set[EventQueue]] = {}

    async def start(self) -> None:
        """Begin delivering (nothing to do in memory)."""

    async def stop(self) -> None:
        """Stop delivering (nothing to do in memory)."""

    def publish(self, event: Change) -> None:
        """Announce a successful write to this process's subscriptions."""
        self.deliver(event)

    def deliver(self, event: Change) -> None:
        """Hand the event to every queue of its group (SESSION_ENDED: to every queue)."""
        if event.group_id is None:
            targets = [queue for queues in self._by_group.values() for queue in queues]
        else:
            targets = list(self._by_group.get(event.group_id, ()))
        for queue in targets:
            queue.put(event)

    @contextlib.contextmanager
    def subscribe(self, group_id: str) -> Iterator[EventQueue]:
        """A queue of the group's events (and SESSION_ENDED), registered while in use."""
        queue = EventQueue(group_id, self.queue_size)
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


class ChangeFeed(Protocol):
    def __iter__(self) -> Iterator[Change]: ...

    def close(self) -> None: ...


class ChangeSource(Protocol):
    """What the change-stream broker needs of a store (``GroupStore`` has it)."""

    def watch_changes(self) -> ChangeFeed: ...


class ChangeStreamBroker(EventBroker):
    """Events from MongoDB change streams (``GROUPSTORE_EVENTS=change-streams``).

    ``start`` opens the feed (ChangeStreamsUnsupportedError, and so a failed
    start-up, on servers without change streams) and reads it in a thread.
    When the feed fails later, the thread logs it and opens a new one after
    ``retry_seconds``; writes made in between are not announced.
    """

    def __init__(
        self,
        source: ChangeSource,
        queue_size: int = QUEUE_SIZE,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        super().__init__(queue_size)
        self.source = source
        self.retry_seconds = retry_seconds
        self._feed: ChangeFeed | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def publish(self, event: Change) -> None:
        """Nothing: the change stream reports every write, this process's included."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._feed = await run_in_threadpool(self.source.watch_changes)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(loop,), name="groupstore-change-stream", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._feed is not None:
                self._feed.close()
        if self._thread is not None:
            await run_in_threadpool(self._thread.join, STOP_TIMEOUT)
            self._thread = None

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
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
                for event in feed:
                    loop.call_soon_threadsafe(self.deliver, event)
            except groupstore.GroupStoreError as exc:
                logger.warning(
                    "the change stream failed (%s); reopening in %ss", exc, self.retry_seconds
                )
            except RuntimeError:
                return  # the event loop is closed: the app is shutting down
            with self._lock:
                if feed is not None:
                    feed.close()
                self._feed = None
            self._stopping.wait(self.retry_seconds)


def broker_for(events: str, store: ChangeSource | None = None) -> EventBroker:
    """The broker the ``GROUPSTORE_EVENTS`` setting names (change streams need the store)."""
    if events == "change-streams":
        if store is None:
            raise ValueError("change-stream events need a store")
        return ChangeStreamBroker(store)
    return EventBroker()
