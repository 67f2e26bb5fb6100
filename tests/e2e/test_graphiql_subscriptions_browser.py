"""A real browser runs a subscription in GraphiQL and sees a teammate's upload arrive.

Same set-up as ``test_graphiql_browser.py`` (Playwright driving headless
Chromium against the real gateway): the API key goes into the headers editor,
which GraphiQL's bundled graphql-ws client sends as the ``connection_init`` payload.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from gql import FileVar
from playwright.sync_api import Page

from tests.e2e.gqlclient import (
    CREATE_GROUP,
    CREATE_WORKFLOW,
    UPDATE_GROUP,
    UPLOAD,
    admin_session,
    register_and_login,
    unique,
)
from tests.e2e.server import Gateway
from tests.e2e.test_graphiql_browser import (  # the fixtures and helpers of the browser test
    EXECUTE,
    HEADERS_EDITOR,
    QUERY_EDITOR,
    RESPONSE,
    Watched,
    browser,
    pytestmark,
    type_into_editor,
    wait_until,
    watched,
)

__all__ = ["browser", "pytestmark", "watched"]

SUBSCRIPTION = "subscription {{ filesChanged(groupId: {group}) {{ kind files {{ name }} }} }}"


def wait_for_kind(page: Page, kind: str, timeout: float = 20.0) -> Any:
    """The response pane's JSON once it shows a filesChanged message of ``kind``."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.inner_text(RESPONSE).replace("\xa0", " ").strip()
        try:
            shown = json.loads(text)
        except ValueError:
            shown = None
        if (
            isinstance(shown, dict)
            and (shown.get("data") or {}).get("filesChanged", {}).get("kind") == kind
        ):
            return shown
        time.sleep(0.1)
    raise AssertionError(f"no {kind} message in the response pane after {timeout}s: {text!r}")


def test_graphiql_shows_an_upload_by_a_teammate_live(gateway: Gateway, api: Any, watched: Watched):
    page = watched.page
    alice_id, alice_token = register_and_login(api, unique("alice"))
    bob_id, bob_token = register_and_login(api, unique("bob"))
    alice = api(alice_token)
    workflow = admin_session(api).run(CREATE_WORKFLOW, name=unique("wf"))["createWorkflow"]["id"]
    group = alice.run(CREATE_GROUP, wf=workflow, name=unique("team"))["createGroup"]["id"]
    alice.run(UPDATE_GROUP, id=group, members=[alice_id, bob_id])

    page.goto(gateway.graphql_url)
    page.wait_for_selector(EXECUTE)
    page.wait_for_selector(QUERY_EDITOR)
    page.locator(".graphiql-editor-tools button", has_text="Headers").click()
    page.wait_for_selector(HEADERS_EDITOR)
    type_into_editor(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {alice_token}"}))
    query = SUBSCRIPTION.format(group=json.dumps(group))
    type_into_editor(page, QUERY_EDITOR, query)
    # GraphiQL sends an operation over the socket only once it has parsed it as a
    # subscription (after a debounce, with the tab state): clicking earlier POSTs it.
    escaped = json.dumps(json.dumps(query)[1:-1])
    wait_until(page, f"(localStorage.getItem('graphiql:tabState') || '').includes({escaped})")
    page.click(EXECUTE)

    initial = wait_for_kind(page, "INITIAL")
    api(bob_token).run(
        UPLOAD, upload_files=True, group=group, file=FileVar(io.BytesIO(b"1"), filename="b.txt")
    )
    uploaded = wait_for_kind(page, "FILE_UPLOADED")

    assert initial["data"]["filesChanged"]["files"] == []
    assert uploaded["data"]["filesChanged"]["files"] == [{"name": "b.txt"}]
    assert page.evaluate("window.__watch") == {"csp": [], "errors": []}
    assert watched.page_errors == []
