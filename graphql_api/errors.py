"""Error codes: the one place where failures become ``extensions.code``.

Every error a client can cause reaches it with a code; anything else is
logged with its traceback and masked as ``"Unexpected error."`` / ``INTERNAL``.

Library errors keep their own ``code`` (see ``groupstore.errors``):
CONSTRAINT_VIOLATION, INVALID_PARAMETER, INVALID_ARGUMENT, DUPLICATE_USER,
NOT_FOUND, UNKNOWN_USER, UNKNOWN_WORKFLOW, UNKNOWN_GROUP, UNKNOWN_FILE,
UNAUTHENTICATED, FORBIDDEN, TOO_MANY_REQUESTS (with ``extensions.retryAfter``
and a ``Retry-After`` header, in seconds), STORE_UNAVAILABLE (with a generic
message: the driver's names hosts). The bare ``GroupStoreError`` (STORE_ERROR) is not
the client's doing and is masked. The gateway adds:

    UNAUTHENTICATED            (the library's) no key where one is needed; a
                               malformed, unknown or expired key (HTTP 401)
    FORBIDDEN                  (the library's) the group's access rule says no
    BAD_REQUEST                invalid cursor or page size, missing CSRF header,
                               malformed multipart or JSON body: not UTF-8, not
                               an object, too deep, a lone surrogate, ... (HTTP
                               400; see graphql_api.request_body)
    PAYLOAD_TOO_LARGE          a file or a request body over the limit (HTTP 413)
    REQUEST_TIMEOUT            the body stalled, or no response by the deadline (HTTP 408)
    GRAPHQL_PARSE_FAILED       syntax error, or more tokens than allowed
    GRAPHQL_VALIDATION_FAILED  invalid document, depth / alias / size limit,
                               two operations without operationName, an Upload
                               literal, introspection while disabled
    BAD_USER_INPUT             a variable's value does not fit its type
    RANGE_NOT_SATISFIABLE      file route: the Range selects nothing (HTTP 416)
    INVALID_SIGNATURE          file route: a signed URL that was altered or is
                               malformed (HTTP 403)
    SIGNATURE_EXPIRED          file route: a signed URL past its expiry (HTTP 401)
    NOT_FOUND                  no such route (HTTP 404)
    METHOD_NOT_ALLOWED         (HTTP 405)
    INTERNAL                   anything unexpected: masked, logged
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from graphql import GraphQLError
from starlette.responses import JSONResponse
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError

import groupstore

logger = logging.getLogger("graphql_api")

INTERNAL = "INTERNAL"
MASKED_MESSAGE = "Unexpected error."
STORE_UNAVAILABLE_MESSAGE = "the database is unavailable; try again later"

HTTP_STATUS: Mapping[str, int] = {
    "BAD_REQUEST": 400,
    "CONSTRAINT_VIOLATION": 400,
    "INVALID_PARAMETER": 400,
    "INVALID_ARGUMENT": 400,
    "DUPLICATE_USER": 409,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "INVALID_SIGNATURE": 403,
    "SIGNATURE_EXPIRED": 401,
    "NOT_FOUND": 404,
    "UNKNOWN_USER": 404,
    "UNKNOWN_WORKFLOW": 404,
    "UNKNOWN_GROUP": 404,
    "UNKNOWN_FILE": 404,
    "METHOD_NOT_ALLOWED": 405,
    "REQUEST_TIMEOUT": 408,
    "PAYLOAD_TOO_LARGE": 413,
    "RANGE_NOT_SATISFIABLE": 416,
    "TOO_MANY_REQUESTS": 429,
    INTERNAL: 500,
    "STORE_UNAVAILABLE": 503,
}
# The code of an HTTP-level refusal (from Strawberry or Starlette), by status.
STATUS_CODE: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
}


class GatewayError(Exception):
    """A client-caused error detected by the gateway itself (not by the library)."""

    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    code: ClassVar[str] = "BAD_REQUEST"


class PayloadTooLarge(GatewayError):
    code: ClassVar[str] = "PAYLOAD_TOO_LARGE"


class InvalidSignature(GatewayError):
    code: ClassVar[str] = "INVALID_SIGNATURE"

    def __init__(self, message: str = "the link's signature is not valid") -> None:
        super().__init__(message)


class SignatureExpired(GatewayError):
    code: ClassVar[str] = "SIGNATURE_EXPIRED"

    def __init__(self, message: str = "the link has expired: ask for a new one") -> None:
        super().__init__(message)


class HTTPError(Exception):
    """Ends a request before GraphQL runs (raised in ``get_context``): a JSON error response."""

    def __init__(self, error: GatewayError | groupstore.GroupStoreError, status: int | None = None):
        super().__init__(str(error))
        self.code, self.message = public_error(error) or (INTERNAL, MASKED_MESSAGE)
        self.status = status or HTTP_STATUS.get(self.code, 400)

    def response(self) -> JSONResponse:
        return error_response(self.code, self.message, self.status)


def public_error(error: BaseException | None) -> tuple[str, str] | None:
    """(code, message) for an error the client may see; None for one to mask."""
    if isinstance(error, GatewayError):
        return error.code, error.message
    if isinstance(error, groupstore.StoreUnavailableError):
        return error.code, STORE_UNAVAILABLE_MESSAGE  # the driver's text names hosts
    if (
        isinstance(error, groupstore.GroupStoreError)
        and type(error) is not groupstore.GroupStoreError
    ):
        return error.code, error.message
    return None


def error_body(code: str, message: str) -> dict[str, Any]:
    """The GraphQL error shape, also used by the plain HTTP routes."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def error_response(
    code: str, message: str, status: int | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    status = status or HTTP_STATUS.get(code, 400)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="groupstore"')
    return JSONResponse(error_body(code, message), status_code=status, headers=all_headers)


def _request_error_code(error: GraphQLError) -> str:
    """The code of an error raised before execution (parsing, validation, variables)."""
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def classify(error: GraphQLError) -> tuple[str, str] | None:
    """(code, message) to send for a GraphQL error; None when it must be masked."""
    original = error.original_error
    found = public_error(original)
    if found is not None:
        return found
    if isinstance(original, CannotGetOperationTypeError):
        # No operation of that name (over a WebSocket; HTTP answers 400 before this).
        return "BAD_REQUEST", error.message
    if error.path is None and (
        original is None or isinstance(original, GraphQLError) or error.nodes
    ):
        # Before execution: parsing, validation, variable coercion. An error there that
        # points into the document (nodes) is about the client's input even when a
        # scalar's parser raised a plain exception (``int("ten")``, a 5000-digit Long).
        return _request_error_code(error), error.message
    return None


def log_errors(errors: list[GraphQLError]) -> None:
    """Log unexpected errors with their traceback; client errors only at DEBUG."""
    for error in errors:
        original = error.original_error
        if classify(error) is None:
            exc_info = (type(original), original, original.__traceback__) if original else None
            logger.error("unexpected error in %s: %s", error.path, error.message, exc_info=exc_info)
        elif isinstance(original, groupstore.StoreUnavailableError):
            logger.warning("%s", original)
        else:
            logger.debug("client error: %s", error.message)


class ErrorCodes(SchemaExtension):
    """Gives every error a code and masks the unexpected ones.

    A single extension does both, so no extension ordering can drop a code
    (strawberry's ``MaskErrors`` rebuilds errors without ``extensions``).
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [_with_code(error) for error in errors]
            _set_retry_after(self.execution_context.context, errors)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Subscriptions: each result is sent before on_operation ends, so code it here.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [_with_code(error) for error in errors]
        yield


def _retry_after(error: GraphQLError) -> int | None:
    original = error.original_error
    if isinstance(original, groupstore.TooManyRequestsError):
        return original.retry_after
    return None


def _set_retry_after(context: Any, errors: list[GraphQLError]) -> None:
    """The ``Retry-After`` header for throttled fields: the longest wait among them."""
    waits = [wait for wait in map(_retry_after, errors) if wait is not None]
    response = getattr(context, "response", None)
    if waits and response is not None:
        response.headers["Retry-After"] = str(max(waits))


def _with_code(error: GraphQLError) -> GraphQLError:
    found = classify(error)
    if found is None:
        return GraphQLError(
            MASKED_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": INTERNAL},
        )
    code, message = found
    extensions: dict[str, Any] = {**(error.extensions or {}), "code": code}
    retry_after = _retry_after(error)
    if retry_after is not None:
        extensions["retryAfter"] = retry_after
    if message == error.message:
        error.extensions = extensions
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
