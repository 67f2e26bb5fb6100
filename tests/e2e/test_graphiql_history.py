"""GraphiQL's saved state keeps no secret: the page's storage wrapper, run in Node.

The wrapper (``graphql_api.graphiql._STORAGE_JS``) sits between GraphiQL and
localStorage. Here it runs against a fake localStorage: old entries are cleaned
on load, new writes are cleaned as they happen. The browser test drives the
same code through GraphiQL's UI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping

import pytest

from graphql_api.graphiql import _STORAGE_JS, SENSITIVE_OPERATIONS, graphiql_html

NODE = shutil.which("node") or shutil.which("nodejs")
REQUIRE = os.environ.get("GROUPSTORE_TEST_REQUIRE_BROWSER", "") not in ("", "0")
pytestmark = pytest.mark.skipif(NODE is None and not REQUIRE, reason="needs node (apt-get nodejs)")

SECRETS = ("s3cret-literal", "s3cret-variable", "old-s3cret", "Bearer key-")

HARNESS = """
const data = new Map(Object.entries(JSON.parse(process.argv[1])));
global.localStorage = {
  get length() { return data.size; },
  key(i) { return Array.from(data.keys())[i] ?? null; },
  getItem(k) { return data.has(k) ? data.get(k) : null; },
  setItem(k, v) { data.set(k, String(v)); },
  removeItem(k) { data.delete(k); },
};
WRAPPER
const writes = JSON.parse(process.argv[2]);
for (const [key, value] of writes) storage.setItem(key, value);
process.stdout.write(JSON.stringify(Object.fromEntries(data)));
"""


def login(password: str) -> str:
    return f'mutation {{ login(username: "alice", password: "{password}") {{ token }} }}'


def run_wrapper(stored: dict[str, str], writes: list[tuple[str, str]]) -> dict[str, str]:
    if NODE is None:
        pytest.fail("GROUPSTORE_TEST_REQUIRE_BROWSER is set, but node is missing")
    script = HARNESS.replace("WRAPPER", _STORAGE_JS)
    done = subprocess.run(
        [NODE, "-e", script, "--", json.dumps(stored), json.dumps(writes)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, str] = json.loads(done.stdout)
    return result


def history(*entries: Mapping[str, object]) -> str:
    return json.dumps({"queries": list(entries)})


def test_new_history_keeps_no_sensitive_document_and_no_headers() -> None:
    writes = [
        (
            "graphiql:queries",
            history(
                {"query": login("s3cret-literal"), "headers": '{"a": "Bearer key-1"}'},
                {
                    "query": "mutation($p: String!) { changePassword(oldPassword: $p) }",
                    "variables": '{"p": "s3cret-variable"}',
                },
                {"query": "{ me { id } }", "headers": '{"a": "Bearer key-2"}'},
            ),
        )
    ]

    stored = run_wrapper({}, writes)

    saved = json.loads(stored["graphiql:queries"])["queries"]
    assert saved == [{"query": "{ me { id } }"}]


def test_tabs_and_current_query_lose_literals_and_variables_of_sensitive_documents() -> None:
    tabs = {
        "activeTabIndex": 0,
        "tabs": [
            {"query": login("s3cret-literal"), "variables": '{"x": "s3cret-variable"}'},
            {"query": "{ me { id } }", "variables": '{"keep": 1}'},
        ],
    }
    writes = [
        ("graphiql:tabState", json.dumps(tabs)),
        ("graphiql:query", login("s3cret-literal")),
        ("graphiql:variables", '{"x": "s3cret-variable"}'),
    ]

    stored = run_wrapper({}, writes)

    saved_tabs = json.loads(stored["graphiql:tabState"])["tabs"]
    emptied = 'mutation { login(username: "", password: "") { token } }'
    assert saved_tabs[0] == {"query": emptied, "variables": None}
    assert saved_tabs[1] == {"query": "{ me { id } }", "variables": '{"keep": 1}'}
    assert stored["graphiql:query"] == emptied
    assert stored["graphiql:variables"] == ""


def test_entries_saved_before_are_cleaned_when_the_page_loads() -> None:
    old = {
        "graphiql:queries": history({"query": login("old-s3cret"), "headers": "Bearer key-3"}),
        "graphiql:favorites": json.dumps(
            {"favorites": [{"query": "{ me { id } }", "headers": "Bearer key-4"}]}
        ),
        "graphiql:query": login("old-s3cret"),
        "unrelated": "left alone",
    }

    stored = run_wrapper(old, [])

    assert not any(secret in value for value in stored.values() for secret in SECRETS)
    assert json.loads(stored["graphiql:favorites"]) == {"favorites": [{"query": "{ me { id } }"}]}
    assert stored["unrelated"] == "left alone"


@pytest.mark.parametrize("operation", SENSITIVE_OPERATIONS)
def test_every_operation_taking_a_secret_is_kept_out_of_history(operation: str) -> None:
    query = f'mutation {{ {operation}(password: "s3cret-literal") {{ __typename }} }}'

    stored = run_wrapper({}, [("graphiql:queries", history({"query": query}))])

    assert json.loads(stored["graphiql:queries"]) == {"queries": []}


def test_a_similar_name_is_not_taken_for_a_sensitive_one() -> None:
    entry = {"query": 'query { loginHistory(user: "a") { id } }'}

    stored = run_wrapper({}, [("graphiql:queries", history(entry))])

    assert json.loads(stored["graphiql:queries"]) == {"queries": [entry]}


def test_the_page_runs_this_wrapper() -> None:
    assert _STORAGE_JS in graphiql_html()
    assert "props.storage = storage;" in graphiql_html()
