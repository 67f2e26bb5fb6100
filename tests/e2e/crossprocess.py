"""Every process's writes reach every gateway's subscribers: for the test and the soak script.

Two ``python -m graphql_api`` processes (A and B) on one database, and
``python -m groupstore`` (the CLI) as a third writer. One member subscribes
to ``groupChanged`` on each gateway. Writes (renames, each to a new name)
go through A, through B and through the CLI, one at a time; each must reach
the subscriber on the *other* gateway (the CLI's: both), and the delay from
the write's acknowledgement (the mutation's answer, the CLI's exit) to
that message is measured. Then B is killed with
SIGKILL mid-stream, more writes go through A, and a new subscription on A
with ``after:`` (B's subscriber's last position) must bring exactly the
changes B's subscriber missed.

Run it on its own for more writes and the figures (scripts/events-soak):
``GROUPSTORE_TEST_MONGO_URI=mongodb://... python -m tests.e2e.crossprocess --writes 200``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.cli_helpers import cli_process
from tests.e2e.gqlclient import (
    CREATE_GROUP,
    CREATE_WORKFLOW,
    UPDATE_GROUP,
    Api,
    Apis,
    admin_session,
    register_and_login,
    unique,
)
from tests.e2e.server import Gateway, running_gateway

CHANGED = """
subscription($g: ID!, $after: String) {
  groupChanged(id: $g, after: $after) { kind position group { name } }
}"""
DELIVERY_BOUND = 1.0  # seconds: what the issue asks of every write
WAIT = 15.0  # seconds: give up on a message (a lost change) after this


@dataclass
class Subscriber:
    """The messages one subscription received: (arrival, position, group name)."""

    name: str
    received: list[tuple[float, int, str | None]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def positions(self) -> list[int]:
        return [position for _, position, _ in self.received]

    async def wait_for(self, name: str, since: float, acked: float) -> float:
        """Seconds from the write's acknowledgement (``acked``; 0 if earlier) until a
        message shows the group named ``name``; only messages after ``since`` count."""
        deadline = time.monotonic() + WAIT
        while True:
            for arrival, _, seen in self.received:
                if seen == name and arrival >= since:
                    return max(0.0, arrival - acked)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: no message for {name!r} within {WAIT}s")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)


@dataclass
class Figures:
    latencies: list[float]
    writes: int
    resumed: int

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        return (
            f"{self.writes} writes, {len(self.latencies)} deliveries across processes: "
            f"p50 {self.p(0.5) * 1000:.0f} ms, p99 {self.p(0.99) * 1000:.0f} ms, "
            f"max {max(self.latencies) * 1000:.0f} ms, mean "
            f"{statistics.mean(self.latencies) * 1000:.0f} ms; {self.resumed} changes "
            "resumed with after: on the surviving gateway"
        )


def ws_client(gateway: Gateway, token: str) -> Client:
    transport = WebsocketsTransport(
        url="ws" + gateway.graphql_url.removeprefix("http"),
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport, execute_timeout=WAIT)


async def listen(
    gateway: Gateway, token: str, group: str, subscriber: Subscriber, after: str | None = None
) -> None:
    """Receive into ``subscriber`` until cancelled (or the gateway dies)."""
    with contextlib.suppress(Exception):  # a killed gateway ends the stream
        async with ws_client(gateway, token) as session:
            request = GraphQLRequest(CHANGED, variable_values={"g": group, "after": after})
            async for message in session.subscribe(request):
                change = message["groupChanged"]
                name = (change.get("group") or {}).get("name")
                subscriber.received.append((time.monotonic(), int(change["position"]), name))
                subscriber.arrived.set()


@contextlib.asynccontextmanager
async def listening(
    gateway: Gateway, token: str, group: str, name: str, after: str | None = None
) -> AsyncIterator[tuple[Subscriber, asyncio.Task[None]]]:
    subscriber = Subscriber(name)
    task = asyncio.create_task(listen(gateway, token, group, subscriber, after))
    try:
        with anyio.fail_after(WAIT):  # the INITIAL message: it listens
            while not subscriber.received:
                await asyncio.sleep(0.01)
        yield subscriber, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def exercise(a: Gateway, b: Gateway | None, writes: int, cli_writes: int) -> Figures:
    """Writes through A, B and the CLI reach the other gateway's subscriber; B killed; resume.

    ``b`` None (the in-memory store: one process): writes and subscriber share A.
    """
    apis = Apis(a)
    try:
        return await _exercise(apis, a, b, writes, cli_writes)
    finally:
        apis.close()


async def _exercise(
    api_a: Apis, a: Gateway, b: Gateway | None, writes: int, cli_writes: int
) -> Figures:
    _, token = register_and_login(api_a, unique("alice"))
    owner = api_a(token)
    workflow = admin_session(api_a).run(CREATE_WORKFLOW, name=unique("wf"))["createWorkflow"]["id"]
    group = owner.run(CREATE_GROUP, wf=workflow, name=unique("team"))["createGroup"]["id"]
    owner_b = Api(b, token) if b is not None else owner
    latencies: list[float] = []
    count = 0

    async def write_via(session: Api, watchers: list[Subscriber]) -> None:
        nonlocal count
        count += 1
        name = f"w{count}-{unique('n')}"
        started = time.monotonic()
        await anyio.to_thread.run_sync(lambda: session.run(UPDATE_GROUP, id=group, name=name))
        acked = time.monotonic()
        for watcher in watchers:
            latencies.append(await watcher.wait_for(name, started, acked))

    async def write_via_cli(watchers: list[Subscriber]) -> None:
        nonlocal count
        count += 1
        name = f"w{count}-{unique('cli')}"
        env = {"GROUPSTORE_MONGO_URI": a.mongo_uri, "GROUPSTORE_DATABASE": a.database}
        started = time.monotonic()
        done = await anyio.to_thread.run_sync(
            lambda: cli_process("groups", "rename", group, name, env=env)
        )
        assert done.returncode == 0, done.stderr
        acked = time.monotonic()  # the process has exited: an upper bound of its write's ack
        for watcher in watchers:
            latencies.append(await watcher.wait_for(name, started, acked))

    async with listening(a, token, group, "on A") as (on_a, _):
        if b is None:
            for _ in range(writes):
                await write_via(owner, [on_a])
            return _check_and_figures(latencies, count, [on_a], resumed=0)
        async with listening(b, token, group, "on B") as (on_b, task_b):
            for n in range(writes):
                if n % 2 == 0:
                    await write_via(owner, [on_b])  # through A, heard on B
                else:
                    await write_via(owner_b, [on_a])  # through B, heard on A
            for _ in range(cli_writes):
                await write_via_cli([on_a, on_b])  # a third process, heard on both
            _check_unbroken([on_a, on_b], count)
            # B dies mid-stream: its subscriber's last position is where to resume.
            last_on_b = on_b.positions()[-1]
            b.process.kill()
            b.process.wait(timeout=10)
            await task_b
            missed = []
            for _ in range(max(3, writes // 10)):
                await write_via(owner, [on_a])
                missed.append(on_a.positions()[-1])
        async with listening(a, token, group, "resumed on A", after=str(last_on_b)) as (again, _):
            deadline = time.monotonic() + WAIT
            while len(again.received) < 1 + len(missed) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            replayed = again.positions()[1:]  # after INITIAL
            assert replayed == missed, (replayed, missed)
        return _check_and_figures(latencies, count, [on_a], resumed=len(missed))


def _check_unbroken(subscribers: list[Subscriber], writes: int) -> None:
    """Each subscriber saw every write once, by position, in order."""
    for subscriber in subscribers:
        positions = subscriber.positions()[1:]  # after INITIAL
        unique_positions = sorted(set(positions))
        assert positions == unique_positions, f"{subscriber.name}: out of order or twice"
        assert len(unique_positions) == writes, (subscriber.name, len(unique_positions), writes)


def _check_and_figures(
    latencies: list[float], writes: int, subscribers: list[Subscriber], resumed: int
) -> Figures:
    _check_unbroken(subscribers, writes)
    return Figures(latencies, writes, resumed)


@contextlib.contextmanager
def two_gateways(**settings: str) -> Any:
    with (
        running_gateway(None, **settings) as a,
        running_gateway((a.mongo_uri, a.database), **settings) as b,
    ):
        yield a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--cli-writes", type=int, default=10)
    parser.add_argument("--events", default="poll", help="GROUPSTORE_EVENTS of both gateways")
    args = parser.parse_args()
    if not os.environ.get("GROUPSTORE_TEST_MONGO_URI"):
        raise SystemExit("set GROUPSTORE_TEST_MONGO_URI (two processes need a real server)")
    with two_gateways(GROUPSTORE_EVENTS=args.events) as (a, b):
        figures = anyio.run(exercise, a, b, args.writes, args.cli_writes)
    print(figures.summary())


if __name__ == "__main__":
    main()
