"""The ``/graphql`` endpoint: Strawberry's ASGI view with the gateway's request handling.

On top of Strawberry's view it
- authenticates in ``get_context``, which runs before the body is read, and
  refuses multipart requests without the CSRF header or a valid key there;
- answers every HTTP-level refusal as JSON with ``extensions.code``
  (Strawberry answers those in plain text);
- decodes bodies strictly (``graphql_api.request_body``): any malformed
  request (not JSON, not UTF-8, not an object, too deep, a lone surrogate,
  a multipart ``map`` of the wrong shape, ...) is a 400 BAD_REQUEST;
- closes the request's upload spool files when the request ends, whether
  or not a resolver used them (Strawberry leaves them open);
- serves the offline GraphiQL page of ``graphql_api.graphiql`` (no CDN);
- authenticates WebSockets (subscriptions) by the ``connection_init`` payload.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryHTTPException
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

import groupstore
from graphql_api import request_body
from graphql_api.auth import authenticate
from graphql_api.context import Context, get_events, get_store
from graphql_api.errors import STATUS_CODE, BadRequest, GatewayError, HTTPError, error_response
from graphql_api.graphiql import graphiql_html
from graphql_api.settings import Settings
from graphql_api.sockets import (
    LimitedWebSocketAdapter,
    SocketHandler,
    get_limits,
    refuse_handshake,
)
from graphql_api.uploads import LimitedFormAdapter, check_csrf, is_multipart


class GatewayGraphQL(GraphQL[Context, None]):
    request_adapter_class = LimitedFormAdapter
    websocket_adapter_class = LimitedWebSocketAdapter
    graphql_transport_ws_handler_class = SocketHandler

    def __init__(self, schema: BaseSchema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
            multipart_uploads_enabled=True,
            # Subscriptions: graphql-transport-ws only; the key comes in connection_init.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=settings.cors_origins,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_user,
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.serve_socket(WebSocket(scope, receive, send))
            return
        request = Request(scope, receive)
        try:
            try:
                response = await self.run(request)
            except HTTPError as exc:
                response = exc.response()
            except (StrawberryHTTPException, StarletteHTTPException) as exc:
                status = exc.status_code
                message = exc.reason if isinstance(exc, StrawberryHTTPException) else exc.detail
                if status == 413:
                    message = "the request body is over the size limit"
                response = error_response(STATUS_CODE.get(status, "BAD_REQUEST"), message, status)
            await response(scope, receive, send)
        finally:
            await request.close()  # closes every spooled upload file

    async def serve_socket(self, ws: WebSocket) -> None:
        """Serve a WebSocket within the socket bounds (``graphql_api.sockets``)."""
        limits = get_limits(ws)
        address = ws.client.host if ws.client is not None else ""
        if not limits.admit(address):
            await refuse_handshake(ws)
            return
        try:
            await self.run(ws)
        finally:
            limits.release(address)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return request_body.decode_json(data)
        except GatewayError as exc:
            raise HTTPError(exc) from None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        try:
            return await super().parse_http_body(request)
        except (HTTPError, StrawberryHTTPException, StarletteHTTPException):
            raise
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError) as exc:
            # Strawberry's own parsing failed on a shape it did not expect (a JSON body
            # that is not an object, ...): the client's doing, whatever the detail.
            raise HTTPError(
                BadRequest("the request must be a JSON object with a 'query' string")
            ) from exc

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, Any]:
        """Strawberry's multipart parsing, with the shapes of ``operations`` and ``map`` checked."""
        try:
            form_data = await request.get_form_data()
        except ValueError as exc:
            raise HTTPError(BadRequest("the multipart body cannot be parsed")) from exc
        form = form_data.form
        raw_operations, raw_map = form.get("operations"), form.get("map", "{}")
        if not isinstance(raw_operations, (str, bytes)) or not isinstance(raw_map, (str, bytes)):
            raise HTTPError(BadRequest("multipart requests need 'operations' and 'map' fields"))
        try:
            operations = request_body.expect_object(
                request_body.decode_json(raw_operations), "the multipart field 'operations'"
            )
            file_names = {name for name, value in form.items() if isinstance(value, UploadFile)}
            files_map = request_body.check_files_map(request_body.decode_json(raw_map), file_names)
            return replace_placeholders_with_files(operations, files_map, form_data.files)
        except GatewayError as exc:
            raise HTTPError(exc) from None
        except (LookupError, TypeError, ValueError) as exc:
            raise HTTPError(
                BadRequest("a 'map' path does not name a variable of 'operations'")
            ) from exc

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):  # authenticated by on_ws_connect
            return Context(
                request=request,
                response=request,
                store=get_store(request),
                settings=self.settings,
                events=get_events(request),
            )
        assert isinstance(request, Request) and isinstance(response, Response)
        check_csrf(request.headers)
        store = get_store(request)
        user, token = await authenticate(store, request.headers)
        if user is None and is_multipart(request.headers):
            # Refuse before a single byte of the upload is read.
            raise HTTPError(
                groupstore.UnauthenticatedAccessError(
                    "uploads need 'Authorization: Bearer <api key>'"
                )
            )
        return Context(
            request=request,
            response=response,
            store=store,
            settings=self.settings,
            user=user,
            token=token,
            events=get_events(request),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate the socket by ``connection_init``'s ``{"Authorization": "Bearer <key>"}``.

        No key, a malformed one, or one that does not authenticate: closed with 4403.
        """
        params = context.connection_params or {}
        header = next((v for k, v in params.items() if k.lower() == "authorization"), None)
        if not isinstance(header, str):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        try:
            user, token = await authenticate(context.store, {"authorization": header})
        except HTTPError as exc:
            raise ConnectionRejectionError({"code": exc.code}) from exc
        if user is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        get_limits(context.request).admit_user(user.user_id)  # TooManySockets: 4429
        context.user, context.token = user, token
        context.users.prime(user.user_id, user)
        return cast("UnsetType", UNSET)

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from a CDN; this one is served by the app.
        return HTMLResponse(graphiql_html(request.url.path))
