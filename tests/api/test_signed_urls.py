"""``UploadedFile.signedUrl`` and the file route's signature path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from graphql_api.settings import Settings, SettingsError
from graphql_api.signing import Signer
from groupstore import Group, GroupStore, UploadedFile, User

from .conftest import BASE_URL, Api, bearer, error_code

pytestmark = pytest.mark.anyio

SECRET = "s" * 32
SIGNED = (
    "query($g: ID!, $ttl: Int) { uploadedFiles(groupId: $g) { id signedUrl(ttlSeconds: $ttl) } }"
)


@pytest.fixture
async def client(make_app: Callable[..., Starlette]) -> Any:
    transport = httpx.ASGITransport(app=make_app(signing_secret=SECRET))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


async def signed_url(api: Api, group: Group, token: str, ttl: int | None = None) -> str:
    body = await api(SIGNED, {"g": group.group_id, "ttl": ttl}, token=token)
    assert "errors" not in body, body
    url: str = body["data"]["uploadedFiles"][0]["signedUrl"]
    return url


def path_and_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


async def test_a_signed_url_downloads_the_file_without_a_header(
    client: httpx.AsyncClient, api: Api, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    url = await signed_url(api, group, member_token)

    response = await client.get(path_and_query(url))

    assert url.startswith(f"{BASE_URL}/files/{group.group_id}/{uploaded.file_id}?")
    assert response.status_code == 200
    assert response.content == b"hello world"


async def test_a_signed_url_works_for_head_and_ranges(
    client: httpx.AsyncClient, api: Api, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    url = path_and_query(await signed_url(api, group, member_token))

    head = await client.head(url)
    part = await client.get(url, headers={"Range": "bytes=0-4"})

    assert head.status_code == 200 and head.headers["content-length"] == "11"
    assert part.status_code == 206 and part.content == b"hello"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"sig": "A" * 43}, id="signature"),
        pytest.param({"sig": "not base64 !"}, id="garbage-signature"),
        pytest.param({"expires": "9999999999"}, id="expiry"),
        pytest.param({"expires": "soon"}, id="malformed-expiry"),
        pytest.param({"user": "someone-else"}, id="user"),
        pytest.param({"session": "0" * 64}, id="session"),
        pytest.param({"session": ""}, id="no-session"),
    ],
)
async def test_a_tampered_signed_url_is_refused(
    client: httpx.AsyncClient,
    api: Api,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
    change: dict[str, str],
) -> None:
    url = await signed_url(api, group, member_token)

    response = await client.get(path_and_query(url, **change))

    assert response.status_code == 403
    assert error_code(response.json()) == "INVALID_SIGNATURE"


async def test_a_signature_for_one_file_does_not_open_another(
    client: httpx.AsyncClient,
    api: Api,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
) -> None:
    other = store.groups.upload_file(group.group_id, b"other", "other.txt")
    query = urlsplit(await signed_url(api, group, member_token)).query

    response = await client.get(f"/files/{group.group_id}/{other.file_id}?{query}")

    assert response.status_code == 403
    assert error_code(response.json()) == "INVALID_SIGNATURE"


async def test_an_expired_signed_url_is_refused(
    client: httpx.AsyncClient, group: Group, uploaded: UploadedFile, alice: User
) -> None:
    an_hour_ago = Signer(SECRET.encode(), clock=lambda: 1_000_000.0)
    params = an_hour_ago.sign(group.group_id, uploaded.file_id, alice.user_id, "0" * 64, 60)

    response = await client.get(f"/files/{group.group_id}/{uploaded.file_id}", params=params)

    assert response.status_code == 401
    assert error_code(response.json()) == "SIGNATURE_EXPIRED"


async def test_a_signed_url_of_a_removed_member_is_refused(
    client: httpx.AsyncClient,
    api: Api,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    bob: User,
    outsider_token: str,
) -> None:
    store.groups.update_group(group.group_id, members=[group.owner_id, bob.user_id])
    url = path_and_query(await signed_url(api, group, outsider_token))
    assert (await client.get(url)).status_code == 200

    store.groups.update_group(group.group_id, members=[group.owner_id])
    response = await client.get(url)

    assert response.status_code == 403
    assert error_code(response.json()) == "FORBIDDEN"


async def test_a_signed_url_dies_with_the_session_that_asked_for_it(
    client: httpx.AsyncClient,
    api: Api,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
) -> None:
    url = path_and_query(await signed_url(api, group, member_token))
    assert (await client.get(url)).status_code == 200

    store.users.logout_user(member_token)
    response = await client.get(url)

    assert response.status_code == 401
    assert error_code(response.json()) == "UNAUTHENTICATED"
    assert "session that made this link has ended" in response.json()["errors"][0]["message"]


async def test_a_password_change_ends_the_links_of_the_sessions_it_ends(
    client: httpx.AsyncClient,
    api: Api,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    alice: User,
    member_token: str,
) -> None:
    kept = path_and_query(await signed_url(api, group, member_token))
    other_session = store.users.login_user(alice.username, "alice-password").token
    ended = path_and_query(await signed_url(api, group, other_session))

    store.users.change_password(
        alice.user_id, "alice-password", "a new password", keep_api_key=member_token
    )

    assert (await client.get(kept)).status_code == 200
    assert (await client.get(ended)).status_code == 401


async def test_the_bare_url_without_a_key_is_refused(
    client: httpx.AsyncClient, group: Group, uploaded: UploadedFile
) -> None:
    response = await client.get(f"/files/{group.group_id}/{uploaded.file_id}")

    assert response.status_code == 401
    assert error_code(response.json()) == "UNAUTHENTICATED"


async def test_a_signature_made_with_another_secret_is_refused(
    client: httpx.AsyncClient, group: Group, uploaded: UploadedFile, alice: User
) -> None:
    params = Signer(b"t" * 32).sign(group.group_id, uploaded.file_id, alice.user_id, "0" * 64)

    response = await client.get(f"/files/{group.group_id}/{uploaded.file_id}", params=params)

    assert response.status_code == 403


async def test_a_signature_wins_over_a_bearer_header(
    client: httpx.AsyncClient, api: Api, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    url = path_and_query(await signed_url(api, group, member_token), sig="A" * 43)

    response = await client.get(url, headers=bearer(member_token))

    assert response.status_code == 403  # a bad signature is never "rescued" by the header


@pytest.mark.parametrize("ttl", [0, -5, 3601])
async def test_a_lifetime_outside_the_bounds_is_a_bad_request(
    api: Api, group: Group, uploaded: UploadedFile, member_token: str, ttl: int
) -> None:
    body = await api(SIGNED, {"g": group.group_id, "ttl": ttl}, token=member_token)

    assert error_code(body) == "BAD_REQUEST"


async def test_the_url_expires_after_the_asked_lifetime(
    api: Api, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    import time

    before = int(time.time())
    url = await signed_url(api, group, member_token, ttl=120)

    expires = int(dict(parse_qsl(urlsplit(url).query))["expires"])
    assert before + 120 <= expires <= int(time.time()) + 120


async def test_signed_url_needs_a_key(api: Api, group: Group, uploaded: UploadedFile) -> None:
    body = await api(SIGNED, {"g": group.group_id})

    assert error_code(body) == "UNAUTHENTICATED"


def test_without_a_secret_each_signer_has_its_own_random_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = Signer.from_settings(Settings()), Signer.from_settings(Settings())

    assert first.signature("g", "f", "u", "s", 1) != second.signature("g", "f", "u", "s", 1)
    assert "GROUPSTORE_SIGNING_SECRET is not set" in caplog.text


def test_with_a_secret_every_process_signs_alike(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(signing_secret=SECRET)

    first, second = Signer.from_settings(settings), Signer.from_settings(settings)

    assert first.signature("g", "f", "u", "s", 1) == second.signature("g", "f", "u", "s", 1)
    assert "GROUPSTORE_SIGNING_SECRET" not in caplog.text


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"GROUPSTORE_SIGNING_SECRET": "short"}, "GROUPSTORE_SIGNING_SECRET"),
        ({"GROUPSTORE_SIGNED_URL_TTL_SECONDS": "7200"}, "GROUPSTORE_SIGNED_URL_TTL_SECONDS"),
        ({"GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS": "0"}, "GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS"),
        ({"GROUPSTORE_EVENTS": "kafka"}, "GROUPSTORE_EVENTS"),
    ],
)
def test_bad_live_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(environ)


def test_the_secret_is_not_in_the_settings_repr() -> None:
    assert SECRET not in repr(Settings(signing_secret=SECRET))
