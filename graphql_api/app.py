"""``create_app``: the one place that wires the gateway.

Stateless by design: sessions are API keys in MongoDB and nothing else is
kept between requests, so any number of copies can run behind a load
balancer. Each process holds one store (one ``MongoClient`` and its pool),
opened by the lifespan and closed at shutdown, unless a store is injected
(tests), which the app then neither opens nor closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

import groupstore
from graphql_api.context import get_store
from graphql_api.downloads import download
from graphql_api.errors import INTERNAL, MASKED_MESSAGE, error_response
from graphql_api.events import EventBroker, broker_for
from graphql_api.graphiql import static_routes
from graphql_api.observability import Observability
from graphql_api.origin import PublicOrigin
from graphql_api.schema import build_schema
from graphql_api.settings import Settings
from graphql_api.signing import Signer
from graphql_api.sockets import SessionWatch, SocketLimits
from graphql_api.subscriptions import SharedReads
from graphql_api.timeouts import Deadlines
from graphql_api.uploads import PREFLIGHT_HEADERS, BodyLimit
from graphql_api.view import GatewayGraphQL

logger = logging.getLogger("graphql_api")

IN_MEMORY_WARNING = (
    "GROUPSTORE_MONGO_URI is %s: the data lives in this process's memory only "
    "and is lost when it exits (set GROUPSTORE_MONGO_URI=mongodb://... to keep it)"
)


def create_app(
    store: groupstore.GroupStore | None = None, settings: Settings | None = None
) -> Starlette:
    """The ASGI app; with ``store`` injected, the lifespan neither opens nor closes one."""
    settings = settings or Settings.from_env()
    observe = Observability(settings)  # request ids, access log, metrics (observability.py)
    view = GatewayGraphQL(observe.instrument_schema(build_schema(settings)), settings)
    routes: list[BaseRoute] = [
        Route("/graphql", BodyLimit(view, settings.max_upload_bytes), methods=["GET", "POST"],
              name="graphql"),
        WebSocketRoute("/graphql", view, name="graphql-ws"),  # subscriptions
        Route("/files/{group_id}/{file_id}", download, methods=["GET", "HEAD"], name="download"),
        Route("/healthz", healthz, methods=["GET", "HEAD"], name="healthz"),
        Route("/readyz", readyz, methods=["GET", "HEAD"], name="readyz"),
    ]  # fmt: skip
    if settings.graphiql:
        routes.extend(static_routes())  # GraphiQL's assets, served locally
    routes.extend(observe.routes())
    middleware = [
        *observe.middleware(),
        # Bound how long a request may take to arrive and be answered, then fix the
        # origin URLs are built on (never the client's Host header).
        Middleware(
            Deadlines,
            body_timeout=settings.body_timeout_seconds,
            request_timeout=settings.request_timeout_seconds,
        ),
        Middleware(
            PublicOrigin,
            public_url=settings.public_url,
            trust_host=bool(settings.trusted_proxies),
        ),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "HEAD", "POST"],
                allow_headers=["authorization", "content-type", *PREFLIGHT_HEADERS],
                expose_headers=["content-disposition", "content-length", "content-range", "etag"],
                max_age=600,
            )
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store is not None:  # the caller's store: its change log feeds the subscriptions
            app.state.events = broker_for(settings.events, store, settings.events_poll_seconds)
            await app.state.events.start()
            try:
                yield
            finally:
                await app.state.events.stop()
            return
        if settings.in_memory:
            logger.warning(IN_MEMORY_WARNING, settings.mongo_uri)
        opened = await run_in_threadpool(
            groupstore.connect,
            settings.mongo_uri,
            settings.database,
            timeout=settings.store_timeout_seconds,
            token_ttl=timedelta(seconds=settings.token_ttl_seconds),
            policy=settings.account_policy(),
            sender=settings.token_sender(),
            first_user_admin=settings.first_user_admin,
        )
        app.state.store = observe.store(opened)
        logger.info(
            "connected to the store (database %r on %s)", opened.database_name, opened.server_kind
        )
        logger.info(
            "password hashing uses at most %d MiB (%d at once)",
            opened.users.policy.memory_ceiling_bytes // 2**20,
            opened.users.policy.hash_concurrency,
        )
        try:
            app.state.events = broker_for(settings.events, opened, settings.events_poll_seconds)
            await app.state.events.start()  # from the change log's newest position
            yield
        finally:
            await app.state.events.stop()
            app.state.store = None
            await run_in_threadpool(opened.close)

    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        # No app-wide max_body_size: only /graphql reads bodies, and BodyLimit bounds them
        # (an outer limit would also answer /graphql's 413s in plain text).
        exception_handlers={404: _not_found, 405: _method_not_allowed, Exception: _internal},
    )
    app.state.store = observe.store(store)
    app.state.settings = settings
    app.state.events = EventBroker()  # delivers nothing until the lifespan starts the real one
    app.state.signer = Signer.from_settings(settings)
    # WebSockets: their bounds, their sessions' checks, the reads their events share.
    app.state.sockets = SocketLimits(settings)
    app.state.sessions = SessionWatch(settings.ws_session_check_seconds)
    app.state.reads = SharedReads()
    return app


async def healthz(request: Request) -> Response:
    """The process is up (the database is not asked: that is /readyz)."""
    return JSONResponse({"status": "ok"})


# /readyz answers within this bound whatever the store's timeout: a probe that hangs
# is as bad as one that fails. Its pings get their own few threads, so pings
# abandoned at the deadline (still waiting for a frozen server) never take the
# threads that requests run in.
READY_TIMEOUT = 1.0
_READY_THREADS = anyio.CapacityLimiter(4)


async def readyz(request: Request) -> Response:
    """The database answers a ping within READY_TIMEOUT seconds (503 otherwise)."""
    try:
        store = get_store(request)
        with anyio.fail_after(READY_TIMEOUT):
            await anyio.to_thread.run_sync(
                store.ping, abandon_on_cancel=True, limiter=_READY_THREADS
            )
    except Exception as exc:
        logger.warning("readiness check failed: %s", exc or type(exc).__name__)
        return error_response("STORE_UNAVAILABLE", "the database does not answer", 503)
    return JSONResponse({"status": "ready"})


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response("NOT_FOUND", "no such route", 404)


async def _internal(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception with its traceback (and re-raises it to the server).
    return error_response(INTERNAL, MASKED_MESSAGE, 500)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response("METHOD_NOT_ALLOWED", "method not allowed", 405)
