"""Fixtures for tests that only a real server can run.

``private_server`` starts a FerretDB of its own (scripts/ferretdb) that a test
may stop, kill and restart without disturbing the shared test server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ferretdb"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateServer:
    """A FerretDB instance on its own port and data directory."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.uri = f"mongodb://127.0.0.1:{self.port}/"

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [str(SCRIPT), *args, "--port", str(self.port), "--dir", str(self.directory)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"scripts/ferretdb {args[0]} failed:\n{result.stderr}")
        return result.stdout.strip()

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop", "--keep")

    def kill(self) -> None:
        """SIGKILL: the server dies mid-operation, as in a crash."""
        pid = int((self.directory / "ferretdb.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # not our child (the script started it): poll
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise RuntimeError(f"ferretdb {pid} survived SIGKILL")


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    if not SCRIPT.exists():
        pytest.fail("scripts/ferretdb is missing")
    server = PrivateServer(tmp_path / "ferretdb")
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop()
