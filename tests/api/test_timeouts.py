"""Slow clients cannot hold the server: header and body timeouts, a request deadline, a
connection bound. Each test runs a real uvicorn on loopback with short settings."""

from __future__ import annotations

import json
import time

import httpx

from groupstore import GroupStore

from .live import connect, live_server, read_until_closed

HEAD = b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


def test_a_connection_that_never_finishes_its_headers_is_closed(store: GroupStore) -> None:
    with live_server(store, header_timeout_seconds=0.3) as url:
        sock = connect(url)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")

        data, closed = read_until_closed(sock)

    assert closed and data == b""


def test_many_partial_headers_are_all_closed(store: GroupStore) -> None:
    with live_server(store, header_timeout_seconds=0.3) as url:
        socks = [connect(url) for _ in range(20)]
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: te")

        results = [read_until_closed(sock) for sock in socks]

    assert all(closed for _, closed in results)


def test_a_complete_request_is_answered_under_the_header_timeout(store: GroupStore) -> None:
    with live_server(store, header_timeout_seconds=0.3) as url, httpx.Client() as client:
        first = client.get(f"{url}/healthz")
        time.sleep(0.1)
        second = client.get(f"{url}/healthz")  # same kept-alive connection

    assert first.status_code == second.status_code == 200


def test_a_stalled_body_gets_408_request_timeout(store: GroupStore) -> None:
    with live_server(store, body_timeout_seconds=0.3) as url:
        sock = connect(url)
        sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n" + b'{"query": ')

        data, closed = read_until_closed(sock)

    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert closed


def test_a_body_trickling_past_the_deadline_gets_408(store: GroupStore) -> None:
    body = b'{"query": "{ __typename }"}'
    with live_server(store, body_timeout_seconds=5, request_timeout_seconds=0.5) as url:
        sock = connect(url)
        sock.sendall(HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode())
        for byte in body[:10]:  # one byte every 0.1 s: never stalled, but too slow overall
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server has answered and closed
                break
            time.sleep(0.1)

        data, _ = read_until_closed(sock)

    assert data.startswith(b"HTTP/1.1 408")
    assert b"REQUEST_TIMEOUT" in data


def test_a_normal_request_is_not_affected_by_the_timeouts(store: GroupStore) -> None:
    settings = {"body_timeout_seconds": 0.5, "request_timeout_seconds": 1}
    with live_server(store, **settings) as url:
        response = httpx.post(f"{url}/graphql", json={"query": "{ __typename }"})

    assert response.json() == {"data": {"__typename": "Query"}}


def test_requests_over_the_connection_limit_get_503(store: GroupStore) -> None:
    with live_server(store, max_connections=2, header_timeout_seconds=5) as url:
        idle = [connect(url) for _ in range(2)]
        for sock in idle:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: te")
        time.sleep(0.1)  # let the server register both connections
        refused = httpx.get(f"{url}/healthz")
        for sock in idle:
            sock.close()

    assert refused.status_code == 503
