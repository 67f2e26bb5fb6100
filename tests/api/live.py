"""A real uvicorn server on loopback, in a thread of the test process, over the test store.

For what only a real server shows: socket-level timeouts, connection limits,
the Host header as uvicorn passes it. Options come from the same
``server_options`` as ``python -m graphql_api``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from graphql_api.__main__ import server_options
from graphql_api.app import create_app
from graphql_api.settings import Settings
from groupstore import GroupStore
from tests.support import free_port


@contextmanager
def live_server(store: GroupStore, **settings: Any) -> Iterator[str]:
    """Serve an app over ``store`` with these settings; yields its base URL."""
    config = Settings(host="127.0.0.1", port=free_port(), log_level="WARNING", **settings)
    options = server_options(config)
    server = uvicorn.Server(
        uvicorn.Config(create_app(store=store, settings=config), lifespan="off", **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):  # bounded: 5 s
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def connect(base_url: str, timeout: float = 10.0) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, bool]:
    """(what the server sent, whether it closed the connection) before the socket's timeout."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not piece:
            return data, True
        data += piece
