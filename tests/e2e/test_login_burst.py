"""A burst of wrong-password logins against a real gateway process, at the default Argon2
cost (64 MiB per hash): memory stays near the hashing ceiling and other requests are answered.

Before hashing had a bound, 32 such logins took a gateway from 102 MB to 2,152 MB of
resident memory and made ``{ me { id } }`` wait 5.3 s. The process's peak resident set
(``VmHWM``, kept by the kernel) minus its resident set before the burst bounds the growth
from above, whatever the timing. Latencies are printed for the report, not asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Gateway, running_gateway

MB = 1000 * 1000
BURST = 32
GROWTH_BUDGET = 300 * MB  # the default ceiling is 2 slots x 64 MiB = 134 MB, plus slack
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"
REGISTER = "mutation($u: String!, $p: String!) { registerUser(username: $u, password: $p) { id } }"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status (Linux)"
)


def memory(pid: int, field: str) -> int:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


async def graphql(
    client: httpx.AsyncClient, query: str, token: str | None = None, **variables: str
) -> dict[str, object]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, object] = response.json()
    return body


def codes(body: dict[str, object]) -> set[str]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return {error["extensions"]["code"] for error in errors}


async def burst(gateway: Gateway) -> tuple[int, int, float, list[set[str]], float]:
    limits = httpx.Limits(max_connections=BURST + 4)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=120, limits=limits) as client:
        registered = await graphql(client, REGISTER, u="burst_me", p="burst-me-password")
        login = await graphql(client, LOGIN, u="burst_me", p="burst-me-password")
        token = login["data"]["login"]["token"]  # type: ignore[index]
        await graphql(client, LOGIN, u="warm_up", p="wrong-password")  # makes the decoy hash
        started = time.perf_counter()
        await graphql(client, "{ me { id } }", token)
        idle_seconds = time.perf_counter() - started
        before = memory(gateway.process.pid, "VmRSS")

        logins = [
            asyncio.create_task(graphql(client, LOGIN, u=f"nobody_{i}", p="wrong-password"))
            for i in range(BURST)
        ]
        await asyncio.sleep(0.3)  # the burst is in the server
        me_seconds = []
        for _ in range(5):
            started = time.perf_counter()
            me = await graphql(client, "{ me { id } }", token)
            me_seconds.append(time.perf_counter() - started)
            expected = {"data": {"me": {"id": registered["data"]["registerUser"]["id"]}}}  # type: ignore[index]
            assert me == expected
            await asyncio.sleep(0.5)
        results = await asyncio.gather(*logins)
        peak = memory(gateway.process.pid, "VmHWM")
    return before, peak, statistics.median(me_seconds), [codes(r) for r in results], idle_seconds


def test_a_login_burst_stays_near_the_hashing_memory_ceiling_and_me_is_answered() -> None:
    with running_gateway() as gateway:
        started = time.perf_counter()
        before, peak, me_seconds, result_codes, idle_seconds = asyncio.run(burst(gateway))
        total = time.perf_counter() - started
        gateway.assert_running()

    # Every login failed as a wrong password, or was told to come back (slots busy too long).
    assert all(found in ({"UNKNOWN_USER"}, {"TOO_MANY_REQUESTS"}) for found in result_codes)
    growth = peak - before
    assert growth < GROWTH_BUDGET, f"RSS grew by {growth / MB:.0f} MB"
    refused = sum(found == {"TOO_MANY_REQUESTS"} for found in result_codes)
    print(
        f"\nlogin burst of {BURST}: RSS {before / MB:.0f} MB -> peak {peak / MB:.0f} MB "
        f"(+{growth / MB:.0f} MB); me answered in {me_seconds * 1000:.0f} ms (median of 5) "
        f"(idle: {idle_seconds * 1000:.0f} ms); "
        f"{refused} told to retry; burst took {total:.1f} s"
    )
