"""Query limits in linear time: fragment bombs, depth, aliases, expanded size, caches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from graphql_api.limits import Limits, check_limits, measure_document

from .conftest import Api, error_code

pytestmark = pytest.mark.anyio


def bomb(levels: int, spreads: int = 3) -> str:
    """``fragment F0 { ...F1 ...F1 ...F1 }`` ... ``levels`` deep: 3^levels fields expanded."""
    parts = ["query { ...F0 }"]
    for i in range(levels):
        parts.append(f"fragment F{i} on Query {{ {f'...F{i + 1} ' * spreads}}}")
    parts.append(f"fragment F{levels} on Query {{ me {{ id }} }}")
    return " ".join(parts)


async def _post(app: Any, query: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        return await Api(client)(query)


@pytest.mark.parametrize("levels", [13, 150])
async def test_a_fragment_bomb_is_refused_before_execution(api: Api, levels: int) -> None:
    query = bomb(levels)

    body = await api(query)

    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"
    assert "fragments are expanded" in body["errors"][0]["message"]


def test_the_measure_of_a_fragment_bomb_is_its_expanded_size() -> None:
    measure = measure_document(parse(bomb(150)))

    assert measure.fields == 10**9  # capped: 3^150 * 2 fields
    assert measure_document(parse(bomb(5))).fields == 2 * 3**5
    assert measure_document(parse(bomb(5))).depth == 1


def test_depth_aliases_and_fields_are_counted_through_fragments() -> None:
    document = parse(
        "query { a: groups { nodes { ...G } } } "
        "fragment G on Group { b: owner { id } members { ... on User { c: id } } }"
    )

    measure = measure_document(document)

    assert (measure.depth, measure.aliases, measure.fields) == (3, 3, 6)


def test_introspection_fields_do_not_count_for_depth() -> None:
    measure = measure_document(parse(get_introspection_query()))

    assert measure.depth == 0
    assert measure.fields < 1000  # GraphiQL's query fits the default size limit


def test_a_fragment_cycle_is_an_error_not_a_hang() -> None:
    document = parse("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")

    _, errors = check_limits(document, Limits(10, 10, 10))

    assert [error.message for error in errors] == ["Cannot spread fragment 'A' within itself."]


async def test_a_document_over_the_size_limit_is_refused(make_app: Callable[..., Any]) -> None:
    app = make_app(max_query_fields=3)

    small = await _post(app, "{ __typename a: __typename b: __typename }")
    big = await _post(app, "{ __typename a: __typename b: __typename c: __typename }")

    assert small == {"data": {"__typename": "Query", "a": "Query", "b": "Query"}}
    assert error_code(big) == "GRAPHQL_VALIDATION_FAILED"


async def test_aliases_spread_through_fragments_count(make_app: Callable[..., Any]) -> None:
    query = "{ ...F ...F } fragment F on Query { a: __typename b: __typename }"

    body = await _post(make_app(max_aliases=3), query)

    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"
    assert "aliases" in body["errors"][0]["message"]


async def test_brackets_nested_too_deep_are_a_parse_error(api: Api) -> None:
    body = await api("{ me(x: " + "[" * 70 + "]" * 70 + ") { id } }")

    assert error_code(body) == "GRAPHQL_PARSE_FAILED"


async def test_two_operations_without_an_operation_name_are_refused(
    api: Api, member_token: str
) -> None:
    body = await api("query A { me { id } } mutation B { logout }", token=member_token)
    chosen = await api("query A { me { username } } mutation B { logout }", token=member_token)

    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"
    assert body.get("data") is None
    assert error_code(chosen) == "GRAPHQL_VALIDATION_FAILED"


async def test_an_operation_name_picks_one_of_several(api: Api, member_token: str) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "query A { me { username } } query B { __typename }", "operationName": "A"},
        headers={"Authorization": f"Bearer {member_token}"},
    )

    assert response.json() == {"data": {"me": {"username": "alice"}}}


async def test_a_repeated_document_is_answered_from_the_cache_the_same(api: Api) -> None:
    first = await api("{ nope }")
    second = await api("{ nope }")
    valid = [await api("{ __typename }") for _ in range(2)]

    assert first == second and error_code(first) == "GRAPHQL_VALIDATION_FAILED"
    assert valid == [{"data": {"__typename": "Query"}}] * 2


async def test_a_large_valid_document_is_validated_and_runs(api: Api) -> None:
    query = (
        "{ " + " ".join(f"f{i}: __typename" for i in range(15)) + " " + "__typename " * 300 + "}"
    )

    body = await api(query)

    assert body["data"]["f0"] == "Query"
