"""A new team, end to end, as a web front end would drive it (issue 9's scenario).

A real gateway process that asks new users to verify their address
(GROUPSTORE_REQUIRE_VERIFICATION=true; tokens go to its log, the default
sender). People sign up, activate with the token, log in; the owner finds a
colleague by name prefix and adds them; the colleague's subscription sees the
owner's upload; a signed link downloads in a real browser (Playwright) with no
header; the owner hands the group over and leaves.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from gql import FileVar
from playwright.sync_api import Browser

from tests.e2e.gqlclient import LOGIN, REGISTER, UPLOAD, Api, unique
from tests.e2e.server import Gateway, running_gateway
from tests.e2e.test_graphiql_browser import browser, pytestmark
from tests.e2e.test_live_e2e import FILES_CHANGED, next_message, subscribed

__all__ = ["browser", "pytestmark"]

ACTIVATE = "mutation($t: String!) { activateUser(token: $t) { id username active } }"
FIND = "query($p: String!) { users(prefix: $p, first: 5) { nodes { id username } } }"
CREATE_WORKFLOW = (
    "mutation($n: String!) { createWorkflow(name: $n, engineConfig: {workers: 2}) { id } }"
)
CREATE_GROUP = """mutation($w: ID!, $n: String!) {
  createGroup(workflowId: $w, name: $n) { id engineConfig owner { username } } }"""
ADD = """mutation($g: ID!, $u: ID!) {
  addMember(groupId: $g, userId: $u) { members { username } } }"""
SIGNED = "query($g: ID!) { uploadedFiles(groupId: $g) { id name signedUrl(ttlSeconds: 120) } }"
TRANSFER = """mutation($g: ID!, $u: ID!) {
  transferOwnership(groupId: $g, userId: $u) { owner { username } } }"""
LEAVE = "mutation($g: ID!) { leaveGroup(groupId: $g) }"
GROUP = "query($g: ID!) { group(id: $g) { isMember owner { username } members { username } } }"
ADMIN = "founder"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with running_gateway(
        GROUPSTORE_REQUIRE_VERIFICATION="true", GROUPSTORE_ADMINS=ADMIN
    ) as started:
        yield started


def activation_token(gateway: Gateway, username: str) -> str:
    """The token the default sender wrote to the gateway's log for this user."""
    found = re.findall(rf"for user '{re.escape(username)}': .* (\S+) \(valid until", gateway.log())
    assert found, gateway.log()
    return str(found[-1])


def sign_up(gateway: Gateway, api: Any, username: str) -> tuple[str, Api]:
    """Register (inactive), activate with the mailed token, log in: (id, session)."""
    password = f"{username} password"
    anonymous = api()
    user = anonymous.run(REGISTER, u=username, p=password)["registerUser"]
    activated = anonymous.run(ACTIVATE, t=activation_token(gateway, username))["activateUser"]
    assert activated == {"id": user["id"], "username": username, "active": True}
    token = anonymous.run(LOGIN, u=username, p=password)["login"]["token"]
    return user["id"], api(token)


async def watch_an_upload(gateway: Gateway, watcher: Api, uploader: Api, group: str) -> Any:
    """What ``watcher``'s filesChanged subscription shows when ``uploader`` uploads."""
    assert watcher.token is not None
    async with subscribed(gateway, watcher.token, FILES_CHANGED, group) as stream:
        file = FileVar(io.BytesIO(b"name,score\ndora,3\n"), filename="results.csv")
        await anyio.to_thread.run_sync(
            lambda: uploader.run(UPLOAD, upload_files=True, group=group, file=file)
        )
        return (await next_message(stream))["filesChanged"]


def test_a_new_team_from_sign_up_to_hand_over(
    gateway: Gateway, api: Any, browser: Browser, tmp_path: Path
) -> None:
    _, founder = sign_up(gateway, api, ADMIN)
    dora_name, carol_name = unique("dora"), unique("carol")
    _, dora = sign_up(gateway, api, dora_name)
    carol_id, carol = sign_up(gateway, api, carol_name)

    workflow = founder.run(CREATE_WORKFLOW, n=unique("wf"))["createWorkflow"]["id"]
    group = dora.run(CREATE_GROUP, w=workflow, n=unique("team"))["createGroup"]
    assert group["engineConfig"] == {"workers": 2}  # the workflow's default
    found = dora.run(FIND, p=carol_name[:9])["users"]["nodes"]
    assert found == [{"id": carol_id, "username": carol_name}]
    added = dora.run(ADD, g=group["id"], u=carol_id)["addMember"]["members"]
    assert [m["username"] for m in added] == [dora_name, carol_name]

    # carol watches the group's files; dora uploads; carol sees it arrive. (gql's
    # WebSocket client is async: it runs on a loop of its own thread, away from
    # Playwright's synchronous API.)
    with ThreadPoolExecutor(1) as thread:
        message = thread.submit(
            anyio.run, watch_an_upload, gateway, carol, dora, group["id"]
        ).result()
    assert message["kind"] == "FILE_UPLOADED"
    assert [f["name"] for f in message["files"]] == ["results.csv"]

    # A signed link: a browser downloads it from a plain <a href>, no header.
    (listed,) = carol.run(SIGNED, g=group["id"])["uploadedFiles"]
    page = browser.new_page()
    try:
        page.set_content(f'<a id="get" href="{listed["signedUrl"]}" download>results</a>')
        with page.expect_download() as download:
            page.click("#get")
        saved = tmp_path / "results.csv"
        download.value.save_as(saved)
    finally:
        page.close()
    assert saved.read_bytes() == b"name,score\ndora,3\n"

    # The owner hands the group over and leaves.
    transferred = dora.run(TRANSFER, g=group["id"], u=carol_id)["transferOwnership"]
    assert transferred["owner"] == {"username": carol_name}
    assert dora.run(LEAVE, g=group["id"]) == {"leaveGroup": True}
    assert dora.run(GROUP, g=group["id"])["group"] == {
        "isMember": False,
        "owner": None,
        "members": None,
    }
    assert carol.run(GROUP, g=group["id"])["group"]["members"] == [{"username": carol_name}]
