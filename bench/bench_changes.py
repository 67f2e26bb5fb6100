"""The cost of announcing changes: round trips and time per write, without and with the log.

Each write of the library runs N times on a fresh database, once with a store
built with ``publisher=NoPublisher()`` (the cost before the change log) and
once with the default publisher (the change log: one more insert per write).

    .venv/bin/python bench/bench_changes.py --uri mongodb://127.0.0.1:27017/ [-n 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from pymongo import monitoring

import groupstore
from groupstore.changes import NoPublisher, Publisher


class Counter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def measure(uri: str, publisher: Publisher | None, n: int) -> dict[str, tuple[float, float]]:
    """write name -> (round trips per call, mean ms per call)."""
    counter = Counter()
    database = f"bench_changes_{uuid.uuid4().hex[:8]}"
    store = groupstore.connect(
        uri, database, publisher=publisher, client_options={"event_listeners": [counter]}
    )
    store.users.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        alice = store.users.register_user("alice", "alice-password")
        bob = store.users.register_user("bob", "bob-password")
        workflow = store.workflows.create_workflow("wf")
        group = store.groups.create_group(workflow.workflow_id, "g", user_id=alice.user_id)
        store.groups.update_group(group.group_id, name="warm-up")  # learns the log's position
        counter_box: dict[str, Any] = {"i": 0}

        def nth() -> int:
            counter_box["i"] += 1
            return int(counter_box["i"])

        writes: dict[str, Callable[[], object]] = {
            "create_group": lambda: store.groups.create_group(
                workflow.workflow_id, f"g{nth()}", user_id=alice.user_id
            ),
            "update_group (rename)": lambda: store.groups.update_group(
                group.group_id, name=f"n{nth()}"
            ),
            "add_member + remove_member": lambda: (
                store.groups.add_member(group.group_id, bob.user_id),
                store.groups.remove_member(group.group_id, bob.user_id),
            ),
            "upload_file (small)": lambda: store.groups.upload_file(
                group.group_id, b"x" * 100, f"f{nth()}.txt"
            ),
        }
        figures = {}
        for name, write in writes.items():
            before, times = counter.count, []
            for _ in range(n):
                start = time.perf_counter()
                write()
                times.append(time.perf_counter() - start)
            figures[name] = ((counter.count - before) / n, statistics.mean(times) * 1000)
        return figures
    finally:
        store.client.drop_database(database)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    before = measure(args.uri, NoPublisher(), args.n)
    after = measure(args.uri, None, args.n)
    print(f"{'write':28} {'round trips':>17} {'ms per call':>19}")
    print(f"{'':28} {'before':>8} {'after':>8} {'before':>9} {'after':>9}")
    for name, (trips, ms) in before.items():
        trips_after, ms_after = after[name]
        print(f"{name:28} {trips:8.2f} {trips_after:8.2f} {ms:9.2f} {ms_after:9.2f}")


if __name__ == "__main__":
    main()
