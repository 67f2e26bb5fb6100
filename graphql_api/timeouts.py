"""Timeouts that stop slow or stalled clients from holding connections forever.

Three bounds, each a setting (see ``graphql_api.settings``):

- **header timeout** (``HeaderTimeoutH11Protocol``, uvicorn's h11 protocol
  with a timer): a connection must deliver a complete request head within
  ``header_timeout`` seconds of opening, or of the previous response on a
  kept-alive connection; otherwise it is closed. uvicorn has no such timeout
  of its own (its keep-alive timer stops at the first byte), so 300 sockets
  trickling partial headers stayed open indefinitely.
- **body timeout** (``Deadlines``, ASGI): while a request body is still
  arriving, each piece must come within ``body_timeout`` seconds of the last;
  otherwise 408 REQUEST_TIMEOUT (and the connection is closed).
- **request deadline** (``Deadlines``): from the moment the request head is
  in until the response starts, at most ``request_timeout`` seconds (reading
  the body included); otherwise 408 REQUEST_TIMEOUT. Streaming a response body
  (a download) is not under the deadline: it is paced by the client, and a
  client that stops reading is dropped by the server's flow control.

Concurrent connections are bounded by uvicorn's ``limit_concurrency``
(``GROUPSTORE_MAX_CONNECTIONS``): over it, new requests get 503.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import anyio
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from graphql_api.errors import error_response

logger = logging.getLogger("graphql_api")

REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


class _BodyTimeout(Exception):
    """The client stopped sending its body (raised from ``receive``)."""


class Deadlines:
    """ASGI middleware: body read timeout and request deadline (see the module docstring)."""

    def __init__(self, app: ASGIApp, body_timeout: float, request_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.request_timeout = request_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # waiting for a disconnect: no body timeout
                return await receive()
            try:
                with anyio.fail_after(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimeout() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                deadline.deadline = math.inf  # streaming the response is not timed
            await send(message)

        with anyio.CancelScope(deadline=anyio.current_time() + self.request_timeout) as deadline:
            try:
                await self.app(scope, timed_receive, tracked_send)
            except _BodyTimeout:
                reason = f"the request body stalled for {self.body_timeout:g} seconds"
                await self._refuse(started, reason, scope, receive, send)
                return
        if deadline.cancelled_caught:
            reason = f"the request took longer than {self.request_timeout:g} seconds"
            await self._refuse(started, reason, scope, receive, send)

    async def _refuse(
        self, started: bool, reason: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        logger.info("%s %s: %s", scope.get("method"), scope.get("path"), reason)
        if started:  # too late for a status: the server closes the unfinished response
            return
        # Connection: close, since the rest of the body may still be in flight.
        response = error_response(REQUEST_TIMEOUT, reason, headers={"Connection": "close"})
        await response(scope, receive, send)


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head does not arrive in time.

    The timeout comes from the class attribute ``header_timeout`` (see
    :func:`protocol_class`), since uvicorn builds protocols from its config only.
    """

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in (or the peer is done)
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def protocol_class(header_timeout: float) -> type[HeaderTimeoutH11Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with this header timeout."""
    return type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": header_timeout}
    )
