"""A real browser runs a query through GraphiQL's UI, served by the real gateway process.

Headless Chromium (Debian's ``chromium``) is driven over the DevTools protocol
(``cdp.py``): the test types an API key into GraphiQL's headers editor and a
query into its query editor with keyboard input, clicks the execute button,
and reads the result from the response pane. It also checks that the page
made no request outside the gateway's origin, violated no CSP rule and threw
no script error. On failure a screenshot is saved (in ``GROUPSTORE_TEST_ARTIFACTS``
if set, else the test's tmp_path) and its path printed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.cdp import Browser, CDPError, Page, find_chromium
from tests.e2e.gqlclient import CREATE_WORKFLOW, register_and_login, unique
from tests.e2e.server import Gateway

CHROMIUM = find_chromium()
NO_BROWSER = (
    "needs Chromium: apt-get install chromium, or set GROUPSTORE_TEST_CHROMIUM to a browser"
    f" (now {os.environ.get('GROUPSTORE_TEST_CHROMIUM')!r})"
)
# CI sets GROUPSTORE_TEST_REQUIRE_BROWSER=1: a missing browser then fails instead of skipping.
REQUIRE_BROWSER = os.environ.get("GROUPSTORE_TEST_REQUIRE_BROWSER", "") not in ("", "0")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not REQUIRE_BROWSER, reason=NO_BROWSER)

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE = ".graphiql-response"
EXECUTE = ".graphiql-execute-button"

# Installed before any page script runs: records CSP violations and uncaught errors.
WATCH_PAGE = """
window.__watch = {csp: [], errors: []};
document.addEventListener("securitypolicyviolation", (e) =>
  window.__watch.csp.push(e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", (e) => window.__watch.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) =>
  window.__watch.errors.push("unhandled rejection: " + String(e.reason)));
"""


@pytest.fixture
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail(f"GROUPSTORE_TEST_REQUIRE_BROWSER is set, but the test {NO_BROWSER}")
    with Browser(CHROMIUM, timeout=30) as started:
        yield started


@pytest.fixture
def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    tab = browser.new_page()
    for domain in ("Page", "Runtime", "Network"):
        tab.send(f"{domain}.enable")
    tab.send("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_PAGE})
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:  # this test's call phase failed
        folder = Path(os.environ.get("GROUPSTORE_TEST_ARTIFACTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            shot = tab.screenshot(folder / f"{request.node.name}.png")
            print(f"screenshot of the failed page: {shot}", file=sys.stderr)
            print(f"page problems: {tab.evaluate('window.__watch')}", file=sys.stderr)
        except CDPError as exc:
            print(f"no screenshot: {exc}\n{browser.stderr()}", file=sys.stderr)


def editor_value(page: Page, selector: str) -> str:
    """The text of a GraphiQL (CodeMirror 5) editor."""
    element = f"document.querySelector({json.dumps(selector)})"
    value: str = page.evaluate(f"{element}.CodeMirror.getValue()")
    return value


def type_into_editor(page: Page, selector: str, text: str) -> None:
    """Click into the editor, select all, delete, and type ``text``; checks the result."""
    page.click(f"{selector} .CodeMirror-lines")
    page.key("a", "KeyA", 65, modifiers=2)  # Ctrl+A
    page.key("Backspace", "Backspace", 8)
    page.insert_text(text)
    deadline = time.monotonic() + 5
    while editor_value(page, selector) != text:
        if time.monotonic() > deadline:
            raise AssertionError(f"editor {selector!r} holds {editor_value(page, selector)!r}")
        time.sleep(0.05)


def response_text(page: Page) -> str:
    """What the response pane shows (non-breaking spaces as spaces)."""
    text: str = page.evaluate(f"document.querySelector({json.dumps(RESPONSE)}).innerText")
    return text.replace("\xa0", " ").strip()


def wait_for_response(page: Page, timeout: float = 20.0) -> Any:
    """The JSON shown in the response pane, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        text = response_text(page)
        if text:
            try:
                return json.loads(text)
            except ValueError:
                pass  # still rendering
        if time.monotonic() > deadline:
            raise AssertionError(f"no JSON in the response pane after {timeout}s: {text!r}")
        time.sleep(0.1)


def run_in_graphiql(page: Page, query: str) -> Any:
    type_into_editor(page, QUERY_EDITOR, query)
    # GraphiQL copies the editor into its tab state after a debounce, and its history
    # records the tab state when a query runs: wait for it, so history sees this query.
    escaped = json.dumps(json.dumps(query)[1:-1])
    page.wait_for(f"(localStorage.getItem('graphiql:tabState') || '').includes({escaped})")
    # Clear the previous result, so the one read below is this query's.
    page.evaluate(
        f"document.querySelector({json.dumps(RESPONSE + ' .CodeMirror')})?.CodeMirror.setValue('')"
    )
    page.click(EXECUTE)
    return wait_for_response(page)


def test_graphiql_runs_a_query_typed_into_its_editor(gateway: Gateway, api, page: Page):
    user = unique("dora")
    _, token = register_and_login(api, user)
    workflow_name = unique("browser_wf")
    workflow_id = api(token).run(CREATE_WORKFLOW, name=workflow_name)["createWorkflow"]["id"]

    # A history entry with an API key, as GraphiQL itself (or an older page) wrote them.
    old_entry = {"query": "{ old }", "headers": '{"Authorization": "Bearer OLD-SECRET"}'}
    seed = json.dumps(json.dumps({"queries": [old_entry]}))
    page.send(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": f"localStorage.setItem('graphiql:queries', {seed});"},
    )
    page.navigate(gateway.graphql_url)
    page.wait_for(f"document.querySelector({json.dumps(EXECUTE)}) !== null", timeout=20)
    page.wait_for(f"document.querySelector({json.dumps(QUERY_EDITOR)}) !== null", timeout=20)
    assert page.evaluate("document.title").startswith("GraphiQL")

    # Anonymous first: the gateway answers with a coded error, shown in the pane.
    anonymous = run_in_graphiql(page, "{ workflows { name } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # The API key goes into the headers editor, typed like a user would.
    page.click(".graphiql-editor-tools button", text="Headers")
    page.wait_for(f"document.querySelector({json.dumps(HEADERS_EDITOR)}) !== null")
    type_into_editor(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))

    # A small result, so the whole of it is rendered in the pane.
    query = f'{{ workflow(id: "{workflow_id}") {{ id name }} me {{ username }} }}'
    result = run_in_graphiql(page, query)
    assert result == {
        "data": {"workflow": {"id": workflow_id, "name": workflow_name}, "me": {"username": user}}
    }

    # Nothing left the gateway's origin; nothing was blocked; no script failed.
    origin = urlsplit(gateway.url)
    for url in [event["request"]["url"] for event in page.events("Network.requestWillBeSent")]:
        if url.startswith("data:"):
            continue
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc), url
    watch = page.evaluate("window.__watch")
    assert watch == {"csp": [], "errors": []}
    assert page.events("Runtime.exceptionThrown") == []
    # The API key is not persisted: not in the tab state (shouldPersistHeaders: false),
    # and not in the query history, which GraphiQL 4.1 writes with the headers.
    page.wait_for("(localStorage.getItem('graphiql:queries') || '').includes('workflow(id:')")
    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert token not in stored
    assert "OLD-SECRET" not in stored  # old entries were cleaned when the page loaded
    assert "{ old }" in stored


def test_graphiql_saves_no_password_of_a_login_run_in_it(gateway: Gateway, api, page: Page):
    user = unique("erin")
    password = "pw-" + unique("secret")
    api().run(
        "mutation($u: String!, $p: String!) { registerUser(username: $u, password: $p) { id } }",
        u=user,
        p=password,
    )
    page.navigate(gateway.graphql_url)
    page.wait_for(f"document.querySelector({json.dumps(EXECUTE)}) !== null", timeout=20)
    page.wait_for(f"document.querySelector({json.dumps(QUERY_EDITOR)}) !== null", timeout=20)

    login = f'mutation {{ login(username: "{user}", password: "{password}") {{ token }} }}'
    type_into_editor(page, QUERY_EDITOR, login)
    # The tab state is saved with the literals emptied (see graphql_api/graphiql.py).
    page.wait_for("(localStorage.getItem('graphiql:tabState') || '').includes('login(username')")
    page.click(EXECUTE)
    token = wait_for_response(page)["data"]["login"]["token"]
    # A harmless query afterwards: history records it, so it has been written by now.
    assert run_in_graphiql(page, "{ __typename }") == {"data": {"__typename": "Query"}}
    page.wait_for("(localStorage.getItem('graphiql:queries') || '').includes('__typename')")

    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert password not in stored
    assert token not in stored
    assert "login(" not in json.loads(stored)["graphiql:queries"]
