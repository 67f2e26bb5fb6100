"""Figures for the README's "Reliability and security" section (a real uvicorn on loopback).

    .venv/bin/python -m bench.gateway_hardening

1. Fragment bomb (3 spreads per level) at 13 and 150 levels: answer time, and
   the latency of a /healthz sent while it is being answered.
2. 300 sockets sending a partial request head, 300 sending a partial body:
   how many are still open 2 s after the header / body timeout (2 s here).
"""

from __future__ import annotations

import socket
import threading
import time

import httpx

import groupstore
from tests.api.live import connect, live_server
from tests.api.test_limits import bomb


def fragment_bomb(url: str, levels: int) -> None:
    healthz: list[float] = []
    probe_client = httpx.Client()
    probe_client.get(f"{url}/healthz")  # connection open before timing

    def probe() -> None:
        time.sleep(0.001)
        start = time.perf_counter()
        probe_client.get(f"{url}/healthz")
        healthz.append(time.perf_counter() - start)

    client = httpx.Client(timeout=60)
    client.get(f"{url}/healthz")
    thread = threading.Thread(target=probe)
    start = time.perf_counter()
    thread.start()
    response = client.post(f"{url}/graphql", json={"query": bomb(levels)})
    elapsed = time.perf_counter() - start
    thread.join()
    code = response.json()["errors"][0]["extensions"]["code"]
    print(
        f"fragment bomb, {levels} levels ({len(bomb(levels))} bytes): {code} in "
        f"{elapsed * 1000:.1f} ms; concurrent /healthz {healthz[0] * 1000:.1f} ms"
    )


def still_open(socks: list[socket.socket]) -> int:
    """Sockets the server has not closed (an answer such as a 408 may come first)."""
    count = 0
    for sock in socks:
        sock.settimeout(0.05)
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            count += 1
        except OSError:
            pass
    return count


def slow_clients(url: str, timeout: float) -> None:
    heads = [connect(url) for _ in range(300)]
    for sock in heads:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    bodies = [connect(url) for _ in range(300)]
    for sock in bodies:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
    time.sleep(timeout + 2)
    print(
        f"after {timeout + 2:g} s: {still_open(heads)}/300 partial heads and "
        f"{still_open(bodies)}/300 partial bodies still open"
    )
    for sock in heads + bodies:
        sock.close()


def main() -> None:
    store = groupstore.connect("mongomock://")
    with live_server(store, header_timeout_seconds=2, body_timeout_seconds=2) as url:
        for levels in (13, 150):
            fragment_bomb(url, levels)
        slow_clients(url, 2)


if __name__ == "__main__":
    main()
