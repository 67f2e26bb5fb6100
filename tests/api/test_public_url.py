"""downloadUrl is built on the configured public URL, never on the request's Host header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from groupstore import Group, GroupStore, UploadedFile

from .conftest import bearer
from .live import live_server

pytestmark = pytest.mark.anyio

QUERY = "query($g: ID!) { uploadedFiles(groupId: $g) { downloadUrl } }"


async def _download_url(app: Any, group: Group, token: str, headers: dict[str, str]) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.post(
            "/graphql",
            json={"query": QUERY, "variables": {"g": group.group_id}},
            headers={**bearer(token), **headers},
        )
    url: str = response.json()["data"]["uploadedFiles"][0]["downloadUrl"]
    return url


SPOOFED = {"Host": "attacker.example:8443", "X-Forwarded-Proto": "https"}


async def test_the_host_header_does_not_choose_the_download_url(
    make_app: Callable[..., Any], group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    url = await _download_url(make_app(), group, member_token, SPOOFED)

    assert url == f"http://gateway.test/files/{group.group_id}/{uploaded.file_id}"


async def test_the_public_url_setting_chooses_the_download_url(
    make_app: Callable[..., Any], group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    app = make_app(public_url="https://groups.example.org/api")

    url = await _download_url(app, group, member_token, SPOOFED)

    assert url == f"https://groups.example.org/api/files/{group.group_id}/{uploaded.file_id}"


async def test_behind_a_trusted_proxy_the_host_header_is_used(
    make_app: Callable[..., Any], group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    app = make_app(trusted_proxies=("10.0.0.1",))

    url = await _download_url(app, group, member_token, {"Host": "groups.internal"})

    assert url == f"http://groups.internal/files/{group.group_id}/{uploaded.file_id}"


def test_a_real_server_ignores_host_and_forwarded_proto(
    store: GroupStore, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    with live_server(store) as base:
        response = httpx.post(
            f"{base}/graphql",
            json={"query": QUERY, "variables": {"g": group.group_id}},
            headers={**bearer(member_token), **SPOOFED},
        )

    url = response.json()["data"]["uploadedFiles"][0]["downloadUrl"]
    assert url == f"{base}/files/{group.group_id}/{uploaded.file_id}"
