"""The event brokers of ``graphql_api.events``: fan-out, fed by polling the change log or by a
(fake) change stream."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import anyio
import pytest

import groupstore
from graphql_api.events import ChangeStreamBroker, EventBroker, PollingBroker, broker_for
from groupstore import Change, ChangeKind, GroupStore

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


def uploaded(group_id: str, file_id: str = "f1") -> Change:
    return Change(ChangeKind.FILE_UPLOADED, group_id, file_id)


async def test_an_event_reaches_the_subscriptions_of_its_group_only() -> None:
    broker = EventBroker()
    with (
        broker.subscribe("g1") as first,
        broker.subscribe("g1") as second,
        broker.subscribe("g2") as other,
    ):
        broker.deliver(uploaded("g1"))
        broker.deliver(uploaded("g2", "f2"))

        assert await first.get() == uploaded("g1")
        assert await second.get() == uploaded("g1")
        assert await other.get() == uploaded("g2", "f2")


async def test_session_ended_reaches_every_subscription() -> None:
    broker = EventBroker()
    ended = Change(ChangeKind.SESSION_ENDED, user_id="u1")
    with broker.subscribe("g1") as first, broker.subscribe("g2") as second:
        broker.deliver(ended)

        assert await first.get() == ended
        assert await second.get() == ended


async def test_leaving_the_block_unsubscribes() -> None:
    broker = EventBroker()
    with broker.subscribe("g1"):
        assert broker.subscriptions == 1

    broker.deliver(uploaded("g1"))  # nobody listens: nothing kept

    assert broker.subscriptions == 0


async def test_a_full_queue_drops_its_oldest_event() -> None:
    broker = EventBroker(queue_size=2)
    with broker.subscribe("g1") as events:
        for n in range(3):
            broker.deliver(uploaded("g1", f"f{n}"))

        assert [(await events.get()).file_id, (await events.get()).file_id] == ["f1", "f2"]
        assert events.dropped == 1


def test_a_change_delivered_already_is_skipped_by_position() -> None:
    broker = EventBroker()
    with broker.subscribe("g1") as events:
        for position in (1, 2, 2, 1, 3):
            broker.deliver(uploaded("g1", f"f{position}").at(position))

        assert [events._queue.get_nowait().position for _ in range(3)] == [1, 2, 3]
        assert events._queue.empty()
        assert broker.position == 3


def test_the_setting_chooses_the_broker(store: GroupStore) -> None:
    assert type(broker_for("poll", store)) is PollingBroker
    assert type(broker_for("memory", store)) is PollingBroker  # the old name
    assert isinstance(broker_for("change-streams", store), ChangeStreamBroker)


async def test_the_polling_broker_delivers_every_writers_changes(store: GroupStore) -> None:
    broker = PollingBroker(store, interval=0.01)
    await broker.start()
    try:
        with broker.subscribe("g1") as events:
            store.storage.changes.append(uploaded("g1"))  # any process's write

            with anyio.fail_after(TIMEOUT):
                got = await events.get()
    finally:
        await broker.stop()
    assert (got.kind, got.group_id, got.file_id) == (ChangeKind.FILE_UPLOADED, "g1", "f1")
    assert got.position == broker.position


class FakeFeed:
    """A change feed whose events the test pushes; iteration ends when closed."""

    def __init__(self) -> None:
        self.events: queue.Queue[Change | BaseException | None] = queue.Queue()
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[Change]:
        while True:
            item = self.events.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.closed.set()
        self.events.put(None)


class FakeStore:
    """``watch_changes`` hands out the feeds prepared by the test, in order; the log is real."""

    def __init__(self, *feeds: FakeFeed | BaseException) -> None:
        self.feeds = list(feeds)
        self.opened = 0
        self.store = groupstore.connect("mongomock://")

    def read_changes(self, after: int | None = None) -> groupstore.ChangeCursor:
        return self.store.read_changes(after)

    def watch_changes(self) -> FakeFeed:
        self.opened += 1
        feed = self.feeds.pop(0)
        if isinstance(feed, BaseException):
            raise feed
        return feed


async def test_the_change_stream_broker_delivers_the_feeds_events() -> None:
    feed = FakeFeed()
    broker = ChangeStreamBroker(FakeStore(feed))
    await broker.start()
    try:
        with broker.subscribe("g1") as events:
            feed.events.put(uploaded("g1"))

            with anyio.fail_after(TIMEOUT):
                assert await events.get() == uploaded("g1")
    finally:
        await broker.stop()
    assert feed.closed.is_set()


async def test_the_change_stream_broker_reads_what_the_log_got_while_the_stream_was_down() -> None:
    first, second = FakeFeed(), FakeFeed()
    store = FakeStore(first, second)
    broker = ChangeStreamBroker(store, retry_seconds=0.0)
    await broker.start()
    try:
        with broker.subscribe("g1") as events:
            store.store.storage.changes.append(uploaded("g1", "missed"))  # the stream misses it
            first.events.put(groupstore.StoreUnavailableError("connection lost"))

            with anyio.fail_after(TIMEOUT):
                assert (await events.get()).file_id == "missed"
    finally:
        await broker.stop()


async def test_the_change_stream_broker_reopens_a_failed_feed() -> None:
    first, second = FakeFeed(), FakeFeed()
    store = FakeStore(first, groupstore.StoreUnavailableError("down"), second)
    broker = ChangeStreamBroker(store, retry_seconds=0.0)
    await broker.start()
    try:
        with broker.subscribe("g1") as events:
            first.events.put(groupstore.StoreUnavailableError("connection lost"))
            second.events.put(uploaded("g1", "after"))

            with anyio.fail_after(TIMEOUT):
                assert (await events.get()).file_id == "after"
    finally:
        await broker.stop()
    assert store.opened == 3 and first.closed.is_set()


async def test_without_change_streams_the_broker_polls_the_log_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore(groupstore.ChangeStreamsUnsupportedError("no replica set"))
    broker = ChangeStreamBroker(store, poll_interval=0.01)
    await broker.start()
    try:
        with broker.subscribe("g1") as events:
            store.store.storage.changes.append(uploaded("g1", "polled"))

            with anyio.fail_after(TIMEOUT):
                assert (await events.get()).file_id == "polled"
    finally:
        await broker.stop()
    assert broker.polling
    assert "polling the change log" in caplog.text
