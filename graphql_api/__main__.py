"""``python -m graphql_api`` / ``groupstore-gateway``: serve the gateway with uvicorn.

python -m graphql_api                   # host and port from GROUPSTORE_HOST / _PORT
python -m graphql_api --print-schema    # the SDL, as committed in schema.graphql
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import uvicorn

from graphql_api.settings import Settings, SettingsError
from graphql_api.timeouts import protocol_class

APP_FACTORY = "graphql_api.app:create_app"


def print_schema() -> None:
    from graphql_api.schema import build_schema

    sys.stdout.write(str(build_schema()) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="groupstore-gateway",
        description="Serve the groupstore GraphQL gateway. Settings: GROUPSTORE_* variables.",
    )
    parser.add_argument(
        "--print-schema", action="store_true", help="print the schema's SDL and exit"
    )
    args = parser.parse_args(argv)
    if args.print_schema:
        print_schema()
        return
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        parser.exit(2, f"groupstore-gateway: invalid setting: {exc}\n")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The factory reads the same environment in the server process, so the
    # import string also works with uvicorn's --workers and --reload.
    uvicorn.run(APP_FACTORY, factory=True, **server_options(settings))


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options from the settings: address, timeouts, connection bound, proxies."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        # h11 with a request-head timeout (uvicorn has none of its own).
        "http": protocol_class(settings.header_timeout_seconds),
        "timeout_keep_alive": settings.keepalive_seconds,
        "limit_concurrency": settings.max_connections,
        # X-Forwarded-* only from the proxies named (uvicorn trusts 127.0.0.1 by default).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }


if __name__ == "__main__":
    main()
