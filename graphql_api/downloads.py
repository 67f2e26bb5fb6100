"""``GET``/``HEAD /files/{group_id}/{file_id}``: stream a group's file from GridFS.

Binary data stays out of GraphQL (which would base64 it and hold it in
memory); ``UploadedFile.downloadUrl`` points here. The bytes are read in
256 KiB pieces by a sync generator, which Starlette runs in the threadpool,
so memory does not grow with the file and the event loop never blocks.

Checks, in order: API key (401) or a signed URL's signature (403) and expiry
(401, see ``graphql_api.signing``), group exists (404 UNKNOWN_GROUP), caller is
a member (403), file exists in that group (404 UNKNOWN_FILE).
The stream is opened and its first piece read (in the threadpool) before the
status is sent: opening reads only the files document, the first read the
first chunk. So a file whose bytes are gone is a 404 UNKNOWN_FILE and a store
that fails or times out then a 503 STORE_UNAVAILABLE, never a 200 cut short;
a file of one piece (256 KiB) is wholly read before its status. A failure
after that (a later piece of a large file) can only cut the body short: the
connection closes before ``Content-Length`` bytes. The response closes the
stream on every path.
HTTP: ``ETag`` + ``If-None-Match`` (304), one byte range (206; ``If-Range``
honoured; 416 when unsatisfiable or when a position has more than 18 digits;
several ranges get the whole file, which RFC 9110 allows), ``HEAD`` without a
body. The file is always an attachment, never rendered by the browser
(``nosniff``, a sandboxing CSP).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

import groupstore
from graphql_api.context import get_store
from graphql_api.errors import GatewayError, HTTPError, error_response, public_error
from graphql_api.signing import download_caller

PIECE_SIZE = 256 * 1024
# The most digits a byte position may be written with, leading zeros included (10**18
# bytes is beyond any file). A longer one is refused (416) without being converted:
# int() raises past 4,300 digits, and the length is all that is looked at.
_MAX_DIGITS = 18
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE)
# RFC 5987 attr-char, besides letters and digits: what may stay unescaped in filename*.
_ATTR_CHARS = "!#$&+-.^_`|~"


class RangeNotSatisfiable(Exception):
    pass


async def download(request: Request) -> Response:
    store = get_store(request)
    group_id = request.path_params["group_id"]
    file_id = request.path_params["file_id"]
    try:
        user_id = await download_caller(request, store, group_id, file_id)  # Bearer or signed URL
        # One read: the group's existence, the caller's membership, then the file.
        handle = await run_in_threadpool(
            store.groups.get_uploaded_file, group_id, file_id, caller=user_id
        )
    except HTTPError as exc:
        return exc.response()
    except (GatewayError, groupstore.GroupStoreError) as exc:
        found = public_error(exc)
        if found is None:
            raise
        return error_response(*found)

    etag = f'"{handle.file_id}.{handle.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)

    start, end, status = 0, handle.size() - 1, 200
    if request.method == "GET" and request.headers.get("if-range", etag) == etag:
        try:
            byte_range = parse_range(request.headers.get("range"), handle.size())
        except RangeNotSatisfiable:
            return error_response(  # a JSON body: not the file's content type
                "RANGE_NOT_SATISFIABLE",
                f"the range is outside the file ({handle.size()} bytes)",
                headers={**headers, "Content-Range": f"bytes */{handle.size()}"},
            )
        if byte_range is not None:
            start, end = byte_range
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{handle.size()}"
    headers["Content-Type"] = handle.mime_type
    headers["Content-Disposition"] = content_disposition(handle.name)
    headers["Content-Length"] = str(end - start + 1)
    # Open the bytes, and read the first piece, before any status goes out: a listed
    # file whose bytes are gone is a 404 UNKNOWN_FILE, and a store error or timeout a
    # coded error, not a 200 whose body breaks off.
    head = request.method == "HEAD"
    try:
        stream, content = await run_in_threadpool(
            _open_and_start, handle, start, end - start + 1, head
        )
    except groupstore.GroupStoreError as exc:
        found = public_error(exc)
        if found is None:
            raise
        return error_response(*found)
    if head:
        return Response(status_code=status, headers=headers)
    return ClosingStreamingResponse(stream, content, status, headers=headers)


def _open_and_start(
    handle: groupstore.FileHandle, start: int, length: int, head: bool
) -> tuple[IO[bytes], Iterator[bytes]]:
    """The open stream and its pieces, the first one already read (HEAD: opened, closed).

    The stream is closed here if anything fails; otherwise the response closes it.
    """
    stream = handle.open()
    try:
        if head:
            stream.close()
            return stream, iter(())
        pieces = _pieces(stream, start, length)
        first = next(pieces, None)
    except BaseException:
        stream.close()
        raise
    return stream, pieces if first is None else itertools.chain([first], pieces)


class ClosingStreamingResponse(StreamingResponse):
    """A streaming response that closes its stream however the response ends
    (sent, failed, or the client gone before the first byte)."""

    def __init__(
        self, stream: IO[bytes], content: Iterator[bytes], status_code: int, headers: dict[str, str]
    ) -> None:
        super().__init__(content, status_code, headers=headers)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await run_in_threadpool(self.stream.close)


def _pieces(stream: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    """The bytes [start, start + length) in pieces (the response closes the stream)."""
    if length <= 0:
        return
    stream.seek(start)
    remaining = length
    while remaining > 0:
        data = stream.read(min(PIECE_SIZE, remaining))
        if not data:
            break
        remaining -= len(data)
        yield data


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 prescribes for If-None-Match."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range (inclusive) asked for; None to send the whole file.

    Malformed headers, other units and multiple ranges are ignored (None);
    a well-formed range that selects nothing raises RangeNotSatisfiable, and so
    does a position written with more than 18 digits (leading zeros count):
    no file is that large, and such a number is never converted (RFC 9110
    lets a server reject a range it will not serve).
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        raise RangeNotSatisfiable()
    if first == "":  # suffix: the last N bytes
        suffix = _number(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable()
        return max(0, size - suffix), size - 1
    start = _number(first)
    if last and _number(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable()
    return start, min(_number(last), size - 1) if last else size - 1


def _number(digits: str) -> int:
    return int(digits)  # at most _MAX_DIGITS digits (checked by parse_range)


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 5987 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join(
        "_" if char in '"\\' or not char.isprintable() else char for char in ascii_name
    ).strip()
    if not fallback.strip("._ "):
        fallback = "download"
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
