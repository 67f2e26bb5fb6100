"""Fixtures for tests that only a real server can run.

``private_server`` starts a FerretDB of its own (scripts/ferretdb) that a test
may stop, kill and restart without disturbing the shared test server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import FERRETDB_SCRIPT, FerretDB


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[FerretDB]:
    if not FERRETDB_SCRIPT.exists():
        pytest.fail("scripts/ferretdb is missing")
    server = FerretDB(tmp_path / "ferretdb")
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            server.stop()
