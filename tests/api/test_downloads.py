"""GET/HEAD /files/{group_id}/{file_id}: members only, streamed, with HTTP caching and ranges."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from graphql_api.downloads import content_disposition, parse_range
from groupstore import FileHandle, Group, GroupStore, UploadedFile

from .conftest import TestClient, bearer, error_code

pytestmark = pytest.mark.anyio

CONTENT = bytes(range(256)) * 2000  # 512000 bytes: two GridFS chunks and a bit


@pytest.fixture
def big(store: GroupStore, group: Group) -> UploadedFile:
    return store.groups.upload_file(group.group_id, CONTENT, "report.bin")


def url(group: Group, file: UploadedFile) -> str:
    return f"/files/{group.group_id}/{file.file_id}"


async def test_a_member_downloads_the_file(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    response = await client.get(url(group, big), headers=bearer(member_token))

    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-length"] == str(len(CONTENT))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"report.bin\"; filename*=UTF-8''report.bin"
    )
    assert big.sha256 in response.headers["etag"] and big.file_id in response.headers["etag"]


async def test_the_content_type_is_the_files_mime_type(
    client: httpx.AsyncClient, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    response = await client.get(url(group, uploaded), headers=bearer(member_token))

    assert response.headers["content-type"] == "text/plain"
    assert response.text == "hello world"


async def test_head_sends_the_headers_without_a_body(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    response = await client.head(url(group, big), headers=bearer(member_token))

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(CONTENT))
    assert "etag" in response.headers


async def test_a_matching_if_none_match_gives_304(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    first = await client.get(url(group, big), headers=bearer(member_token))
    etag = first.headers["etag"]

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get(
            url(group, big), headers={"If-None-Match": header, **bearer(member_token)}
        )
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag


async def test_a_stale_if_none_match_gives_the_file(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    response = await client.get(
        url(group, big), headers={"If-None-Match": '"stale"', **bearer(member_token)}
    )

    assert response.status_code == 200 and response.content == CONTENT


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=261000-262999", 261000, 262999),  # across the chunk boundary
        ("bytes=511990-", 511990, 511999),
        ("bytes=-10", 511990, 511999),
        ("bytes=500000-999999999", 500000, 511999),
        ("bytes=-9999999", 0, 511999),
    ],
)
async def test_a_single_range_gives_206_with_that_part(
    client: httpx.AsyncClient,
    group: Group,
    big: UploadedFile,
    member_token: str,
    header: str,
    start: int,
    end: int,
) -> None:
    response = await client.get(url(group, big), headers={"Range": header, **bearer(member_token)})

    assert response.status_code == 206
    assert response.content == CONTENT[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response.headers["content-length"] == str(end - start + 1)


UNSATISFIABLE = {
    "past-the-end": "bytes=512000-",
    "beyond-the-end": "bytes=600000-600010",
    "empty-suffix": "bytes=-0",
}
# A position of more digits than any file size needs (18) is refused, never converted:
# int() raises past 4,300 digits, and leading zeros count (they were the 500 of issue 18).
OVERSIZED = {
    "8000-zeros-then-1": "bytes=" + "0" * 8000 + "-1",
    "100000-zeros-then-1": "bytes=" + "0" * 100_000 + "-1",
    "8000-nines-open": "bytes=" + "9" * 8000 + "-",
    "100000-nines-open": "bytes=" + "9" * 100_000 + "-",
    "end-of-8000-digits": "bytes=0-" + "0" * 7999 + "1",
    "end-of-100000-nines": "bytes=0-" + "9" * 100_000,
    "suffix-of-8000-zeros": "bytes=-" + "0" * 7999 + "5",
    "suffix-of-100000-nines": "bytes=-" + "9" * 100_000,
    "19-digits": "bytes=0000000000000000000-1",
}


@pytest.mark.parametrize(
    "header", [*UNSATISFIABLE.values(), *OVERSIZED.values()], ids=[*UNSATISFIABLE, *OVERSIZED]
)
async def test_an_unsatisfiable_or_oversized_range_gives_416(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str, header: str
) -> None:
    response = await client.get(url(group, big), headers={"Range": header, **bearer(member_token)})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(CONTENT)}"
    assert error_code(response.json()) == "RANGE_NOT_SATISFIABLE"


async def test_a_range_position_of_18_digits_with_leading_zeros_is_read_as_its_value(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    header = "bytes=" + "0" * 17 + "2-" + "0" * 17 + "5"
    response = await client.get(url(group, big), headers={"Range": header, **bearer(member_token)})

    assert response.status_code == 206
    assert response.content == CONTENT[2:6]


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "bytes=9-2", "items=0-1", "bytes=abc", "bytes=-"]
)
async def test_several_or_malformed_ranges_give_the_whole_file(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str, header: str
) -> None:
    response = await client.get(url(group, big), headers={"Range": header, **bearer(member_token)})

    assert response.status_code == 200
    assert response.content == CONTENT


async def test_a_range_with_a_stale_if_range_gives_the_whole_file(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    response = await client.get(
        url(group, big),
        headers={"Range": "bytes=0-9", "If-Range": '"stale"', **bearer(member_token)},
    )

    assert response.status_code == 200 and response.content == CONTENT


async def test_an_empty_file_downloads_as_empty(
    client: httpx.AsyncClient, store: GroupStore, group: Group, member_token: str
) -> None:
    empty = store.groups.upload_file(group.group_id, b"", "empty.txt")

    response = await client.get(url(group, empty), headers=bearer(member_token))

    assert response.status_code == 200
    assert response.content == b"" and response.headers["content-length"] == "0"


async def test_download_without_a_key_is_401(
    client: httpx.AsyncClient, group: Group, big: UploadedFile
) -> None:
    response = await client.get(url(group, big))

    assert response.status_code == 401
    assert error_code(response.json()) == "UNAUTHENTICATED"


async def test_download_with_a_bad_key_is_401(
    client: httpx.AsyncClient, group: Group, big: UploadedFile
) -> None:
    response = await client.get(url(group, big), headers=bearer("not-a-key"))

    assert response.status_code == 401


async def test_download_by_a_non_member_is_403(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, outsider_token: str
) -> None:
    response = await client.get(url(group, big), headers=bearer(outsider_token))

    assert response.status_code == 403
    assert error_code(response.json()) == "FORBIDDEN"
    assert response.content.find(CONTENT[:100]) == -1


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/files/nope/{file}", "UNKNOWN_GROUP"),
        ("/files/{group}/nope", "UNKNOWN_FILE"),
    ],
)
async def test_an_unknown_group_or_file_is_404_with_a_code(
    client: httpx.AsyncClient,
    group: Group,
    big: UploadedFile,
    member_token: str,
    path: str,
    code: str,
) -> None:
    target = path.format(group=group.group_id, file=big.file_id)

    response = await client.get(target, headers=bearer(member_token))

    assert response.status_code == 404
    assert error_code(response.json()) == code


async def test_a_file_of_another_group_is_unknown_file(
    client: httpx.AsyncClient,
    store: GroupStore,
    group: Group,
    big: UploadedFile,
    member_token: str,
) -> None:
    other = store.groups.create_group(group.workflow_id, "other", [], {}, user_id=group.owner_id)

    response = await client.get(
        f"/files/{other.group_id}/{big.file_id}", headers=bearer(member_token)
    )

    assert response.status_code == 404
    assert error_code(response.json()) == "UNKNOWN_FILE"


async def test_the_download_url_from_graphql_serves_the_file(
    client: httpx.AsyncClient, group: Group, big: UploadedFile, member_token: str
) -> None:
    listed = await client.post(
        "/graphql",
        json={
            "query": "query($g: ID!) { uploadedFiles(groupId: $g) { downloadUrl } }",
            "variables": {"g": group.group_id},
        },
        headers=bearer(member_token),
    )
    download_url = listed.json()["data"]["uploadedFiles"][0]["downloadUrl"]

    response = await client.get(download_url, headers=bearer(member_token))

    assert response.content == CONTENT


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.csv", "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv"),
        ("résumé 2024.pdf", "attachment; filename=\"resume 2024.pdf\"; "
                            "filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf"),
        ('a"b;c.txt', "attachment; filename=\"a_b;c.txt\"; filename*=UTF-8''a%22b%3Bc.txt"),
        ("数据.txt", "attachment; filename=\".txt\"; filename*=UTF-8''%E6%95%B0%E6%8D%AE.txt"),
        ("数据", "attachment; filename=\"download\"; filename*=UTF-8''%E6%95%B0%E6%8D%AE"),
        ("a\r\nSet-Cookie: x", "attachment; filename=\"a__Set-Cookie: x\"; "
                               "filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x"),
    ],
)  # fmt: skip
def test_content_disposition_is_safe_for_any_name(name: str, expected: str) -> None:
    assert content_disposition(name) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("bytes=0-0", (0, 0)), ("bytes=5-", (5, 9)), ("bytes=-3", (7, 9))],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


async def test_the_stream_is_read_in_pieces_not_at_once(
    client: httpx.AsyncClient,
    group: Group,
    big: UploadedFile,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graphql_api.downloads as downloads

    reads: list[int] = []
    original: Callable[..., Iterator[bytes]] = downloads._pieces

    def spy(handle: FileHandle, start: int, length: int) -> Iterator[bytes]:
        for piece in original(handle, start, length):
            reads.append(len(piece))
            yield piece

    monkeypatch.setattr(downloads, "_pieces", spy)

    await client.get(url(group, big), headers=bearer(member_token))

    assert reads == [262144, 249856]


def test_an_unexpected_failure_is_a_masked_500(
    make_app: Callable[..., Any],
    store: GroupStore,
    group: Group,
    big: UploadedFile,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(group_id: str, file_id: str) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store.groups, "get_uploaded_file", broken)
    client = TestClient(make_app(), raise_server_exceptions=False)

    response = client.get(url(group, big), headers=bearer(member_token))

    assert response.status_code == 500
    assert error_code(response.json()) == "INTERNAL"
    assert "secret" not in response.text
