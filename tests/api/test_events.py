"""The event brokers of ``graphql_api.events``: in memory, and fed by a (fake) change stream."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import anyio
import pytest

import groupstore
from graphql_api.events import ChangeStreamBroker, EventBroker, broker_for
from groupstore import Change, ChangeKind

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
        broker.publish(uploaded("g1"))
        broker.publish(uploaded("g2", "f2"))

        assert await first.get() == uploaded("g1")
        assert await second.get() == uploaded("g1")
        assert await other.get() == uploaded("g2", "f2")


async def test_session_ended_reaches_every_subscription() -> None:
    broker = EventBroker()
    ended = Change(ChangeKind.SESSION_ENDED, user_id="u1")
    with broker.subscribe("g1") as first, broker.subscribe("g2") as second:
        broker.publish(ended)

        assert await first.get() == ended
        assert await second.get() == ended


async def test_leaving_the_block_unsubscribes() -> None:
    broker = EventBroker()
    with broker.subscribe("g1"):
        assert broker.subscriptions == 1

    broker.publish(uploaded("g1"))  # nobody listens: nothing kept

    assert broker.subscriptions == 0


async def test_a_full_queue_drops_its_oldest_event() -> None:
    broker = EventBroker(queue_size=2)
    with broker.subscribe("g1") as events:
        for n in range(3):
            broker.publish(uploaded("g1", f"f{n}"))

        assert [(await events.get()).file_id, (await events.get()).file_id] == ["f1", "f2"]
        assert events.dropped == 1


def test_the_setting_chooses_the_broker() -> None:
    class Source:
        def watch_changes(self) -> Iterator[Change]:
            return iter(())

    assert type(broker_for("memory")) is EventBroker
    assert isinstance(broker_for("change-streams", Source()), ChangeStreamBroker)  # type: ignore[arg-type]


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
    """``watch_changes`` hands out the feeds prepared by the test, in order."""

    def __init__(self, *feeds: FakeFeed | BaseException) -> None:
        self.feeds = list(feeds)
        self.opened = 0

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


async def test_publishing_to_the_change_stream_broker_delivers_nothing() -> None:
    feed = FakeFeed()
    broker = ChangeStreamBroker(FakeStore(feed))
    await broker.start()
    try:
        with broker.subscribe("g1") as events:
            broker.publish(uploaded("g1", "published"))  # the stream reports it instead
            feed.events.put(uploaded("g1", "from-stream"))

            with anyio.fail_after(TIMEOUT):
                assert (await events.get()).file_id == "from-stream"
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


async def test_starting_without_change_streams_fails_with_the_coded_error() -> None:
    unsupported = groupstore.ChangeStreamsUnsupportedError("no replica set")
    broker = ChangeStreamBroker(FakeStore(unsupported))

    with pytest.raises(groupstore.ChangeStreamsUnsupportedError) as caught:
        await broker.start()

    assert caught.value.code == "CHANGE_STREAMS_UNSUPPORTED"
