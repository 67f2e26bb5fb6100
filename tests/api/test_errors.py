"""Every client error carries extensions.code; unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from groupstore import GroupStore, GroupStoreError, StoreUnavailableError

from .conftest import Api, bearer, error_code

pytestmark = pytest.mark.anyio


async def _post(app: Any, query: str, token: str | None = None) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        return await Api(client)(query, token=token)


async def test_a_syntax_error_is_graphql_parse_failed(api: Api) -> None:
    assert error_code(await api("{ me { id }")) == "GRAPHQL_PARSE_FAILED"


async def test_an_unknown_field_is_graphql_validation_failed(api: Api) -> None:
    assert error_code(await api("{ nope }")) == "GRAPHQL_VALIDATION_FAILED"


async def test_a_variable_of_the_wrong_type_is_bad_user_input(api: Api, member_token: str) -> None:
    body = await api(
        "query($f: Int!) { groups(first: $f) { nodes { id } } }", {"f": "ten"}, member_token
    )

    assert error_code(body) == "BAD_USER_INPUT"


async def test_a_query_deeper_than_the_limit_is_refused(
    make_app: Callable[..., Any], member_token: str
) -> None:
    app = make_app(max_query_depth=2)

    shallow = await _post(app, "{ groups { nodes { id } } }", member_token)
    deep = await _post(app, "{ groups { nodes { owner { id } } } }", member_token)

    assert "errors" not in shallow
    assert error_code(deep) == "GRAPHQL_VALIDATION_FAILED"
    assert "depth" in deep["errors"][0]["message"]


async def test_more_aliases_than_the_limit_are_refused(make_app: Callable[..., Any]) -> None:
    body = await _post(make_app(max_aliases=2), "{ a: me { id } b: me { id } c: me { id } }")

    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"
    assert "aliases" in body["errors"][0]["message"]


async def test_more_tokens_than_the_limit_are_refused(make_app: Callable[..., Any]) -> None:
    body = await _post(make_app(max_tokens=5), "{ me { id username active createdAt } }")

    assert error_code(body) == "GRAPHQL_PARSE_FAILED"


async def test_introspection_can_be_disabled(make_app: Callable[..., Any]) -> None:
    app = make_app(introspection=False)

    schema = await _post(app, "{ __schema { queryType { name } } }")
    typename = await _post(app, "{ __typename }")

    assert {e["extensions"]["code"] for e in schema["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert typename == {"data": {"__typename": "Query"}}


async def test_introspection_is_on_by_default(api: Api) -> None:
    body = await api("{ __schema { queryType { name } } }")

    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_an_unexpected_exception_is_masked_and_logged_with_its_traceback(
    api: Api,
    store: GroupStore,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise RuntimeError("secret internals at mongodb://admin:pw@db")

    monkeypatch.setattr(store.workflows, "list_workflows", broken)

    with caplog.at_level(logging.ERROR, logger="graphql_api"):
        body = await api("{ workflows { id } }", token=member_token)

    assert body["errors"][0]["message"] == "Unexpected error."
    assert error_code(body) == "INTERNAL"
    assert "secret" not in str(body)
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)


async def test_a_generic_store_error_is_masked(
    api: Api, store: GroupStore, member_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise GroupStoreError("database error: something with host names")

    monkeypatch.setattr(store.workflows, "list_workflows", broken)

    body = await api("{ workflows { id } }", token=member_token)

    assert error_code(body) == "INTERNAL"
    assert "host" not in str(body)


async def test_an_unavailable_store_is_store_unavailable_without_driver_details(
    api: Api, store: GroupStore, member_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> None:
        raise StoreUnavailableError("the database is unavailable: db1:27017 timed out")

    monkeypatch.setattr(store.workflows, "list_workflows", down)

    body = await api("{ workflows { id } }", token=member_token)

    assert error_code(body) == "STORE_UNAVAILABLE"
    assert "27017" not in str(body)


async def test_client_errors_are_not_logged_as_errors(
    api: Api, member_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await api('{ group(id: "nope") { id } }', token=member_token)
        await api("{ nope }")

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_queries_over_get_are_refused_with_a_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ me { id } }"})

    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_REQUEST"


async def test_a_form_post_is_refused_with_a_code(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", data={"query": "{ me { id } }"})

    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_REQUEST"


async def test_invalid_json_is_refused_with_a_code(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_REQUEST"


async def test_an_unknown_route_is_404_with_a_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")

    assert response.status_code == 404
    assert error_code(response.json()) == "NOT_FOUND"


async def test_a_wrong_method_is_405_with_a_code(client: httpx.AsyncClient) -> None:
    response = await client.delete("/graphql", headers=bearer(None))

    assert response.status_code == 405
    assert error_code(response.json()) == "METHOD_NOT_ALLOWED"
