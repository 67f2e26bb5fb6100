"""File uploads over the GraphQL multipart request spec.

Order of checks for a multipart request, all before the body is read:
CSRF header (400), then a valid API key (401) in ``get_context``; the body
limit (413) applies while the body streams in. Starlette spools each file to
a temporary file (in memory up to 1 MiB, then on disk); only then does the
resolver run, check the file size, and stream the spool file
into GridFS from a worker thread. The view closes every spool file when the
request ends, whether or not a resolver used it.

CSRF: ``multipart/form-data`` is a CORS "simple" content type, so a foreign
page could post one without a preflight. Multipart requests must therefore
carry one of ``PREFLIGHT_HEADERS`` (any value), which forces browsers into a
CORS preflight that ``CORSMiddleware`` refuses for unlisted origins.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from cross_web import FormData, StarletteRequestAdapter
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.file_uploads import UploadDefinition
from strawberry.types.scalar import ScalarDefinition

import groupstore
from graphql_api.errors import BadRequest, HTTPError, PayloadTooLarge

PREFLIGHT_HEADERS = (
    "graphql-require-preflight",
    "apollo-require-preflight",
    "x-apollo-operation-name",
)
MAX_JSON_BODY = 1024 * 1024
# Room for the `operations` and `map` fields and the part headers around the file.
FORM_OVERHEAD = 1024 * 1024
MAX_FILES = 10
MAX_FIELDS = 10


def is_multipart(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").strip().lower().startswith("multipart/")


def check_csrf(headers: Mapping[str, str]) -> None:
    """A multipart request without a preflight-forcing header is refused (400)."""
    if is_multipart(headers) and not any(headers.get(name) for name in PREFLIGHT_HEADERS):
        raise HTTPError(
            BadRequest(
                "multipart requests must send the header 'GraphQL-Require-Preflight: 1' "
                "(CSRF protection)"
            )
        )


class LimitedFormAdapter(StarletteRequestAdapter):
    """Strawberry's Starlette adapter with tighter multipart limits (defaults are 1000)."""

    async def get_form_data(self) -> FormData:
        form = await self._request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
        return FormData(files=form, form=form)


class BodyLimit:
    """Starlette's request body limit, chosen by content type, answered in JSON.

    A multipart upload may be as large as the upload limit plus the form
    overhead; anything else (JSON, which Strawberry reads into memory) is held
    to ``MAX_JSON_BODY``. A declared ``Content-Length`` over the limit is
    refused at once; a chunked body when it crosses the limit (Starlette's
    ``RequestBodyLimitMiddleware`` raises HTTP 413 from ``receive``, and the
    view turns that into a JSON error).
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.upload_limit = max_upload_bytes + FORM_OVERHEAD
        self.upload = RequestBodyLimitMiddleware(app, self.upload_limit)
        self.other = RequestBodyLimitMiddleware(app, MAX_JSON_BODY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        multipart = is_multipart(headers)
        limit = self.upload_limit if multipart else MAX_JSON_BODY
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            # Starlette's middleware would answer this in plain text.
            response = HTTPError(PayloadTooLarge(f"the request body is over {limit} bytes"))
            await response.response()(scope, receive, send)
            return
        await (self.upload if multipart else self.other)(scope, receive, send)


async def store_upload(
    store: groupstore.GroupStore,
    group_id: str,
    file: UploadFile,
    name: str | None,
    max_bytes: int,
    caller: str,
) -> groupstore.UploadedFile:
    """Stream the spooled upload into GridFS; the library checks the caller's membership."""
    if file.size is not None and file.size > max_bytes:
        raise PayloadTooLarge(f"the file is larger than the upload limit of {max_bytes} bytes")
    await file.seek(0)
    return await run_in_threadpool(
        partial(store.groups.upload_file, caller=caller),
        group_id,
        file.file,
        name or file.filename or "",
    )


def _file_only(value: object) -> UploadFile:
    # Only the multipart request spec can put a file into a variable; a literal
    # (`file: "x"`) or a JSON value is the client's mistake, refused before any resolver.
    if not isinstance(value, UploadFile):
        raise GraphQLError(_NOT_A_FILE)
    return value


def _no_literal(value_node: object, variables: object = None) -> UploadFile:
    raise GraphQLError(_NOT_A_FILE)


_NOT_A_FILE = "Upload takes a file sent with the GraphQL multipart request spec"


StrictUpload = ScalarDefinition(
    name=UploadDefinition.name,
    description=UploadDefinition.description,
    specified_by_url=UploadDefinition.specified_by_url,
    serialize=UploadDefinition.serialize,
    parse_value=_file_only,
    parse_literal=_no_literal,
    directives=UploadDefinition.directives,
    origin=UploadDefinition.origin,
)
"""The ``Upload`` scalar, refusing anything but an uploaded file (Strawberry's takes any value)."""
