"""The real gateway as a separate process, for the end-to-end and browser tests.

``gateway`` (session scope) starts ``python -m graphql_api`` on a free loopback
port with a fresh store: ``GROUPSTORE_TEST_MONGO_URI`` with a new database
(dropped afterwards) when set, else ``mongomock://`` (in the server process's
memory). It waits for ``/healthz``, and at the end terminates the process
(SIGTERM, then SIGKILL). When a test using it fails, the server's output is
attached to the report as the section "gateway output".
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from tests.e2e.gqlclient import Apis
from tests.e2e.server import Gateway, running_gateway


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    with running_gateway() as started:
        yield started


@pytest.fixture
def api(gateway: Gateway) -> Iterator[Any]:
    """``api(token=None)`` opens a gql session (as that user); all are closed after the test."""
    apis = Apis(gateway)
    yield apis
    apis.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and "gateway" in getattr(item, "fixturenames", ()):
        gateway = getattr(item, "funcargs", {}).get("gateway")
        if isinstance(gateway, Gateway):
            report.sections.append(("gateway output", gateway.log()))
    return report
