"""Strict decoding of request bodies: every malformed body is a BAD_REQUEST, never a 500.

The one place that decides what JSON the gateway accepts (``POST /graphql``
bodies and the multipart ``operations`` / ``map`` fields). On top of JSON's
own grammar it refuses, each as ``BadRequest``:

- bytes that are not UTF-8;
- values nested deeper than ``MAX_JSON_DEPTH`` (the library and GraphQL's
  value coercion recurse over them);
- integers longer than Python's int-conversion limit (4,300 digits);
- strings that are not valid Unicode (a lone surrogate such as ``"\\ud800"``):
  no driver can encode them, so they must not reach the store;
- a top level that is not what the caller expects (``expect_object``).

``check_files_map`` checks the multipart ``map`` field's shape (an object of
lists of strings) before Strawberry walks it.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from graphql_api.errors import BadRequest

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects in a request (GraphQL variables included)."""


def decode_json(data: str | bytes) -> object:
    """The JSON value of a request body or form field; BadRequest for anything malformed."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the request body is not valid UTF-8") from None
    try:
        value = json.loads(data)
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and int() over its digit limit
        raise BadRequest(f"the request body is not valid JSON: {_reason(exc)}") from None
    check_json_value(value)
    return value


def check_json_value(value: object, max_depth: int = MAX_JSON_DEPTH) -> None:
    """BadRequest if the value nests too deeply or holds a string that is not valid Unicode.

    Iterative, so no value can exhaust the stack here.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise BadRequest(f"JSON nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_string(key)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def expect_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, not {_json_type(value)}")
    return value


def check_files_map(files_map: object, file_fields: Collection[str]) -> dict[str, list[str]]:
    """The multipart ``map``, checked: an object whose values are lists of paths (strings)."""
    mapping = expect_object(files_map, "the multipart field 'map'")
    for name, paths in mapping.items():
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise BadRequest(f"'map' entry {name!r} must be a list of strings")
        if name not in file_fields:
            raise BadRequest(f"'map' names the file {name!r}, which the request does not carry")
    return mapping


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "the request holds a string that is not valid Unicode (a lone surrogate)"
        ) from None


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    return "a number is too long"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(
        type(value), "an array"
    )
