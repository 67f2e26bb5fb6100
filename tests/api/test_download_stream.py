"""A download opens the file's bytes before it sends a status, and closes them on every path."""

from __future__ import annotations

from typing import IO, Any

import httpx
import pytest

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
