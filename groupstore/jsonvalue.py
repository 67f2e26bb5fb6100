"""Checks that a value is plain JSON that MongoDB can store.

User-supplied values (parameter defaults, select options, workflow specs, engine
configs) are stored as they are, so they must survive a trip through both JSON and
BSON unchanged. ``check_json`` accepts exactly:

* ``dict`` with ``str`` keys (``'.'``, a leading ``'$'`` and any Unicode are fine:
  MongoDB 5+ stores them), ``list``, ``str``, ``bool`` and ``None``;
* ``int`` in the signed 64-bit range (BSON has no bigger integer);
* finite ``float`` (JSON has no NaN or infinity);
* at most ``MAX_DEPTH`` levels of nested containers.

Tuples, sets, bytes and any other type are rejected: they either do not round-trip
(a tuple comes back as a list) or cannot be stored at all. Strings that are not
valid UTF-8 (lone surrogates) and keys containing NUL are rejected too, because
BSON cannot encode them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from groupstore.errors import ConstraintViolationError

__all__ = ["MAX_DEPTH", "check_json"]

MAX_DEPTH = 100
"""The deepest nesting of dicts and lists accepted; deeper values are rejected."""

# Membership of an int in a range is O(1); BSON stores at most a signed 64-bit int.
_INT64 = range(-(2**63), 2**63)


class _Invalid(Exception):
    """Internal: carries the reason and, innermost first, the path to the bad value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str | int] = []


def check_json(value: object, what: str) -> None:
    """Check that ``value`` is JSON-compatible and storable in MongoDB.

    Args:
        value: The value to check.
        what: Names the value in the error message, e.g. ``"workflow_spec"``.

    Raises:
        ConstraintViolationError: ``"<what> is not JSON-compatible: <reason> at <path>"``,
            where the path is JSONPath-like: ``$``, ``$.a[2]``, ``$["a.b"]``.
    """
    try:
        _check(value, 0)
    except _Invalid as exc:
        path = _format_path(reversed(exc.path))
        message = f"{what} is not JSON-compatible: {exc.reason} at {path}"
        raise ConstraintViolationError(message) from None


def _check(value: object, depth: int) -> None:
    # The path is built only on failure (each frame adds its step while the error
    # propagates), so checking a large valid document allocates nothing.
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_str(value)
    elif isinstance(value, int):
        if value not in _INT64:
            raise _Invalid("integer out of the signed 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid(f"non-finite float {value!r}")
    elif isinstance(value, dict):
        # Also stops runaway recursion on self-referencing containers.
        if depth >= MAX_DEPTH:
            raise _Invalid(f"nesting deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(f"dict key of type '{type(key).__name__}' is not a str")
            if "\x00" in key:
                raise _Invalid("dict key contains a NUL character")
            try:
                _check_str(key)
                _check(item, depth + 1)
            except _Invalid as exc:
                exc.path.append(key)
                raise
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise _Invalid(f"nesting deeper than {MAX_DEPTH} levels")
        for index, item in enumerate(value):
            try:
                _check(item, depth + 1)
            except _Invalid as exc:
                exc.path.append(index)
                raise
    else:
        raise _Invalid(f"unsupported type '{type(value).__name__}'")


def _check_str(value: str) -> None:
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid("string is not valid UTF-8 (lone surrogate)") from None


def _format_path(steps: Iterable[str | int]) -> str:
    parts = ["$"]
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            parts.append(f"[{json.dumps(step, ensure_ascii=False)}]")
    return "".join(parts)
