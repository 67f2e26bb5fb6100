"""Wiring: lifespan, health routes, GraphiQL, CORS, the command line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import uvicorn

from graphql_api import __main__ as cli
from graphql_api.app import create_app
from graphql_api.settings import ENV_PREFIX, Settings
from groupstore import GroupStore

from .conftest import BASE_URL, TestClient, error_code


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GROUPSTORE_* variable: the defaults (in-memory store)."""
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def test_the_lifespan_opens_an_in_memory_store_and_warns_about_it(
    clean_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app()
    with caplog.at_level(logging.WARNING, logger="graphql_api"), TestClient(app) as client:
        ready = client.get("/readyz")
        registered = client.post(
            "/graphql",
            json={"query": 'mutation { registerUser(username: "u", password: "u-passwd") { id } }'},
        )

    assert ready.status_code == 200
    assert registered.json()["data"]["registerUser"]["id"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("in this process's memory only" in message for message in warnings)


def test_the_lifespan_closes_the_store_at_shutdown(clean_env: None) -> None:
    app = create_app()
    with TestClient(app):
        store = app.state.store
        assert isinstance(store, GroupStore)

    assert app.state.store is None


def test_an_injected_store_is_neither_replaced_nor_closed(store: GroupStore) -> None:
    app = create_app(store=store, settings=Settings())
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200

    # The app observes the store's calls through a wrapper (graphql_api/observability.py).
    assert getattr(app.state.store, "inner", None) is store
    store.users.list_users()  # still open


def test_healthz_answers_without_the_database(make_app: Callable[..., Any]) -> None:
    app = create_app(settings=Settings())  # no store, no lifespan: the database is not there

    response = TestClient(app).get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_when_the_database_does_not_answer(
    store: GroupStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DeadClient:
        class admin:  # mimics MongoClient.admin
            @staticmethod
            def command(name: str) -> None:
                raise ConnectionError("no server")

    monkeypatch.setattr(store, "client", DeadClient())
    app = create_app(store=store, settings=Settings())

    response = TestClient(app).get("/readyz")

    assert response.status_code == 503
    assert error_code(response.json()) == "STORE_UNAVAILABLE"


def test_readyz_is_503_before_the_store_is_opened() -> None:
    response = TestClient(create_app(settings=Settings())).get("/readyz")

    assert response.status_code == 503


def test_graphiql_is_served_from_local_assets(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app(), base_url=BASE_URL)

    page = client.get("/graphql", headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "unpkg.com" not in page.text and "/static/graphiql/" in page.text


def test_graphiql_can_be_disabled(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app(graphiql=False), base_url=BASE_URL)

    page = client.get("/graphql", headers={"Accept": "text/html"})

    assert page.status_code == 404
    assert error_code(page.json()) == "NOT_FOUND"


def test_cors_is_off_by_default(make_app: Callable[..., Any]) -> None:
    client = TestClient(make_app(), base_url=BASE_URL)

    response = client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://app.example"}
    )

    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_the_configured_origins_and_the_preflight_header(
    make_app: Callable[..., Any],
) -> None:
    client = TestClient(make_app(cors_origins=("https://app.example",)), base_url=BASE_URL)
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, graphql-require-preflight",
    }

    allowed = client.options("/graphql", headers={"Origin": "https://app.example", **preflight})
    foreign = client.options("/graphql", headers={"Origin": "https://evil.example", **preflight})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert foreign.status_code == 400


def test_main_runs_uvicorn_with_the_app_factory(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("GROUPSTORE_HOST", "0.0.0.0")
    monkeypatch.setenv("GROUPSTORE_PORT", "9123")

    cli.main([])

    [(app, options)] = calls
    assert app == "graphql_api.app:create_app"
    assert options["factory"] is True
    assert (options["host"], options["port"]) == ("0.0.0.0", 9123)


def test_main_stops_on_an_invalid_setting(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROUPSTORE_PORT", "eighty")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("must not start"))

    with pytest.raises(SystemExit) as exit_info:
        cli.main([])

    assert exit_info.value.code == 2
    assert "GROUPSTORE_PORT must be an integer" in capsys.readouterr().err


def test_main_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["--print-schema"])

    assert "type Query {" in capsys.readouterr().out


@pytest.mark.anyio
async def test_the_app_is_stateless_between_instances(
    make_app: Callable[..., Any], store: GroupStore
) -> None:
    """A key from one gateway process works on another: sessions live in MongoDB."""
    one, two = (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url=BASE_URL)
        for _ in range(2)
    )
    async with one, two:
        await one.post(
            "/graphql",
            json={"query": 'mutation { registerUser(username: "u", password: "u-passwd") { id } }'},
        )
        login = await one.post(
            "/graphql",
            json={"query": 'mutation { login(username: "u", password: "u-passwd") { token } }'},
        )
        token = login.json()["data"]["login"]["token"]
        me = await two.post(
            "/graphql",
            json={"query": "{ me { username } }"},
            headers={"Authorization": f"Bearer {token}"},
        )

    assert me.json() == {"data": {"me": {"username": "u"}}}
