"""The processes a load run drives: a FerretDB it may freeze or kill, and gateway processes.

``FerretDB`` (tests/support.py) is a FerretDB of the run's own (``scripts/ferretdb start --dir``),
so a fault test can stop it (SIGSTOP), kill it (SIGKILL) and start it again
on the same data without disturbing the suite's shared server.
``start_gateway`` runs ``python -m graphql_api`` as the e2e tests do, with
the run's settings, and waits until ``/readyz`` answers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.e2e.server import Gateway
from tests.support import FerretDB, free_port, gateway_env, stop_process, wait_answering

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("GROUPSTORE_TEST_GATEWAY_START_TIMEOUT", "60"))


@contextlib.contextmanager
def private_database(port: int | None = None) -> Iterator[FerretDB]:
    """A started FerretDB in a temporary directory; stopped and removed on exit."""
    with tempfile.TemporaryDirectory(prefix="groupstore-load-") as tmp:
        database = FerretDB(Path(tmp) / "ferretdb", port)
        database.start()
        try:
            yield database
        finally:
            with contextlib.suppress(Exception):
                database.thaw()  # a failed test may leave it stopped
            with contextlib.suppress(RuntimeError):
                database.stop()


def spawn_gateway(uri: str, database: str, extra_env: Mapping[str, str]) -> Gateway:
    """Start ``python -m graphql_api`` (not waiting for it); its output goes to a temp file."""
    port = free_port()
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop_gateway)
    process = subprocess.Popen(
        [sys.executable, "-m", "graphql_api"],
        cwd=REPO,
        env=gateway_env(
            port,
            uri,
            database,
            {"GROUPSTORE_GRAPHIQL": "false", "GROUPSTORE_LOG_LEVEL": "WARNING", **extra_env},
        ),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    return Gateway(process, port, uri, database, output)


def wait_ready(gateway: Gateway, timeout: float = START_TIMEOUT) -> float:
    """Seconds until ``/readyz`` answered 200; RuntimeError if the process exits or never is."""
    return wait_answering(
        gateway.process, f"{gateway.url}/readyz", timeout=timeout, log=gateway.log
    )


def stop_gateway(gateway: Gateway) -> None:
    stop_process(gateway.process)
    gateway.output.close()


@contextlib.contextmanager
def running_gateway(
    uri: str, database: str, extra_env: Mapping[str, str] | None = None
) -> Iterator[Gateway]:
    """A ready gateway on ``uri``/``database``; terminated on exit."""
    for _attempt in range(3):  # a free port can be taken before the server binds it
        gateway = spawn_gateway(uri, database, extra_env or {})
        try:
            wait_ready(gateway)
            break
        except RuntimeError:
            log = gateway.log()
            stop_gateway(gateway)
            if "address already in use" not in log.lower():
                raise
    else:
        raise RuntimeError("no free port after 3 attempts")
    try:
        yield gateway
    finally:
        stop_gateway(gateway)
