"""``python -m graphql_api`` / ``groupstore-gateway``: serve the gateway with uvicorn.

python -m graphql_api                   # host and port from GROUPSTORE_HOST / _PORT
python -m graphql_api --host 0.0.0.0 --port 9000
python -m graphql_api --print-schema    # the SDL, as committed in schema.graphql

A database that does not answer at start-up stops the server with one line
on stderr and exit status 1 (not a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import uvicorn

import groupstore
from graphql_api.observability import configure_logging
from graphql_api.settings import Settings, SettingsError
from graphql_api.sockets import MAX_MESSAGE_BYTES
from graphql_api.timeouts import protocol_class

APP_FACTORY = "graphql_api.app:create_app"
WS_MESSAGE_SLACK = 64 * 1024


def schema_sdl() -> str:
    """The schema's SDL (``groupstore schema`` finds it through the ``groupstore.gateway``
    entry point)."""
    from graphql_api.schema import build_schema

    return str(build_schema())


def print_schema() -> None:
    sys.stdout.write(schema_sdl() + "\n")


def check_store(settings: Settings) -> str | None:
    """Why the store cannot be used (one line), or None when it answers."""
    if settings.in_memory:
        return None
    try:
        groupstore.connect(settings.mongo_uri, settings.database).close()
    except groupstore.GroupStoreError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="groupstore-gateway",
        description="Serve the groupstore GraphQL gateway. Settings: GROUPSTORE_* variables.",
    )
    parser.add_argument(
        "--print-schema", action="store_true", help="print the schema's SDL and exit"
    )
    parser.add_argument("--host", help="interface to listen on (default: GROUPSTORE_HOST)")
    parser.add_argument("--port", type=int, help="TCP port (default: GROUPSTORE_PORT)")
    args = parser.parse_args(argv)
    if args.print_schema:
        print_schema()
        return 0
    try:
        settings = settings_with(None, args.host, args.port)
    except SettingsError as exc:
        parser.exit(2, f"groupstore-gateway: invalid setting: {exc}\n")
    # The server processes read the settings from the environment: pass the overrides on.
    os.environ["GROUPSTORE_HOST"], os.environ["GROUPSTORE_PORT"] = settings.host, str(settings.port)
    # The factory reads the same environment in the server process, so the
    # import string also works with uvicorn's --workers and --reload.
    return run(settings, APP_FACTORY)


def serve(environ: Mapping[str, str], host: str | None = None, port: int | None = None) -> int:
    """``groupstore serve``: serve with the settings of ``environ`` (``GROUPSTORE_*``), not
    ``os.environ``; found through the ``groupstore.gateway`` entry point, so that the
    library never imports the gateway. One server process: the app is built here."""
    try:
        settings = settings_with(environ, host, port)
    except SettingsError as exc:
        print(f"groupstore-gateway: invalid setting: {exc}", file=sys.stderr)
        return 2
    from graphql_api.app import create_app

    return run(settings, functools.partial(create_app, settings=settings))


def settings_with(
    environ: Mapping[str, str] | None, host: str | None, port: int | None
) -> Settings:
    """The settings of ``environ`` (``os.environ`` if None), ``--host``/``--port`` winning."""
    settings = Settings.from_env(environ)
    if host is not None:
        settings = dataclasses.replace(settings, host=host)
    if port is not None:
        settings = dataclasses.replace(settings, port=port)
    return settings


def run(settings: Settings, app: str | Callable[[], Any]) -> int:
    """Serve ``app`` (an app factory) with uvicorn, once the store answers."""
    configure_logging(settings)
    problem = check_store(settings)
    if problem is not None:
        print(f"groupstore-gateway: cannot start: {problem}", file=sys.stderr)
        return 1
    uvicorn.run(app, factory=True, **server_options(settings))
    return 0


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options from the settings: address, logging, timeouts, connections, proxies."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # configure_logging did it (text or JSON)
        "access_log": False,  # graphql_api.access writes one line per request instead
        # h11 with a request-head timeout (uvicorn has none of its own).
        "http": protocol_class(settings.header_timeout_seconds),
        "timeout_keep_alive": settings.keepalive_seconds,
        "limit_concurrency": settings.max_connections,
        # A WebSocket message over this is refused by the server before it is buffered
        # (1009); the gateway closes over 1 MiB with 4413 (graphql_api.sockets).
        "ws_max_size": MAX_MESSAGE_BYTES + WS_MESSAGE_SLACK,
        # X-Forwarded-* only from the proxies named (uvicorn trusts 127.0.0.1 by default).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }


if __name__ == "__main__":
    sys.exit(main())
