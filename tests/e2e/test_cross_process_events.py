"""Every process's writes reach every gateway's subscribers (tests/e2e/crossprocess.py).

Real-server legs: two gateway processes on one database and the CLI as a
third writer; each write reaches the other gateway's subscriber within 1 s
(p99; a small count here, scripts/events-soak runs 200), none lost, none
twice by position; one gateway is killed with SIGKILL and the subscription
resumes on the other with ``after:``. The in-memory leg has one process.
"""

from __future__ import annotations

import pytest

from tests.backend import MONGO_URI
from tests.e2e.crossprocess import DELIVERY_BOUND, exercise, two_gateways
from tests.e2e.server import running_gateway

pytestmark = pytest.mark.anyio
WRITES = 30
FAST = {"GROUPSTORE_EVENTS_POLL_SECONDS": "0.05"}  # CI time; the soak script uses the default


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.real_server
async def test_writes_through_each_process_reach_the_other_gateway_and_resume_after_a_kill() -> (
    None
):
    with two_gateways(**FAST) as (a, b):
        figures = await exercise(a, b, writes=WRITES, cli_writes=1)

    print(figures.summary())
    assert figures.p(0.99) < DELIVERY_BOUND, figures.summary()


async def test_writes_reach_the_subscriber_in_one_process() -> None:
    if MONGO_URI:
        pytest.skip("the real-server legs run the two-gateway test")
    with running_gateway(None, **FAST) as a:
        figures = await exercise(a, None, writes=10, cli_writes=0)

    assert figures.p(0.99) < DELIVERY_BOUND, figures.summary()
