"""What several test modules need, written once: ports, processes, counters, cheap hashing.

- ``free_port``: a loopback port nothing listens on (yet).
- ``gateway_env``: the environment of a ``python -m graphql_api`` on loopback.
- ``first_response``: poll a starting server until a path answers (with any status).
- ``wait_answering`` / ``stop_process``: wait until a spawned server answers a path
  with 200, and stop it (SIGTERM, then SIGKILL).
- ``FerretDB``: a FerretDB of a test's own (``scripts/ferretdb start --dir``) that a
  test may freeze, kill and restart on the same data.
- ``CountingHasher``: the tests' cheap Argon2, counting hashes and verifications.
- ``CommandCounter``: a pymongo command listener recording the commands started.
- ``cheap_hashing``: give a store the cheap hasher (``tests.backend.CHEAP_HASHER``).
- ``counted_store``: a fresh store on the test server whose client reports to a counter.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
from argon2 import PasswordHasher
from pymongo import monitoring

import groupstore
from groupstore import GroupStore
from tests.backend import CHEAP_HASHER, MONGO_URI, new_store_uri

REPO = Path(__file__).resolve().parents[1]
FERRETDB_SCRIPT = REPO / "scripts" / "ferretdb"


def free_port() -> int:
    """A loopback port free now (another process may take it before the caller binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_env(port: int, uri: str, database: str, settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``GROUPSTORE_*`` (nothing from the developer's
    shell), the gateway on 127.0.0.1:``port`` over ``uri``/``database``, then ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    env.update(
        GROUPSTORE_HOST="127.0.0.1",
        GROUPSTORE_PORT=str(port),
        GROUPSTORE_MONGO_URI=uri,
        GROUPSTORE_DATABASE=database,
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


def first_response(
    http: httpx.Client,
    process: subprocess.Popen[Any],
    path: str,
    *,
    timeout: float,
    interval: float,
    what: str,
) -> httpx.Response:
    """The first answer to ``GET path`` (any status) while ``process`` runs.

    AssertionError (with the process's output) if it exits, or ``what`` did not start
    within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()[0]
        try:
            return http.get(path)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(interval)


def wait_answering(
    process: subprocess.Popen[Any],
    url: str,
    *,
    timeout: float,
    log: Callable[[], str] = lambda: "",
    interval: float = 0.05,
    request_timeout: float = 5.0,
    what: str = "the gateway",
) -> float:
    """Seconds until ``url`` answered 200; RuntimeError if ``process`` exits or it never does."""
    started = time.monotonic()
    deadline = started + timeout
    last: object = "no attempt"
    with httpx.Client(timeout=request_timeout) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode} at start-up:\n{log()}")
            try:
                response = http.get(url)
                if response.status_code == 200:
                    return time.monotonic() - started
                last = f"{url} answered {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                last = exc
            time.sleep(interval)
    raise RuntimeError(f"{what} did not answer within {timeout}s ({last}):\n{log()}")


def stop_process(process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM, and SIGKILL if it is still there after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class FerretDB:
    """A FerretDB on its own port and data directory (kept across kill and restart)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [str(FERRETDB_SCRIPT), *args, "--port", str(self.port), "--dir", str(self.directory)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"scripts/ferretdb {args[0]} failed:\n{result.stderr}")
        return result.stdout.strip()

    @property
    def pid(self) -> int:
        return int((self.directory / "ferretdb.pid").read_text())

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop", "--keep")

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as in a crash; returns once the process is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # not our child (the script started it): poll
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        raise RuntimeError(f"ferretdb {pid} survived SIGKILL")


class CountingHasher(PasswordHasher):
    """The tests' cheap Argon2, counting every hash and verification."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.calls = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.calls += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.calls += 1
        return super().verify(hash, password)


class CommandCounter(monitoring.CommandListener):
    """The commands pymongo starts while ``on`` (and, with ``database`` set, only on it).

    ``commands`` holds their names, ``seen`` their (name, collection, filter).
    """

    def __init__(self, *, on: bool = True, database: str | None = None) -> None:
        self.on = on
        self.database = database
        self.commands: list[str] = []
        self.seen: list[tuple[str, Any, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on or (self.database is not None and event.database_name != self.database):
            return
        name = event.command_name
        self.commands.append(name)
        self.seen.append((name, event.command.get(name), event.command.get("filter", {})))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @contextmanager
    def count(self) -> Iterator[list[str]]:
        """Record only inside the block; yields the names recorded in it."""
        self.commands = []
        self.seen = []
        self.on = True
        try:
            yield self.commands
        finally:
            self.on = False


def cheap_hashing(store: GroupStore) -> GroupStore:
    """``store`` with the cheap hasher (Argon2 at its default cost is ~50 ms a hash)."""
    store.users.hasher = CHEAP_HASHER
    return store


@contextmanager
def counted_store(counter: CommandCounter) -> Iterator[GroupStore]:
    """A store on a fresh database of the test server, its commands told to ``counter``.

    Cheap hashing; the database is dropped and the store closed on exit.
    """
    _, database = new_store_uri()
    store = groupstore.connect(
        MONGO_URI, database=database, client_options={"event_listeners": [counter]}
    )
    cheap_hashing(store)
    try:
        yield store
    finally:
        store.client.drop_database(database)
        store.close()
