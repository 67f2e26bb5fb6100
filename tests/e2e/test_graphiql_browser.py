"""A real browser runs a query through GraphiQL's UI, served by the real gateway process.

Playwright drives headless Chromium: Debian's ``chromium`` (or
``GROUPSTORE_TEST_CHROMIUM``) through ``executable_path``, so no browser is
downloaded. The test types an API key into GraphiQL's headers editor and a
query into its query editor with keyboard input, clicks the execute button,
and reads the result from the response pane. It also checks that the page
made no request outside the gateway's origin, violated no CSP rule and threw
no script error. On failure a screenshot is saved (in ``GROUPSTORE_TEST_ARTIFACTS``
if set, else the test's tmp_path) and its path printed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.gqlclient import CREATE_WORKFLOW, admin_session, register_and_login, unique
from tests.e2e.server import Gateway

# Debian's chromium first; Google Chrome (preinstalled on GitHub's Ubuntu runners,
# where `chromium` is a snap shim) as a fallback. GROUPSTORE_TEST_CHROMIUM overrides.
CHROMIUM_CANDIDATES = ("chromium", "google-chrome-stable", "google-chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic"]


def find_chromium() -> str | None:
    override = os.environ.get("GROUPSTORE_TEST_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


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
TIMEOUT_MS = 20_000

# Installed before any page script runs: records CSP violations and uncaught errors.
WATCH_PAGE = """
window.__watch = {csp: [], errors: []};
document.addEventListener("securitypolicyviolation", (e) =>
  window.__watch.csp.push(e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", (e) => window.__watch.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) =>
  window.__watch.errors.push("unhandled rejection: " + String(e.reason)));
"""


@dataclass
class Watched:
    """A page and what it did: every request's URL, every uncaught script error."""

    page: Page
    requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail(f"GROUPSTORE_TEST_REQUIRE_BROWSER is set, but the test {NO_BROWSER}")
    with sync_playwright() as playwright:
        started = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        yield started
        started.close()


@pytest.fixture
def watched(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    result = Watched(page)
    page.on("request", lambda r: result.requests.append(r.url))
    page.on("pageerror", lambda error: result.page_errors.append(str(error)))
    page.add_init_script(WATCH_PAGE)
    failed_before = request.session.testsfailed
    yield result
    if request.session.testsfailed > failed_before:  # this test's call phase failed
        folder = Path(os.environ.get("GROUPSTORE_TEST_ARTIFACTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / f"{request.node.name}.png"
        page.screenshot(path=str(shot))
        print(f"screenshot of the failed page: {shot}", file=sys.stderr)
        print(f"page problems: {page.evaluate('window.__watch')}", file=sys.stderr)
    context.close()


def wait_until(page: Page, expression: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll a JavaScript expression until it is truthy.

    Not ``page.wait_for_function``: that compiles its predicate with ``new Function``
    inside the page, which GraphiQL's CSP (rightly) forbids; ``evaluate`` is not
    subject to the page's CSP.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {expression}")
        time.sleep(0.05)


def editor_value(page: Page, selector: str) -> str:
    """The text of a GraphiQL (CodeMirror 5) editor."""
    value: str = page.evaluate(
        f"document.querySelector({json.dumps(selector)}).CodeMirror.getValue()"
    )
    return value


def type_into_editor(page: Page, selector: str, text: str) -> None:
    """Click into the editor, select all, delete, and type ``text``; checks the result."""
    page.click(f"{selector} .CodeMirror-lines")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.insert_text(text)
    editor = f"document.querySelector({json.dumps(selector)}).CodeMirror"
    wait_until(page, f"{editor}.getValue() === {json.dumps(text)}", timeout=5)


def wait_for_response(page: Page) -> Any:
    """The JSON shown in the response pane, once there is one."""
    pane = f"document.querySelector({json.dumps(RESPONSE)})"
    wait_until(
        page,
        f"""(() => {{
            const text = {pane}.innerText.replace(/\\u00a0/g, " ").trim();
            try {{ JSON.parse(text); return true; }} catch (e) {{ return false; }}
        }})()""",
    )
    text: str = page.inner_text(RESPONSE)
    return json.loads(text.replace("\xa0", " ").strip())


def run_in_graphiql(page: Page, query: str) -> Any:
    type_into_editor(page, QUERY_EDITOR, query)
    # GraphiQL copies the editor into its tab state after a debounce, and its history
    # records the tab state when a query runs: wait for it, so history sees this query.
    escaped = json.dumps(json.dumps(query)[1:-1])
    wait_until(page, f"(localStorage.getItem('graphiql:tabState') || '').includes({escaped})")
    # Clear the previous result, so the one read below is this query's.
    page.evaluate(
        f"document.querySelector({json.dumps(RESPONSE + ' .CodeMirror')})?.CodeMirror.setValue('')"
    )
    page.click(EXECUTE)
    return wait_for_response(page)


def test_graphiql_runs_a_query_typed_into_its_editor(gateway: Gateway, api, watched: Watched):
    page = watched.page
    user = unique("dora")
    _, token = register_and_login(api, user)
    workflow_name = unique("browser_wf")
    created = admin_session(api).run(CREATE_WORKFLOW, name=workflow_name)
    workflow_id = created["createWorkflow"]["id"]

    # A history entry with an API key, as GraphiQL itself (or an older page) wrote them.
    old_entry = {"query": "{ old }", "headers": '{"Authorization": "Bearer OLD-SECRET"}'}
    seed = json.dumps(json.dumps({"queries": [old_entry]}))
    page.add_init_script(f"localStorage.setItem('graphiql:queries', {seed});")
    page.goto(gateway.graphql_url)
    page.wait_for_selector(EXECUTE)
    page.wait_for_selector(QUERY_EDITOR)
    assert page.title().startswith("GraphiQL")

    # Anonymous first: the gateway answers with a coded error, shown in the pane.
    anonymous = run_in_graphiql(page, "{ workflows { name } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # The API key goes into the headers editor, typed like a user would.
    page.locator(".graphiql-editor-tools button", has_text="Headers").click()
    page.wait_for_selector(HEADERS_EDITOR)
    type_into_editor(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))

    # A small result, so the whole of it is rendered in the pane.
    query = f'{{ workflow(id: "{workflow_id}") {{ id name }} me {{ username }} }}'
    result = run_in_graphiql(page, query)
    assert result == {
        "data": {"workflow": {"id": workflow_id, "name": workflow_name}, "me": {"username": user}}
    }

    # Nothing left the gateway's origin; nothing was blocked; no script failed.
    origin = urlsplit(gateway.url)
    for url in watched.requests:
        if url.startswith("data:"):
            continue
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc), url
    assert page.evaluate("window.__watch") == {"csp": [], "errors": []}
    assert watched.page_errors == []
    # The API key is not persisted: not in the tab state (shouldPersistHeaders: false),
    # and not in the query history, which GraphiQL 4.1 writes with the headers.
    wait_until(page, "(localStorage.getItem('graphiql:queries') || '').includes('workflow(id:')")
    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert token not in stored
    assert "OLD-SECRET" not in stored  # old entries were cleaned when the page loaded
    assert "{ old }" in stored


def test_graphiql_saves_no_password_of_a_login_run_in_it(gateway: Gateway, api, watched: Watched):
    page = watched.page
    user = unique("erin")
    password = "pw-" + unique("secret")
    api().run(
        "mutation($u: String!, $p: String!) { registerUser(username: $u, password: $p) { id } }",
        u=user,
        p=password,
    )
    page.goto(gateway.graphql_url)
    page.wait_for_selector(EXECUTE)
    page.wait_for_selector(QUERY_EDITOR)

    login = f'mutation {{ login(username: "{user}", password: "{password}") {{ token }} }}'
    type_into_editor(page, QUERY_EDITOR, login)
    # The tab state is saved with the literals emptied (see graphql_api/graphiql.py).
    wait_until(page, "(localStorage.getItem('graphiql:tabState') || '').includes('login(username')")
    page.click(EXECUTE)
    token = wait_for_response(page)["data"]["login"]["token"]
    # A harmless query afterwards: history records it, so it has been written by now.
    assert run_in_graphiql(page, "{ __typename }") == {"data": {"__typename": "Query"}}
    wait_until(page, "(localStorage.getItem('graphiql:queries') || '').includes('__typename')")

    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert password not in stored
    assert token not in stored
    assert "login(" not in json.loads(stored)["graphiql:queries"]
