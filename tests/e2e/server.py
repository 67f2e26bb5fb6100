"""Starting and stopping ``python -m graphql_api`` as a separate process (see conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.backend import MONGO_URI, new_store_uri
from tests.support import free_port

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
    # Only the settings chosen here: nothing inherited from the developer's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    env.update(
        GROUPSTORE_HOST="127.0.0.1",
        GROUPSTORE_PORT=str(port),
        GROUPSTORE_MONGO_URI=mongo_uri,
        GROUPSTORE_DATABASE=database,
        GROUPSTORE_GRAPHIQL="true",
        GROUPSTORE_INTROSPECTION="true",
        GROUPSTORE_LOG_LEVEL="INFO",
        GROUPSTORE_ADMINS="e2e_admin",  # gqlclient.ADMIN: creates the tests' workflows
        # One session-wide gateway serves every test, all registering from 127.0.0.1;
        # the registration limits are tested in tests/api/test_accounts.py.
        GROUPSTORE_REGISTRATIONS_PER_ADDRESS="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _wait_healthy(gateway: Gateway) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last_error: Exception | str = "no attempt"
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if gateway.process.poll() is not None:
                raise RuntimeError(
                    f"the gateway exited with {gateway.process.returncode} at start-up:\n"
                    f"{gateway.log()}"
                )
            try:
                response = http.get(f"{gateway.url}/healthz")
                if response.status_code == 200:
                    return
                last_error = f"/healthz answered {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                last_error = exc
            time.sleep(0.1)
    raise RuntimeError(
        f"the gateway did not become healthy within {START_TIMEOUT}s ({last_error}):\n"
        f"{gateway.log()}"
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
                    _stop(process)
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
                _stop(started.process)
                code = started.process.returncode
                # uvicorn exits 0 on SIGTERM; anything else means it crashed or hung.
                if code not in (0, -15):
                    print(f"gateway exited with {code}:\n{started.log()}", file=sys.stderr)
            if MONGO_URI and store is None:
                with contextlib.suppress(Exception):
                    _drop_database(mongo_uri, database)
