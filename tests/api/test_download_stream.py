"""A download opens the file's bytes before it sends a status, and closes them on every path."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

import httpx
import pytest

import groupstore
from groupstore import FileHandle, Group, GroupStore, UploadedFile

from .conftest import bearer, error_code

pytestmark = pytest.mark.anyio


def url(group: Group, file: UploadedFile) -> str:
    return f"/files/{group.group_id}/{file.file_id}"


async def test_a_listed_file_whose_bytes_are_gone_is_404_not_a_truncated_200(
    client: httpx.AsyncClient,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
) -> None:
    # The bytes vanish behind the library's back (a crash, an operator, a repair gone wrong).
    store.db["fs.files"].delete_many({})
    store.db["fs.chunks"].delete_many({})

    response = await client.get(url(group, uploaded), headers=bearer(member_token))

    assert response.status_code == 404
    assert error_code(response.json()) == "UNKNOWN_FILE"


class _Tracked:
    """Wraps FileHandle.open to record every stream it hands out."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.streams: list[IO[bytes]] = []
        original = FileHandle.open

        def open_and_track(handle: FileHandle) -> IO[bytes]:
            stream = original(handle)
            self.streams.append(stream)
            return stream

        monkeypatch.setattr(FileHandle, "open", open_and_track)


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {}, 200),
        ("GET", {"Range": "bytes=0-3"}, 206),
        ("HEAD", {}, 200),
    ],
)
async def test_the_stream_is_closed_after_the_response(
    client: httpx.AsyncClient,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    headers: dict[str, Any],
    status: int,
) -> None:
    tracked = _Tracked(monkeypatch)

    response = await client.request(
        method, url(group, uploaded), headers={**headers, **bearer(member_token)}
    )

    assert response.status_code == status
    assert len(tracked.streams) == 1 and tracked.streams[0].closed


async def test_a_range_past_the_end_is_416_in_json_and_opens_nothing(
    client: httpx.AsyncClient,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracked = _Tracked(monkeypatch)

    response = await client.get(
        url(group, uploaded), headers={"Range": "bytes=100-", **bearer(member_token)}
    )

    assert response.status_code == 416
    assert response.headers["content-type"] == "application/json"
    assert error_code(response.json()) == "RANGE_NOT_SATISFIABLE"
    assert tracked.streams == []


class _FailingStream(io.RawIOBase):
    """A file's stream whose reads fail as the store does when it is down or too slow."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return offset

    def readinto(self, buffer: Any) -> int:
        raise self.error


@pytest.mark.parametrize(
    ("headers", "error", "status", "code"),
    [
        ({}, groupstore.StoreUnavailableError("timed out"), 503, "STORE_UNAVAILABLE"),
        (
            {"Range": "bytes=2-5"},
            groupstore.StoreUnavailableError("gone"),
            503,
            "STORE_UNAVAILABLE",
        ),
        ({}, groupstore.UnknownFileError("f"), 404, "UNKNOWN_FILE"),
    ],
)
async def test_a_store_failure_at_the_first_read_is_a_coded_error_not_a_200(
    client: httpx.AsyncClient,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
    headers: dict[str, str],
    error: Exception,
    status: int,
    code: str,
) -> None:
    """Opening succeeds (it reads the files document); the first read of the bytes fails."""
    streams: list[_FailingStream] = []

    def open_failing(handle: FileHandle) -> IO[bytes]:
        streams.append(_FailingStream(error))
        return io.BufferedReader(streams[-1])

    monkeypatch.setattr(FileHandle, "open", open_failing)

    response = await client.get(url(group, uploaded), headers={**headers, **bearer(member_token)})

    assert response.status_code == status
    assert error_code(response.json()) == code
    assert len(streams) == 1 and streams[0].closed


async def test_a_file_whose_chunks_are_gone_but_still_listed_is_404_not_a_200(
    client: httpx.AsyncClient,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
) -> None:
    store.db["fs.chunks"].delete_many({})  # the files document stays: opening succeeds

    response = await client.get(url(group, uploaded), headers=bearer(member_token))

    assert response.status_code == 404
    assert error_code(response.json()) == "UNKNOWN_FILE"


async def test_a_small_file_is_read_whole_before_its_status(
    client: httpx.AsyncClient,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its one piece is read before the status goes out, and sent as it was read."""
    import graphql_api.downloads as downloads

    events: list[str] = []
    original = downloads.ClosingStreamingResponse.__init__

    def record_response(self: Any, *args: Any, **kwargs: Any) -> None:
        events.append("response")
        original(self, *args, **kwargs)

    def spy(stream: IO[bytes], start: int, length: int) -> Iterator[bytes]:
        for piece in pieces(stream, start, length):
            events.append(f"piece {len(piece)}")
            yield piece

    pieces = downloads._pieces
    monkeypatch.setattr(downloads, "_pieces", spy)
    monkeypatch.setattr(downloads.ClosingStreamingResponse, "__init__", record_response)

    response = await client.get(url(group, uploaded), headers=bearer(member_token))

    assert response.status_code == 200 and response.content == b"hello world"
    assert events == ["piece 11", "response"]
