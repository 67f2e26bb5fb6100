"""Starting and stopping ``python -m graphql_api`` as a separate process (see conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from tests.backend import MONGO_URI, new_store_uri
from tests.support import free_port, gateway_env, stop_process, wait_answering

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("GROUPSTORE_TEST_GATEWAY_START_TIMEOUT", "60"))
STOP_TIMEOUT = 15.0


@dataclass
class Gateway:
    """A running ``python -m graphql_api``."""

    process: subprocess.Popen[bytes]
    port: int
    mongo_uri: str
    database: str
    output: IO[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def log(self, limit: int = 20_000) -> str:
        """The server's stdout + stderr so far (the last ``limit`` characters)."""
        self.output.flush()
        self.output.seek(0)
        return self.output.read().decode(errors="replace")[-limit:]

    def assert_running(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"the gateway exited with {code}:\n{self.log()}")


def _gateway_env(
    port: int, mongo_uri: str, database: str, settings: dict[str, str]
) -> dict[str, str]:
    defaults = dict(
        GROUPSTORE_GRAPHIQL="true",
        GROUPSTORE_INTROSPECTION="true",
        GROUPSTORE_LOG_LEVEL="INFO",
        GROUPSTORE_ADMINS="e2e_admin",  # gqlclient.ADMIN: creates the tests' workflows
        # One session-wide gateway serves every test, all registering from 127.0.0.1;
        # the registration limits are tested in tests/api/test_accounts.py.
        GROUPSTORE_REGISTRATIONS_PER_ADDRESS="0",
    )
    return gateway_env(port, mongo_uri, database, {**defaults, **settings})


def _wait_healthy(gateway: Gateway) -> None:
    wait_answering(
        gateway.process,
        f"{gateway.url}/healthz",
        timeout=START_TIMEOUT,
        log=gateway.log,
        interval=0.1,
        request_timeout=2.0,
    )


def _drop_database(uri: str, database: str) -> None:
    import groupstore

    with groupstore.connect(uri, database=database) as store:
        store.client.drop_database(database)


@contextlib.contextmanager
def running_gateway(store: tuple[str, str] | None = None, **settings: str) -> Iterator[Gateway]:
    """A started gateway on a fresh store; stopped (and its database dropped) on exit.

    ``store``: (uri, database) of another gateway's store to share (then not dropped
    here: its first gateway drops it). ``settings``: extra environment variables
    (``GROUPSTORE_...``) for the process.
    """
    mongo_uri, database = store or new_store_uri()
    with tempfile.TemporaryFile() as output:
        started: Gateway | None = None
        try:
            for _attempt in range(3):  # a free port can be taken before the server binds it
                port = free_port()
                output.seek(0)
                output.truncate()
                process = subprocess.Popen(
                    [sys.executable, "-m", "graphql_api"],
                    cwd=REPO,
                    env=_gateway_env(port, mongo_uri, database, settings),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
                candidate = Gateway(process, port, mongo_uri, database, output)
                try:
                    _wait_healthy(candidate)
                except RuntimeError:
                    stop_process(process, STOP_TIMEOUT)
                    if "address already in use" in candidate.log().lower():
                        continue
                    raise
                started = candidate
                break
            else:
                raise RuntimeError(f"no free port after 3 attempts:\n{output.read().decode()}")
            yield started
        finally:
            if started is not None:
                stop_process(started.process, STOP_TIMEOUT)
                code = started.process.returncode
                # uvicorn exits 0 on SIGTERM; anything else means it crashed or hung.
                if code not in (0, -15):
                    print(f"gateway exited with {code}:\n{started.log()}", file=sys.stderr)
            if MONGO_URI and store is None:
                with contextlib.suppress(Exception):
                    _drop_database(mongo_uri, database)
