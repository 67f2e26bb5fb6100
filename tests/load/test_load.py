"""Under load, and with the database stopped or killed, no acknowledged write is lost.

Each load test runs a real gateway process (``python -m graphql_api``) and
32 concurrent clients for a bounded time (``GROUPSTORE_LOAD_SECONDS``,
default 20; ``python -m tests.load`` runs longer and prints the figures),
then reads everything back (see ``workload.py`` for the invariants). The
figures of each run are printed (``pytest -s``) and appended to
``GROUPSTORE_LOAD_REPORT`` when set; timings are never asserted except the bounds
that are the requirement (``runner.BOUND_FACTOR``, ``runner.READY_BOUND``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import uuid
from datetime import timedelta

import pytest

import groupstore
from groupstore import StoreUnavailableError
from tests.backend import MONGO_URI
from tests.load.figures import format_figures
from tests.load.runner import Result, drop, freeze, kill, run
from tests.load.servers import private_database, spawn_gateway, stop_gateway, wait_ready
from tests.load.workload import Config
from tests.support import cheap_hashing

pytestmark = [pytest.mark.real_server, pytest.mark.load]

SECONDS = float(os.environ.get("GROUPSTORE_LOAD_SECONDS", "20"))
CLIENTS = int(os.environ.get("GROUPSTORE_LOAD_CLIENTS", "32"))
STORE_TIMEOUT = 2.0  # the gateway's GROUPSTORE_STORE_TIMEOUT_SECONDS in the fault tests
# FerretDB (SQLite) reads a whole collection for most queries: every download and repair scan
# costs as much as all the chunks stored, so CI uploads less (python -m tests.load: 4 MiB).
CONFIG = Config(clients=CLIENTS, duration=SECONDS, small_max=16 * 1024, large_size=512 * 1024)
# The fault runs need time before the outage, for it (5-6 s) and for recovery after it.
FAULT_CONFIG = dataclasses.replace(CONFIG, duration=max(SECONDS, 16.0))


def _report(name: str, result: Result) -> None:
    """Print the run's figures (``pytest -s`` shows them), and append them to
    ``GROUPSTORE_LOAD_REPORT`` (a JSON-lines file) when that is set."""
    if result.violations:  # the gateway's side of the story, in the failure's output
        print(result.gateway_log[-20_000:])
    print(format_figures(result.figures))
    for fault in result.fault_figures:
        print(json.dumps(fault))
    path = os.environ.get("GROUPSTORE_LOAD_REPORT")
    if path:
        with open(path, "a") as report:
            line = {"test": name, "figures": result.figures, "faults": result.fault_figures}
            report.write(json.dumps(line) + "\n")


def _assert_every_kind_succeeded(result: Result) -> None:
    """The run did what it says: each kind of operation was acknowledged at least once."""
    kinds = {"upload", "download", "delete", "list_files", "list_groups", "rename",
             "add_member", "set_members"}  # fmt: skip
    succeeded = {kind for kind, row in result.figures["per_kind"].items() if row["ok"]}
    assert kinds <= succeeded, result.figures


def test_under_load_no_acknowledged_write_is_lost() -> None:
    assert MONGO_URI
    database = f"gs_load_{uuid.uuid4().hex[:12]}"
    try:
        result = run(MONGO_URI, database, CONFIG)
    finally:
        drop(MONGO_URI, database)
    _report("no fault", result)

    assert result.violations == []
    _assert_every_kind_succeeded(result)
    assert result.final.repair is not None and not result.final.repair.orphan_files


def test_a_stopped_database_answers_store_unavailable_and_loses_no_acknowledged_write() -> None:
    with private_database() as database:
        result = run(
            database.uri,
            "load",
            FAULT_CONFIG,
            faults=freeze(database, at=FAULT_CONFIG.duration / 4, seconds=5),
            store_timeout=STORE_TIMEOUT,
        )
    _report("stopped", result)

    # Bounded answers during the outage, /readyz within its bound and 503, recovery, and
    # every invariant of the ledger (runner.check_faults, workload.check_state).
    assert result.violations == []
    (outage,) = result.fault_figures
    assert outage["store_unavailable"] > 0  # the clients did meet the outage
    _assert_every_kind_succeeded(result)


def test_a_killed_and_restarted_database_loses_no_acknowledged_write() -> None:
    with private_database() as database:
        result = run(
            database.uri,
            "load",
            FAULT_CONFIG,
            faults=kill(database, at=FAULT_CONFIG.duration / 4, down=3),
            store_timeout=STORE_TIMEOUT,
        )
    _report("killed", result)

    assert result.violations == []
    (outage,) = result.fault_figures
    assert outage["store_unavailable"] > 0
    _assert_every_kind_succeeded(result)


ROUNDS = 5


def _connections_to(port: int) -> int:
    """Established TCP connections (from any process here) to 127.0.0.1:port."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    count += 1
    return count


def test_two_gateways_started_together_on_a_fresh_database_both_become_ready() -> None:
    """Issue 7, 2b: both create the indexes at once; the second used to die (AutoReconnect).

    Two processes started together rarely reach index creation at the same
    instant (imports take a second or two, never quite equally), so the
    database is held (SIGSTOP) while they start: each connects and waits for
    its first answer, and on SIGCONT both go on from the same moment.
    """
    ready: list[list[float]] = []
    with private_database() as server:
        for _round in range(ROUNDS):
            database = f"twins_{uuid.uuid4().hex[:12]}"
            baseline = _connections_to(server.port)
            server.freeze()
            gateways = []
            try:
                gateways = [
                    spawn_gateway(server.uri, database, {"GROUPSTORE_STORE_TIMEOUT_SECONDS": "60"})
                    for _ in range(2)
                ]
                deadline = time.monotonic() + 60
                # each has connected its monitor, whose first check waits for the answer
                while _connections_to(server.port) < baseline + 2:
                    assert time.monotonic() < deadline, [g.log() for g in gateways]
                    time.sleep(0.05)
                time.sleep(0.2)
            finally:
                server.thaw()
            try:
                ready.append([round(wait_ready(gateway), 2) for gateway in gateways])
                for gateway in gateways:
                    assert gateway.process.poll() is None, gateway.log()
            finally:
                for gateway in gateways:
                    stop_gateway(gateway)
    print("seconds to ready after SIGCONT, per round:", ready)


# -- the library's bounds the load tests rely on -------------------------------------

# One call, no load: a hanging server is noticed within about 2.5 x the timeout.
LIBRARY_FACTOR, LIBRARY_SLACK = 3.0, 2.0


def test_a_call_in_flight_when_the_server_freezes_fails_within_the_bound() -> None:
    timeout = 1.0
    with private_database() as database:
        store = cheap_hashing(groupstore.connect(database.uri, database="freeze", timeout=timeout))
        try:
            user = store.users.register_user("alice", "a long password")
            outcome: list[BaseException | None] = []
            in_flight = threading.Event()

            def call() -> None:
                in_flight.set()
                try:
                    for _ in range(1000):  # calls until one meets the frozen server
                        store.users.get_user(user.user_id)
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=call)
            thread.start()
            in_flight.wait()
            database.freeze()
            frozen = time.monotonic()
            try:
                thread.join(timeout=60)
                failed_after = time.monotonic() - frozen
            finally:
                database.thaw()
            assert len(outcome) == 1 and isinstance(outcome[0], StoreUnavailableError), outcome
            assert failed_after < LIBRARY_FACTOR * timeout + LIBRARY_SLACK, failed_after
            assert store.users.get_user(user.user_id) == user  # and the same store works again
        finally:
            store.close()


def test_a_group_write_waits_for_a_dead_writers_lease_no_longer_than_the_bound(
    store_factory,
) -> None:
    timeout = 1.0
    store = store_factory(timeout=timeout)
    owner = store.users.register_user("owner", "a long password")
    workflow = store.workflows.create_workflow("wf")
    group = store.groups.create_group(workflow.workflow_id, "G", user_id=owner.user_id)
    # What a writer that died (or whose release a frozen server never saw) leaves behind.
    store.db.group_locks.insert_one(
        {
            "_id": group.group_id,
            "token": "dead",
            "expires_at": groupstore_now() + timedelta(hours=1),
        }
    )

    started = time.monotonic()
    if store.server_kind == "ferretdb":  # leases exist only where updates are not atomic
        with pytest.raises(StoreUnavailableError):
            store.groups.update_group(group.group_id, name="renamed")
    else:
        assert store.groups.update_group(group.group_id, name="renamed").name == "renamed"
    assert time.monotonic() - started < LIBRARY_FACTOR * timeout + LIBRARY_SLACK


def groupstore_now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
