"""WebSockets (``graphql-transport-ws``): how many, whose, and whether their session holds.

A socket is authenticated by its ``connection_init`` payload; from then on
its key is checked again for every operation it starts and, while it is
open, at most every ``GROUPSTORE_WS_SESSION_CHECK_SECONDS`` by the process's
:class:`SessionWatch`: a session that ended anywhere (logout, password change
or reset, expiry, in any process: the database is asked, not an event) closes
every socket of that key with 4401 and cancels what they were running.

Bounds, apart from the HTTP connection bound (so HTTP keeps answering while
they are hit), per process (:class:`SocketLimits`):

- sockets in total and per client address: counted before the handshake is
  accepted; beyond either, the handshake is refused (HTTP 429 where the
  server can send it, else 403);
- sockets per user: beyond it, ``connection_init`` is answered by closing
  with 4429;
- ``connection_init`` must arrive within ``GROUPSTORE_WS_INIT_TIMEOUT_SECONDS``
  (else 4408, Strawberry's);
- subscriptions per user: beyond it, the subscription fails with
  TOO_MANY_REQUESTS;
- a message over 1 MiB (the HTTP body limit) closes the socket with 4413
  before it is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

import groupstore
from graphql_api.errors import BadRequest, HTTPError, error_body, error_response, public_error
from graphql_api.settings import Settings
from graphql_api.uploads import MAX_JSON_BODY

logger = logging.getLogger("graphql_api")

CLOSE_UNAUTHORIZED = 4401  # graphql-transport-ws: "Unauthorized"
CLOSE_TOO_LARGE = 4413
CLOSE_TOO_MANY = 4429
MAX_MESSAGE_BYTES = MAX_JSON_BODY
"""A WebSocket message obeys the limit of a (non-multipart) HTTP request body."""
CHECK_THREADS = 4
"""Session checks run in at most this many threads at once (the rest stay for requests)."""

OnEnd = Callable[[], Coroutine[Any, Any, None]]


class TooManySockets(Exception):
    """The user already holds as many sockets as allowed (raised by ``on_ws_connect``)."""


class SocketLimits:
    """Counts of this process's sockets and subscriptions (the event loop's thread only)."""

    def __init__(self, settings: Settings) -> None:
        self.total_limit = settings.ws_socket_limit
        self.address_limit = settings.ws_max_sockets_per_address
        self.user_limit = settings.ws_max_sockets_per_user
        self.subscription_limit = settings.ws_max_subscriptions_per_user
        self.total = 0
        self.by_address: Counter[str] = Counter()
        self.by_user: Counter[str] = Counter()
        self.subscriptions: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        """Count a socket of ``address``; False (nothing counted) over a bound."""
        if self.total >= self.total_limit or self.by_address[address] >= self.address_limit:
            return False
        self.total += 1
        self.by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.total -= 1
        _decrement(self.by_address, address)

    def admit_user(self, user_id: str) -> None:
        """Count an authenticated socket of the user; TooManySockets over the bound."""
        if self.by_user[user_id] >= self.user_limit:
            raise TooManySockets(user_id)
        self.by_user[user_id] += 1

    def release_user(self, user_id: str) -> None:
        _decrement(self.by_user, user_id)

    @contextlib.contextmanager
    def subscription(self, user_id: str) -> Iterator[None]:
        """One subscription of the user while in use; TOO_MANY_REQUESTS over the bound."""
        if self.subscriptions[user_id] >= self.subscription_limit:
            raise groupstore.TooManyRequestsError(
                1, f"at most {self.subscription_limit} subscriptions per user at once"
            )
        self.subscriptions[user_id] += 1
        try:
            yield
        finally:
            _decrement(self.subscriptions, user_id)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class _Session:
    def __init__(self, store: groupstore.GroupStore, token: str) -> None:
        self.store = store
        self.token = token
        self.checked_at = -math.inf
        self.ended = False
        self.listeners: set[OnEnd] = set()
        self.refresh: asyncio.Task[None] | None = None


class SessionWatch:
    """The sessions of this process's sockets, each checked against the database.

    One entry per key, shared by all its sockets: the cost is one read per
    session every ``interval`` seconds, whatever the number of sockets. Checks
    run in worker threads (at most ``CHECK_THREADS`` at once), never on the
    event loop. ``checks`` counts them.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.checks = 0
        self._sessions: dict[str, _Session] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._limiter = anyio.CapacityLimiter(CHECK_THREADS)

    def watch(self, store: groupstore.GroupStore, token: str, on_end: OnEnd) -> None:
        """Call ``on_end`` (once) when the key's session ends; just authenticated."""
        session = self._sessions.get(token)
        if session is None:
            session = self._sessions[token] = _Session(store, token)
            session.checked_at = time.monotonic()
        session.listeners.add(on_end)
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="groupstore-session-watch")

    def unwatch(self, token: str, on_end: OnEnd) -> None:
        session = self._sessions.get(token)
        if session is None:
            return
        session.listeners.discard(on_end)
        if not session.listeners:
            del self._sessions[token]
        if not self._sessions and self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None

    async def valid(self, token: str, max_age: float | None = None) -> bool:
        """Whether the (watched) key's session holds, known at most ``max_age`` seconds ago.

        Raises the store's error (STORE_UNAVAILABLE) when it must ask and cannot.
        """
        session = self._sessions.get(token)
        if session is None:
            return False
        age = self.interval if max_age is None else max_age
        if not session.ended and time.monotonic() - session.checked_at >= age:
            await self._refresh(session)
        return not session.ended

    async def _run(self) -> None:
        while self._sessions:
            await asyncio.sleep(self.interval)
            sessions = list(self._sessions.values())
            results = await asyncio.gather(
                *(self._refresh(s) for s in sessions), return_exceptions=True
            )
            for result in results:
                if isinstance(result, groupstore.GroupStoreError):
                    logger.warning("a socket's session could not be checked: %s", result)

    async def _refresh(self, session: _Session) -> None:
        """Ask the database once (concurrent askers share the answer)."""
        if session.refresh is None or session.refresh.done():
            session.refresh = asyncio.create_task(self._check(session))
        await asyncio.shield(session.refresh)

    async def _check(self, session: _Session) -> None:
        started = time.monotonic()
        self.checks += 1
        try:
            await anyio.to_thread.run_sync(
                session.store.users.authenticate, session.token, limiter=self._limiter
            )
        except groupstore.UnauthenticatedAccessError:
            session.ended = True
            for on_end in list(session.listeners):
                try:
                    await on_end()
                except Exception:  # one socket's failure to close must not keep the others open
                    logger.exception("closing a socket whose session ended failed")
            return
        session.checked_at = max(session.checked_at, started)


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, with the message size bounded and any undecodable message 4400."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        ws = self.ws
        while ws.application_state != WebSocketState.DISCONNECTED:
            try:
                message = await ws.receive()
            except RuntimeError:  # closed by the gateway meanwhile
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self.close(4400, "WebSocket message type must be text")
                return
            if len(text) > MAX_MESSAGE_BYTES // 4 and len(text.encode()) > MAX_MESSAGE_BYTES:
                await self.close(CLOSE_TOO_LARGE, "the message is over the 1 MiB limit")
                return
            try:
                yield self.view.decode_json(text)
            except HTTPError as exc:  # the gateway's strict decoding refused it
                if not ignore_parsing_errors:
                    raise NonJsonMessageReceived from exc

    async def close(self, code: int, reason: str) -> None:
        await close_socket(self.ws, code, reason)


async def close_socket(ws: WebSocket, code: int, reason: str) -> None:
    """Close once, whoever asks first (a second close is a no-op)."""
    if ws.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(RuntimeError):  # a close already sent
        await ws.close(code=code, reason=reason)


def get_limits(connection: HTTPConnection) -> SocketLimits:
    limits: SocketLimits = connection.app.state.sockets
    return limits


def get_sessions(connection: HTTPConnection) -> SessionWatch:
    sessions: SessionWatch = connection.app.state.sessions
    return sessions


class SocketHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """Strawberry's ``graphql-transport-ws`` handler, checking the session for every operation.

    Once the session has ended the socket runs nothing more: its operations
    are cancelled and it closes with 4401.
    """

    ended = False

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManySockets:
            await self.websocket.close(CLOSE_TOO_MANY, "too many sockets for this user")
            return
        if self.connection_acknowledged:
            self.context.socket = self
            get_sessions(self.context.request).watch(
                self.context.store, self.context.token, self.end
            )

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            try:
                valid = not self.ended and await self.session_valid()
            except groupstore.GroupStoreError as exc:
                await self.refuse(message, exc)
                return
            if not valid:
                await self.end()
                return
        problem = _payload_problem(message.get("payload"))
        if problem is not None:
            await self.refuse(message, problem)
            return
        await super().handle_subscribe(message)

    @staticmethod
    def _get_pre_execution_close_reason(error: Any) -> str | None:
        # Strawberry closes the whole socket (4400) for a syntax error or an unknown
        # operation; here that operation alone fails, with its code, as over HTTP.
        return None

    async def session_valid(self, max_age: float | None = None) -> bool:
        sessions = get_sessions(self.context.request)
        return await sessions.valid(self.context.token, max_age)

    async def require_session(self, max_age: float | None = None) -> None:
        """End the socket (and so the caller's task) when the session has ended."""
        if not await self.session_valid(max_age):
            await self.end()
            await asyncio.Event().wait()  # until the end cancels this operation

    async def refuse(self, message: SubscribeMessage, error: Exception) -> None:
        code, text = public_error(error) or ("BAD_REQUEST", str(error))
        await self.send_message(
            {"id": message["id"], "type": "error", "payload": error_body(code, text)["errors"]}
        )

    async def end(self) -> None:
        """The session ended: cancel every operation and close with 4401."""
        self.ended = True
        current = asyncio.current_task()
        for operation in list(self.operations.values()):
            if operation.task is not None and operation.task is not current:
                operation.task.cancel()
        await self.websocket.close(CLOSE_UNAUTHORIZED, "Unauthorized: the session has ended")

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            user = self.context.user
            if self.connection_acknowledged and user is not None:
                get_limits(self.context.request).release_user(user.user_id)
                get_sessions(self.context.request).unwatch(self.context.token, self.end)


def _payload_problem(payload: object) -> BadRequest | None:
    """Why a subscribe payload is not a GraphQL request (None when it is one)."""
    if not isinstance(payload, dict):
        return BadRequest("the payload must be an object with a non-blank 'query' string")
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        return BadRequest("the payload must be an object with a non-blank 'query' string")
    for name, kind in (("variables", dict), ("extensions", dict), ("operationName", str)):
        value = payload.get(name)
        if value is not None and not isinstance(value, kind):
            return BadRequest(f"the payload's {name!r} has the wrong type")
    return None


async def refuse_handshake(ws: WebSocket) -> None:
    """Refuse a WebSocket over the socket bounds: 429 where the server can say it, else 403."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(
            error_response("TOO_MANY_REQUESTS", "too many WebSockets; try again later", 429,
                           {"Retry-After": "1"})
        )  # fmt: skip
    else:
        await ws.close(code=1013)  # Try Again Later
