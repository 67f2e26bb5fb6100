"""Property-based requests from the schema (schemathesis) against a running gateway.

Schemathesis reads the schema by introspection from a real uvicorn server on
loopback and generates queries and mutations (valid documents with generated
arguments) for every operation. Bounded and deterministic: a fixed number of
examples per operation, derandomized. Whatever it sends, the gateway must not
answer 5xx nor an INTERNAL error.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given

from groupstore import Group, GroupStore

from .conftest import bearer
from .live import live_server

EXAMPLES_PER_OPERATION = 25


def check_response(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    payload = response.json()
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code and code != "INTERNAL", payload


@pytest.mark.parametrize("role", ["anonymous", "member"])
def test_generated_requests_never_get_an_internal_error(
    store: GroupStore, group: Group, member_token: str, role: str
) -> None:
    headers = bearer(member_token if role == "member" else None)
    with live_server(store) as url:
        schema = schemathesis.graphql.from_url(f"{url}/graphql", timeout=10)
        # result.ok() raises for an operation schemathesis could not load (Err has no ok()).
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        calls: list[str] = []
        assert len(operations) >= 14  # every query and mutation of the contract
        for operation in operations:
            if operation.label.endswith(".uploadFile"):
                continue  # needs a multipart body: the bad-input battery covers it

            @given(case=operation.as_strategy())
            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                check_response(case.call(headers=headers, timeout=10))
                calls.append(case.operation.label)

            run()
    # Every operation but uploadFile was exercised (no strategy came up empty).
    assert len(set(calls)) == len(operations) - 1, sorted(set(calls))
