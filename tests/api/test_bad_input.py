"""Bad input, table-driven: every case answers a coded error and changes nothing.

Each case is one request through the gateway (GraphQL over JSON, multipart,
plain HTTP routes) from one caller (anonymous, an outsider, the member). The
answer must be an error with ``extensions.code`` other than INTERNAL: an HTTP
4xx, or, for a well-formed GraphQL request that fails validation or
execution, a 200 carrying only coded errors (GraphQL over HTTP with
``application/json`` answers such requests 200). The store's users,
workflows, groups and files read back the same before and after.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from groupstore import Group, GroupStore, UploadedFile, Workflow

from .conftest import PREFLIGHT, bearer

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Ids:
    group: str
    file: str
    workflow: str
    other_group: str  # bob's group, alice is not a member
    other_file: str  # a file of bob's group


Build = Callable[[Ids], dict[str, Any]]
# Header values are str, or bytes for what str cannot carry (non-ASCII).


@dataclass(frozen=True)
class Case:
    role: str
    build: Build


def body(raw: bytes | str, headers: dict[str, str] | None = None) -> Build:
    content = raw.encode() if isinstance(raw, str) else raw
    return lambda ids: {
        "method": "POST",
        "url": "/graphql",
        "content": content,
        "headers": {**JSON, **(headers or {})},
    }


def fill(text: str, ids: Ids) -> str:
    """``{group}``, ``{file}``, ``{workflow}``, ``{other_group}``, ``{other_file}`` filled in."""
    for name, value in ids.__dict__.items():
        text = text.replace("{" + name + "}", value)
    return text


def gql(query: str, variables: Any = None, **extra: Any) -> Build:
    """A JSON POST of a GraphQL request (placeholders filled in, also in the variables)."""

    def build(ids: Ids) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": fill(query, ids), **extra}
        if variables is not None:
            payload["variables"] = json.loads(fill(json.dumps(variables), ids))
        # ensure_ascii: lone surrogates travel as \ud800 escapes, as a client would send them
        return {
            "method": "POST",
            "url": "/graphql",
            "content": json.dumps(payload),
            "headers": JSON,
        }

    return build


def raw_gql(payload: dict[str, Any]) -> Build:
    return lambda ids: {
        "method": "POST",
        "url": "/graphql",
        "content": json.dumps(payload),
        "headers": JSON,
    }


UPLOAD = (
    "mutation($g: ID!, $f: Upload!, $n: String) {{ uploadFile(groupId: $g, file: $f, "
    "name: $n) {{ id }} }}"
)


def multipart(
    operations: Any = None,
    files_map: Any = None,
    files: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    group: str = "group",
    name: str | None = None,
) -> Build:
    def build(ids: Ids) -> dict[str, Any]:
        ops = operations
        if ops is None:
            ops = {
                "query": UPLOAD.replace("{{", "{").replace("}}", "}"),
                "variables": {"g": getattr(ids, group), "f": None, "n": name},
            }
        elif isinstance(ops, dict):
            ops = json.loads(fill(json.dumps(ops), ids))
        form: dict[str, Any] = {
            "operations": (None, ops if isinstance(ops, str) else json.dumps(ops)),
        }
        fmap = {"0": ["variables.f"]} if files_map is None else files_map
        form["map"] = (None, fmap if isinstance(fmap, str) else json.dumps(fmap))
        for key, value in (files if files is not None else {"0": ("a.txt", b"abc")}).items():
            form[key] = value
        return {
            "method": "POST",
            "url": "/graphql",
            "files": form,
            "headers": PREFLIGHT if headers is None else headers,
        }

    return build


def multipart_raw(disposition: bytes) -> Build:
    """An upload whose file part has this Content-Disposition tail (raw bytes)."""

    def build(ids: Ids) -> dict[str, Any]:
        operations = json.dumps(
            {
                "query": UPLOAD.replace("{{", "{").replace("}}", "}"),
                "variables": {"g": ids.group, "f": None},
            }
        ).encode()
        content = (
            b'--B\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
            + operations
            + b'\r\n--B\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
            b'{"0": ["variables.f"]}\r\n--B\r\nContent-Disposition: form-data; name="0"; '
            + disposition
            + b"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--B--\r\n"
        )
        headers = {"Content-Type": "multipart/form-data; boundary=B", **PREFLIGHT}
        return {"method": "POST", "url": "/graphql", "content": content, "headers": headers}

    return build


def http(method: str, url: str, headers: dict[str, Any] | None = None, **kw: Any) -> Build:
    def build(ids: Ids) -> dict[str, Any]:
        return {"method": method, "url": fill(url, ids), "headers": headers or {}, **kw}

    return build


def download(
    range_header: str | None = None,
    file: str = "{file}",
    group: str = "{group}",
    headers: dict[str, str] | None = None,
) -> Build:
    extra = dict(headers or {})
    if range_header is not None:
        extra["Range"] = range_header
    return http("GET", f"/files/{group}/{file}", extra)


def deep(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def bomb(levels: int) -> str:
    parts = ["query { ...F0 }"]
    parts += [
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    ]
    parts.append(f"fragment F{levels} on Query {{ me {{ id }} }}")
    return " ".join(parts)


M, O, A = "member", "outsider", "anonymous"  # noqa: E741 (the three roles, short)
CREATE_GROUP = (
    "mutation($n: String!, $p: JSON, $s: JSON, $m: [ID!], $i: ID) "
    '{ createGroup(workflowId: "{workflow}", name: $n, parameters: $p, '
    "workflowSpec: $s, members: $m, identifier: $i) { id } }"
)


def create_group(name: Any = "new-group", **variables: Any) -> Build:
    return gql(CREATE_GROUP, {"n": name, **variables})


CASES: dict[str, Case] = {
    # --- bodies that are not a GraphQL request object
    "body-number": Case(A, body("5")),
    "body-string": Case(A, body('"x"')),
    "body-null": Case(A, body("null")),
    "body-true": Case(A, body("true")),
    "body-float": Case(A, body("1.5")),
    "body-nan": Case(A, body("NaN")),
    "body-empty-list": Case(A, body("[]")),
    "body-batch": Case(M, body('[{"query": "{ me { id } }"}]')),
    "body-empty": Case(A, body("")),
    "body-truncated": Case(A, body('{"query": "{ me { id } }"')),
    "body-single-quotes": Case(A, body("{'query': '{ me { id } }'}")),
    "body-trailing-garbage": Case(A, body('{"query": "{ me { id } }"} x')),
    "body-invalid-utf8": Case(A, body(b'{"query": "\xff"}')),
    "body-invalid-utf8-start": Case(A, body(b"\xff\xfe{}")),
    "body-overlong-utf8": Case(A, body(b'{"query": "\xc0\xaf"}')),
    "body-truncated-utf8": Case(A, body(b'{"query": "\xc3"}')),
    "body-deep-arrays": Case(
        A, body('{"query": "{ me { id } }", "variables": {"a": ' + "[" * 1200 + "]" * 1200 + "}}")
    ),
    "body-deep-objects": Case(
        A, body('{"query": "{ me { id } }", "extensions": ' + '{"a":' * 1200 + "1" + "}" * 1201)
    ),
    "body-65-deep-variables": Case(
        M, raw_gql({"query": "{ me { id } }", "variables": {"a": deep(65)}})
    ),
    "body-huge-int-variable": Case(
        A, body('{"query": "{ me { id } }", "variables": {"a": ' + "9" * 5000 + "}}")
    ),
    "body-huge-int-top": Case(A, body("9" * 5000)),
    "query-number": Case(A, raw_gql({"query": 5})),
    "query-list": Case(A, raw_gql({"query": ["{ me { id } }"]})),
    "query-object": Case(A, raw_gql({"query": {"a": 1}})),
    "query-missing": Case(A, raw_gql({})),
    "query-null": Case(A, raw_gql({"query": None})),
    "query-empty": Case(A, raw_gql({"query": ""})),
    "query-blank": Case(A, raw_gql({"query": "   "})),
    "variables-string": Case(A, raw_gql({"query": "{ me { id } }", "variables": "x"})),
    "variables-list": Case(A, raw_gql({"query": "{ me { id } }", "variables": [1]})),
    "extensions-string": Case(A, raw_gql({"query": "{ me { id } }", "extensions": "x"})),
    "operation-name-number": Case(A, raw_gql({"query": "{ me { id } }", "operationName": 5})),
    "operation-name-list": Case(A, raw_gql({"query": "{ me { id } }", "operationName": ["a"]})),
    "operation-name-unknown": Case(
        A, raw_gql({"query": "query A { me { id } }", "operationName": "B"})
    ),
    # --- strings that are not valid Unicode
    "surrogate-register-username": Case(
        A,
        gql(
            'mutation($u: String!) { registerUser(username: $u, password: "p") { id } }',
            {"u": "\ud800"},
        ),
    ),
    "surrogate-register-password": Case(
        A,
        gql(
            'mutation($p: String!) { registerUser(username: "zed", password: $p) { id } }',
            {"p": "pw\udfff"},
        ),
    ),
    "surrogate-login": Case(
        A,
        gql(
            'mutation($u: String!) { login(username: $u, password: "p") { token } }',
            {"u": "\ud800"},
        ),
    ),
    "surrogate-workflow-name": Case(
        M, gql("mutation($n: String!) { createWorkflow(name: $n) { id } }", {"n": "wf\ud800"})
    ),
    "surrogate-group-name": Case(M, create_group("g\ud800")),
    "surrogate-group-spec": Case(M, create_group(s={"k": "\ud800"})),
    "surrogate-group-spec-key": Case(M, create_group(s={"\udc00": 1})),
    "surrogate-group-id": Case(M, gql("query($g: ID!) { group(id: $g) { id } }", {"g": "\ud800"})),
    "surrogate-rename": Case(
        M,
        gql(
            "mutation($g: ID!, $n: String) { updateGroup(id: $g, name: $n) { id } }",
            {"g": "{group}", "n": "x\ud800"},
        ),
    ),
    "surrogate-cursor": Case(
        M, gql("query($a: String) { groups(after: $a) { nodes { id } } }", {"a": "\ud800"})
    ),
    "surrogate-variable-name": Case(
        A, raw_gql({"query": "{ me { id } }", "variables": {"\ud800": 1}})
    ),
    "surrogate-query-text": Case(A, raw_gql({"query": "{ me { id } } # \ud800"})),
    "surrogate-operation-name": Case(
        A, raw_gql({"query": "{ me { id } }", "operationName": "\ud800"})
    ),
    "surrogate-literal": Case(
        A,
        raw_gql({"query": 'mutation { registerUser(username: "\\ud800", password: "p") { id } }'}),
    ),
    # --- content types
    "content-type-text": Case(
        A,
        http(
            "POST",
            "/graphql",
            {"Content-Type": "text/plain"},
            content=b'{"query": "{ me { id } }"}',
        ),
    ),
    "content-type-form": Case(A, http("POST", "/graphql", data={"query": "{ me { id } }"})),
    "content-type-missing": Case(
        A, http("POST", "/graphql", content=b'{"query": "{ me { id } }"}')
    ),
    "content-type-xml": Case(
        A, http("POST", "/graphql", {"Content-Type": "application/xml"}, content=b"<q/>")
    ),
    "content-type-graphql": Case(
        A,
        http("POST", "/graphql", {"Content-Type": "application/graphql"}, content=b"{ me { id } }"),
    ),
    "multipart-without-boundary": Case(
        M,
        http(
            "POST",
            "/graphql",
            {"Content-Type": "multipart/form-data", **PREFLIGHT},
            content=b"--x\r\n",
        ),
    ),
    # --- documents
    "syntax-unclosed": Case(A, gql("{ me { id }")),
    "syntax-garbage": Case(A, gql("}}}{{{")),
    "syntax-bad-char": Case(A, gql("{ me { id } } \u0007")),
    "syntax-bad-escape": Case(A, gql('{ group(id: "\\x") { id } }')),
    "syntax-unterminated-string": Case(A, gql('{ group(id: "abc) { id } }')),
    "syntax-variable-without-type": Case(A, gql("query($a) { me { id } }")),
    "unknown-field": Case(A, gql("{ nope }")),
    "unknown-argument": Case(A, gql("{ me(x: 1) { id } }")),
    "unknown-type": Case(A, gql("query($a: Nope) { me { id } }")),
    "no-selection-on-object": Case(A, gql("{ me }")),
    "selection-on-scalar": Case(M, gql("{ workflows { id { x } } }")),
    "undefined-variable": Case(M, gql("{ group(id: $g) { id } }")),
    "unused-variable": Case(A, gql("query($a: Int) { me { id } }")),
    "unused-fragment": Case(A, gql("{ me { id } } fragment F on Query { me { id } }")),
    "unknown-fragment": Case(A, gql("{ ...Nope }")),
    "fragment-cycle": Case(
        A, gql("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    ),
    "fragment-on-wrong-type": Case(A, gql("{ ...F } fragment F on User { id }")),
    "fragment-bomb-13": Case(A, gql(bomb(13))),
    "fragment-bomb-150": Case(A, gql(bomb(150))),
    "conflicting-aliases": Case(A, gql("{ a: me { id } a: workflows { id } }")),
    "too-deep": Case(M, gql("{ " + "a { " * 12 + "b" + " }" * 12 + " }")),
    "too-many-aliases": Case(
        A, gql("{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }")
    ),
    "too-many-tokens": Case(A, gql("{ " + "__typename " * 2100 + "}")),
    "too-many-fields": Case(A, gql("{ " + "__typename " * 1001 + "}")),
    "too-deep-brackets": Case(A, gql("{ me(x: " + "[" * 70 + "]" * 70 + ") { id } }")),
    "deep-json-literal": Case(
        M,
        gql(
            'mutation { createWorkflow(name: "deep", workflowSpec: '
            + "[" * 80
            + "]" * 80
            + ") { id } }"
        ),
    ),
    "two-operations-no-name": Case(M, gql("query A { me { id } } mutation B { logout }")),
    "two-anonymous-operations": Case(A, gql("{ me { id } } { me { username } }")),
    "mutation-wrong-name": Case(M, gql("mutation A { logout }", operationName="B")),
    "subscription": Case(A, gql("subscription { me { id } }")),
    "directive-unknown": Case(A, gql("{ me @nope { id } }")),
    "skip-without-if": Case(A, gql("{ me @skip { id } }")),
    # --- arguments of the wrong type, odd values
    "workflow-id-bool": Case(M, gql("{ workflow(id: true) { id } }")),
    "workflow-id-list": Case(M, gql('{ workflow(id: ["a"]) { id } }')),
    "workflow-id-missing": Case(M, gql("{ workflow { id } }")),
    "workflow-id-null": Case(M, gql("{ workflow(id: null) { id } }")),
    "workflow-unknown": Case(M, gql('{ workflow(id: "nope") { id } }')),
    "workflow-anonymous": Case(A, gql('{ workflow(id: "{workflow}") { id } }')),
    "workflows-anonymous": Case(A, gql("{ workflows { id } }")),
    "group-unknown": Case(M, gql('{ group(id: "nope") { id } }')),
    "group-long-id": Case(M, gql("query($g: ID!) { group(id: $g) { id } }", {"g": "x" * 5000})),
    "group-nul-id": Case(M, gql("query($g: ID!) { group(id: $g) { id } }", {"g": "a\u0000b"})),
    "group-dollar-id": Case(M, gql("query($g: ID!) { group(id: $g) { id } }", {"g": "$gt"})),
    "group-id-object-variable": Case(
        M, gql("query($g: ID!) { group(id: $g) { id } }", {"g": {"$ne": None}})
    ),
    "group-id-float-variable": Case(M, gql("query($g: ID!) { group(id: $g) { id } }", {"g": 1.5})),
    "group-anonymous": Case(A, gql('{ group(id: "{group}") { id } }')),
    "group-files-anonymous": Case(A, gql('{ group(id: "{group}") { files { id } } }')),
    "groups-first-string": Case(M, gql('{ groups(first: "x") { nodes { id } } }')),
    "groups-first-negative": Case(M, gql("{ groups(first: -1) { nodes { id } } }")),
    "groups-first-too-big": Case(M, gql("{ groups(first: 101) { nodes { id } } }")),
    "groups-first-overflow": Case(M, gql("{ groups(first: 99999999999) { nodes { id } } }")),
    "groups-first-float": Case(M, gql("{ groups(first: 1.5) { nodes { id } } }")),
    "groups-first-huge-variable": Case(
        M, gql("query($f: Int) { groups(first: $f) { nodes { id } } }", {"f": 10**30})
    ),
    "groups-first-string-variable": Case(
        M, gql("query($f: Int) { groups(first: $f) { nodes { id } } }", {"f": "ten"})
    ),
    "groups-first-5000-digit-literal": Case(
        M, gql("{ groups(first: " + "9" * 5000 + ") { nodes { id } } }")
    ),
    "json-5000-digit-literal": Case(
        M, gql('mutation { createWorkflow(name: "big", workflowSpec: ' + "9" * 5000 + ") { id } }")
    ),
    "json-huge-float-literal": Case(
        M, gql('mutation { createWorkflow(name: "big", workflowSpec: 1e999999) { id } }')
    ),
    "groups-cursor-garbage": Case(M, gql('{ groups(after: "!!!") { nodes { id } } }')),
    "groups-cursor-empty": Case(M, gql('{ groups(after: "") { nodes { id } } }')),
    "groups-cursor-other-prefix": Case(M, gql('{ groups(after: "dXNlcnM6eA") { nodes { id } } }')),
    "groups-cursor-prefix-only": Case(M, gql('{ groups(after: "Z3JvdXBzOg") { nodes { id } } }')),
    "groups-cursor-long": Case(
        M, gql("query($a: String) { groups(after: $a) { nodes { id } } }", {"a": "A" * 20000})
    ),
    "groups-cursor-number": Case(M, gql("{ groups(after: 5) { nodes { id } } }")),
    "groups-unknown-workflow": Case(M, gql('{ groups(workflowId: "nope") { nodes { id } } }')),
    "groups-unknown-user": Case(M, gql('{ groups(userId: "nope") { nodes { id } } }')),
    "groups-anonymous": Case(A, gql("{ groups { nodes { id } } }")),
    "uploaded-files-anonymous": Case(A, gql('{ uploadedFiles(groupId: "{group}") { id } }')),
    "uploaded-files-outsider": Case(O, gql('{ uploadedFiles(groupId: "{group}") { id } }')),
    "uploaded-files-unknown": Case(M, gql('{ uploadedFiles(groupId: "nope") { id } }')),
    "uploaded-files-null": Case(M, gql("{ uploadedFiles(groupId: null) { id } }")),
    # --- mutations
    "register-duplicate": Case(
        A, gql('mutation { registerUser(username: "alice", password: "p") { id } }')
    ),
    "register-duplicate-case": Case(
        A, gql('mutation { registerUser(username: "ALICE", password: "p") { id } }')
    ),
    "register-empty-name": Case(
        A, gql('mutation { registerUser(username: "", password: "p") { id } }')
    ),
    "register-blank-name": Case(
        A, gql('mutation { registerUser(username: "   ", password: "p") { id } }')
    ),
    "register-long-name": Case(
        A,
        gql(
            'mutation($u: String!) { registerUser(username: $u, password: "p") { id } }',
            {"u": "x" * 10000},
        ),
    ),
    "register-name-number": Case(
        A, gql('mutation { registerUser(username: 5, password: "p") { id } }')
    ),
    "register-no-password": Case(A, gql('mutation { registerUser(username: "zed") { id } }')),
    "register-null-password": Case(
        A, gql('mutation { registerUser(username: "zed", password: null) { id } }')
    ),
    "login-wrong-password": Case(
        A, gql('mutation { login(username: "alice", password: "x") { token } }')
    ),
    "login-unknown-user": Case(
        A, gql('mutation { login(username: "nobody", password: "x") { token } }')
    ),
    "login-long-password": Case(
        A,
        gql(
            'mutation($p: String!) { login(username: "alice", password: $p) { token } }',
            {"p": "p" * 100000},
        ),
    ),
    "logout-anonymous": Case(A, gql("mutation { logout }")),
    "create-workflow-anonymous": Case(A, gql('mutation { createWorkflow(name: "w2") { id } }')),
    "create-workflow-empty-name": Case(M, gql('mutation { createWorkflow(name: "") { id } }')),
    "create-workflow-duplicate": Case(
        M, gql('mutation { createWorkflow(name: "benchmark") { id } }')
    ),
    "create-workflow-name-list": Case(M, gql('mutation { createWorkflow(name: ["a"]) { id } }')),
    "create-workflow-bad-identifier": Case(
        M, gql('mutation { createWorkflow(name: "w3", identifier: "not ok!") { id } }')
    ),
    "create-workflow-bad-parameters": Case(
        M, gql('mutation { createWorkflow(name: "w4", parameters: 5) { id } }')
    ),
    "create-group-anonymous": Case(A, create_group()),
    "create-group-unknown-workflow": Case(
        M, gql('mutation { createGroup(workflowId: "nope", name: "g") { id } }')
    ),
    "create-group-empty-name": Case(M, create_group("")),
    "create-group-blank-name": Case(M, create_group("   ")),
    "create-group-long-name": Case(M, create_group("n" * 513)),
    "create-group-duplicate-name": Case(M, create_group("team-a")),
    "create-group-name-number": Case(M, create_group(5)),
    "create-group-name-null": Case(M, create_group(None)),
    "create-group-unknown-member": Case(M, create_group(m=["nope"])),
    "create-group-members-string": Case(M, create_group(m="nope")),
    "create-group-bad-identifier": Case(M, create_group(i="not ok!")),
    "create-group-long-identifier": Case(M, create_group(i="a" * 33)),
    "create-group-parameters-number": Case(M, create_group(p=5)),
    "create-group-parameters-strings": Case(M, create_group(p=["a", "b"])),
    "create-group-parameter-no-name": Case(M, create_group(p=[{"dtype": "string"}])),
    "create-group-parameter-bad-dtype": Case(
        M, create_group(p=[{"name": "a", "dtype": "nope", "index": 0}])
    ),
    "create-group-parameter-deep-record": Case(M, create_group(p=deep(70, {"name": "r"}))),
    "create-group-spec-deep": Case(M, create_group(s=deep(70))),
    "update-group-anonymous": Case(
        A, gql('mutation { updateGroup(id: "{group}", name: "x") { id } }')
    ),
    "update-group-outsider": Case(
        O, gql('mutation { updateGroup(id: "{group}", name: "x") { id } }')
    ),
    "update-group-unknown": Case(M, gql('mutation { updateGroup(id: "nope", name: "x") { id } }')),
    "update-group-empty-name": Case(
        M, gql('mutation { updateGroup(id: "{group}", name: "") { id } }')
    ),
    "update-group-long-name": Case(
        M,
        gql(
            'mutation($n: String) { updateGroup(id: "{group}", name: $n) { id } }', {"n": "n" * 513}
        ),
    ),
    "update-group-unknown-member": Case(
        M, gql('mutation { updateGroup(id: "{group}", members: ["nope"]) { id } }')
    ),
    "update-group-members-number": Case(
        M, gql('mutation { updateGroup(id: "{group}", members: 5.5) { id } }')
    ),
    "delete-group-anonymous": Case(A, gql('mutation { deleteGroup(id: "{group}") }')),
    "delete-group-outsider": Case(O, gql('mutation { deleteGroup(id: "{group}") }')),
    "delete-group-unknown": Case(M, gql('mutation { deleteGroup(id: "nope") }')),
    "delete-group-id-missing": Case(M, gql("mutation { deleteGroup }")),
    "delete-file-anonymous": Case(
        A, gql('mutation { deleteFile(groupId: "{group}", fileId: "{file}") }')
    ),
    "delete-file-outsider": Case(
        O, gql('mutation { deleteFile(groupId: "{group}", fileId: "{file}") }')
    ),
    "delete-file-unknown": Case(
        M, gql('mutation { deleteFile(groupId: "{group}", fileId: "nope") }')
    ),
    "delete-file-of-other-group": Case(
        M, gql('mutation { deleteFile(groupId: "{group}", fileId: "{other_file}") }')
    ),
    "delete-file-unknown-group": Case(
        M, gql('mutation { deleteFile(groupId: "nope", fileId: "{file}") }')
    ),
    "upload-literal-member": Case(
        M, gql('mutation { uploadFile(groupId: "{group}", file: "x") { id } }')
    ),
    "upload-literal-outsider": Case(
        O, gql('mutation { uploadFile(groupId: "{group}", file: "x") { id } }')
    ),
    "upload-string-variable": Case(
        M,
        gql(
            'mutation($f: Upload!) { uploadFile(groupId: "{group}", file: $f) { id } }', {"f": "x"}
        ),
    ),
    "upload-object-variable": Case(
        M,
        gql(
            'mutation($f: Upload!) { uploadFile(groupId: "{group}", file: $f) { id } }',
            {"f": {"a": 1}},
        ),
    ),
    "upload-null-variable": Case(
        M,
        gql(
            'mutation($f: Upload!) { uploadFile(groupId: "{group}", file: $f) { id } }', {"f": None}
        ),
    ),
    # --- multipart
    "multipart-no-preflight": Case(M, multipart(headers={})),
    "multipart-anonymous": Case(A, multipart()),
    "multipart-outsider": Case(O, multipart()),
    "multipart-unknown-group": Case(
        M,
        multipart(
            operations={
                "query": UPLOAD.replace("{{", "{").replace("}}", "}"),
                "variables": {"g": "nope", "f": None},
            }
        ),
    ),
    "multipart-bad-name": Case(M, multipart(name="../etc/passwd")),
    "multipart-blank-name": Case(M, multipart(name="   ")),
    "multipart-operations-number": Case(M, multipart(operations="5")),
    "multipart-operations-not-json": Case(M, multipart(operations="{")),
    "multipart-operations-list": Case(M, multipart(operations="[]")),
    "multipart-operations-null": Case(M, multipart(operations="null")),
    "multipart-operations-invalid-utf8": Case(
        M, multipart(operations=b'{"query": "\xff"}'.decode("latin-1"))
    ),
    "multipart-operations-deep": Case(
        M,
        multipart(
            operations='{"query": "{ me { id } }", '
            '"variables": {"a": ' + "[" * 1200 + "]" * 1200 + "}}"
        ),
    ),
    "multipart-operations-surrogate": Case(
        M, multipart(operations='{"query": "{ me { id } }", "variables": {"a": "\\ud800"}}')
    ),
    "multipart-map-number": Case(M, multipart(files_map="5")),
    "multipart-map-not-json": Case(M, multipart(files_map="{")),
    "multipart-map-value-string": Case(M, multipart(files_map={"0": "variables.f"})),
    "multipart-map-value-ints": Case(M, multipart(files_map={"0": [5]})),
    "multipart-map-value-null": Case(M, multipart(files_map={"0": None})),
    "multipart-map-missing-file": Case(M, multipart(files_map={"1": ["variables.f"]})),
    "multipart-map-unknown-variable": Case(M, multipart(files_map={"0": ["variables.nope.x"]})),
    "multipart-map-into-string": Case(M, multipart(files_map={"0": ["query.x"]})),
    "multipart-map-bad-index": Case(M, multipart(files_map={"0": ["variables.f.5"]})),
    "multipart-map-empty-path": Case(M, multipart(files_map={"0": [""]})),
    "multipart-no-file-mapped": Case(M, multipart(files_map={}, files={})),
    "multipart-too-many-files": Case(
        M, multipart(files={str(i): ("a.txt", b"a") for i in range(12)})
    ),
    "multipart-filename-star-surrogate": Case(M, multipart_raw(b"filename*=UTF-8''%ED%A0%80")),
    "multipart-filename-star-nul": Case(M, multipart_raw(b"filename*=UTF-8''a%00b")),
    "multipart-filename-empty": Case(M, multipart_raw(b'filename=""')),
    "multipart-filename-dotdot": Case(M, multipart_raw(b'filename=".."')),
    "multipart-garbage-body": Case(
        M,
        http(
            "POST",
            "/graphql",
            {"Content-Type": "multipart/form-data; boundary=xyz", **PREFLIGHT},
            content=b"--xyz\r\nnot a header\r\n\r\n--xyz--\r\n",
        ),
    ),
    "multipart-body-too-large": Case(
        M,
        http(
            "POST",
            "/graphql",
            {"Content-Type": "application/json", "Content-Length": str(10**12)},
            content=b"{}",
        ),
    ),
    # --- HTTP: methods, routes, headers
    "graphql-put": Case(A, http("PUT", "/graphql")),
    "graphql-delete": Case(A, http("DELETE", "/graphql")),
    "graphql-patch": Case(A, http("PATCH", "/graphql")),
    "graphql-get-query": Case(A, http("GET", "/graphql?query=%7B__typename%7D")),
    "graphql-get-mutation": Case(A, http("GET", "/graphql?query=mutation%7Blogout%7D")),
    "files-post": Case(M, http("POST", "/files/{group}/{file}")),
    "files-delete": Case(M, http("DELETE", "/files/{group}/{file}")),
    "healthz-post": Case(A, http("POST", "/healthz")),
    "unknown-route": Case(A, http("GET", "/nope")),
    "unknown-route-deep": Case(A, http("GET", "/files/a/b/c")),
    "auth-basic": Case(
        A,
        http(
            "POST",
            "/graphql",
            {"Authorization": "Basic eDp5", **JSON},
            content=b'{"query": "{ me { id } }"}',
        ),
    ),
    "auth-bearer-empty": Case(
        A,
        http(
            "POST",
            "/graphql",
            {"Authorization": "Bearer ", **JSON},
            content=b'{"query": "{ me { id } }"}',
        ),
    ),
    "auth-bearer-unknown": Case(
        A,
        http(
            "POST",
            "/graphql",
            {"Authorization": "Bearer nope", **JSON},
            content=b'{"query": "{ me { id } }"}',
        ),
    ),
    "auth-bearer-latin1": Case(
        A,
        http(
            "POST",
            "/graphql",
            {"Authorization": b"Bearer caf\xe9", **JSON},
            content=b'{"query": "{ me { id } }"}',
        ),
    ),
    "auth-bearer-huge": Case(
        A,
        http(
            "POST",
            "/graphql",
            {"Authorization": "Bearer " + "x" * 8000, **JSON},
            content=b'{"query": "{ me { id } }"}',
        ),
    ),
    # --- downloads
    "download-anonymous": Case(A, download()),
    "download-outsider": Case(O, download()),
    "download-unknown-group": Case(M, download(group="nope")),
    "download-unknown-file": Case(M, download(file="nope")),
    "download-file-of-other-group": Case(M, download(file="{other_file}")),
    "download-other-group": Case(M, download(group="{other_group}", file="{other_file}")),
    "download-bad-token": Case(A, download(headers={"Authorization": "Bearer nope"})),
    "download-surrogate-path": Case(M, http("GET", "/files/%ED%A0%80/{file}")),
    "download-nul-path": Case(M, download(group="%00")),
    "download-range-past-end": Case(M, download("bytes=100-")),
    "download-range-huge-start": Case(M, download("bytes=" + "9" * 5000 + "-")),
    "download-range-huge-both": Case(M, download("bytes=" + "9" * 5000 + "-" + "9" * 5001)),
    "download-range-zero-suffix": Case(M, download("bytes=-0")),
    "download-range-huge-start-small-end": Case(M, download("bytes=" + "9" * 30 + "-")),
    "download-range-8000-zeros": Case(M, download("bytes=" + "0" * 8000 + "-1")),
    "download-range-100000-zeros": Case(M, download("bytes=" + "0" * 100_000 + "-1")),
    "download-range-end-of-8000-digits": Case(M, download("bytes=0-" + "9" * 8000)),
    "download-range-suffix-of-100000-digits": Case(M, download("bytes=-" + "9" * 100_000)),
}


@pytest.fixture
def ids(
    store: GroupStore, group: Group, uploaded: UploadedFile, workflow: Workflow, outsider_token: str
) -> Ids:
    bob = store.users.authenticate(outsider_token)
    other = store.groups.create_group(workflow.workflow_id, "team-b", [], {}, user_id=bob.user_id)
    other_file = store.groups.upload_file(other.group_id, b"bob's", "bob.txt")
    return Ids(
        group.group_id, uploaded.file_id, workflow.workflow_id, other.group_id, other_file.file_id
    )


def snapshot(store: GroupStore) -> dict[str, Any]:
    """Everything a bad request could have changed, read through the public API."""
    groups = store.groups.list_groups()
    return {
        "users": sorted((u.user_id, u.username, u.active) for u in store.users.list_users()),
        "workflows": sorted(
            (w.workflow_id, w.name, json.dumps(w.workflow_spec, sort_keys=True))
            for w in store.workflows.list_workflows()
        ),
        "groups": [
            (
                g.group_id,
                g.name,
                g.workflow_id,
                sorted(map(str, g.members)),
                json.dumps(g.workflow_spec, sort_keys=True),
                g.updated_at,
            )
            for g in groups
        ],
        "files": {
            g.group_id: [
                (f.file_id, f.name, f.size, f.sha256)
                for f in store.groups.list_uploaded_files(g.group_id)
            ]
            for g in groups
        },
    }


def assert_coded_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.status_code in (200,) or 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    payload = response.json()
    errors = payload.get("errors")
    assert errors, payload
    codes = [error.get("extensions", {}).get("code") for error in errors]
    assert all(codes) and "INTERNAL" not in codes, payload


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_is_a_coded_error_and_changes_nothing(
    name: str,
    make_app: Callable[..., Any],
    store: GroupStore,
    ids: Ids,
    token_of: Callable[[str], str | None],
) -> None:
    case = CASES[name]
    request = case.build(ids)
    headers = {**bearer(token_of(case.role)), **request.pop("headers", {})}
    before = snapshot(store)
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.request(headers=headers, **request)

    assert_coded_error(response)
    assert snapshot(store) == before


def test_the_battery_has_at_least_150_cases() -> None:
    assert len(CASES) >= 150
