"""Request ids, the access log line, Prometheus /metrics (graphql_api/observability.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graphql_api.observability import JsonFormatter, RequestRecord, request_id_from
from graphql_api.settings import Settings, SettingsError
from groupstore import Group, User
from tests.api.conftest import BASE_URL, bearer

pytestmark = pytest.mark.anyio

ME = "query Me { me { id username } }"
LOGIN = 'mutation { login(username: "alice", password: "alice-password") { token } }'


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "graphql_api.access"]  # type: ignore[attr-defined]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus exposition text as {(sample name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


# -- request ids and the access log line ------------------------------------------


async def test_a_request_id_is_made_and_echoed(make_app: Callable[..., Any]) -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/healthz")

    assert len(response.headers["x-request-id"]) == 32


async def test_the_clients_request_id_is_kept(make_app: Callable[..., Any]) -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/healthz", headers={"X-Request-ID": "abc-123.x:y_z"})

    assert response.headers["x-request-id"] == "abc-123.x:y_z"


def test_an_unsafe_request_id_is_replaced() -> None:
    assert request_id_from("a" * 129) != "a" * 129
    assert request_id_from("bad id\nwith newline") != "bad id\nwith newline"
    assert request_id_from("") != ""


async def test_one_access_line_per_request_with_its_fields(
    make_app: Callable[..., Any],
    member_token: str,
    alice: User,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client_for(make_app()) as client:
        with caplog.at_level(logging.INFO, logger="graphql_api.access"):
            response = await client.post(
                "/graphql",
                json={"query": ME, "operationName": "Me"},
                headers={**bearer(member_token), "X-Request-ID": "req-1"},
            )

    assert response.json()["data"]["me"]["username"] == "alice"
    [fields] = access_records(caplog)
    assert fields["request_id"] == "req-1"
    assert (fields["method"], fields["path"], fields["status"]) == ("POST", "/graphql", 200)
    assert (fields["operation"], fields["operation_name"]) == ("me", "Me")
    assert fields["user_id"] == alice.user_id
    assert fields["duration_ms"] >= 0
    assert fields["errors"] is None


async def test_the_access_line_names_error_codes_and_routes(
    make_app: Callable[..., Any], group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(make_app()) as client:
        with caplog.at_level(logging.INFO, logger="graphql_api.access"):
            await client.post("/graphql", json={"query": "{ workflows { id } }"})
            await client.get(f"/files/{group.group_id}/nope")
            await client.get("/nowhere")

    graphql, download, other = access_records(caplog)
    assert graphql["operation"] == "workflows" and graphql["errors"] == ["UNAUTHENTICATED"]
    assert graphql["user_id"] is None
    assert (download["operation"], download["status"]) == ("download", 401)
    assert (other["operation"], other["status"]) == ("other", 404)


async def test_the_operation_label_is_bounded_by_the_schema(
    make_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    queries = [
        "query AnyNameAtAll { __typename }",
        "{ noSuchField }",
        "{ me { id } workflows { id } }",
        "{ __schema { queryType { name } } }",
        "not graphql",
    ]
    async with client_for(make_app()) as client:
        with caplog.at_level(logging.INFO, logger="graphql_api.access"):
            for query in queries:
                await client.post("/graphql", json={"query": query})

    labels = [fields["operation"] for fields in access_records(caplog)]
    assert labels == ["invalid", "invalid", "multiple", "introspection", "invalid"]


async def test_no_token_or_password_reaches_the_logs(
    make_app: Callable[..., Any], alice: User, group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    formatter = JsonFormatter()
    async with client_for(make_app()) as client:
        with caplog.at_level(logging.DEBUG):
            login = await client.post("/graphql", json={"query": LOGIN})
            token = login.json()["data"]["login"]["token"]
            await client.post("/graphql", json={"query": ME}, headers=bearer(token))
            await client.get(f"/files/{group.group_id}/x?token={token}", headers=bearer(token))
            await client.post("/graphql", json={"query": ME}, headers=bearer(token + "x"))

    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(formatter.format(record) for record in server_side)
    assert len(access_records(caplog)) == 4
    assert token not in text and "alice-password" not in text


def test_the_json_formatter_writes_one_object_per_line_with_the_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "graphql_api.access",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "POST /graphql",
            "fields": {"request_id": "r1", "status": 200, "operation": "me", "user_id": None},
        }
    )

    line = JsonFormatter().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "r1" and entry["status"] == 200 and entry["operation"] == "me"
    assert entry["level"] == "INFO" and entry["logger"] == "graphql_api.access"
    assert "user_id" not in entry  # None fields are left out
    assert entry["time"].endswith("+00:00")


def test_request_record_defaults() -> None:
    record = RequestRecord("r", "GET", "/")
    assert record.error_codes == [] and record.user_id is None


# -- metrics ----------------------------------------------------------------------


async def test_metrics_are_off_by_default(make_app: Callable[..., Any]) -> None:
    async with client_for(make_app()) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_metrics_count_requests_library_calls_and_errors(
    make_app: Callable[..., Any], member_token: str, group: Group
) -> None:
    async with client_for(make_app(metrics=True)) as client:
        for _ in range(2):
            await client.post("/graphql", json={"query": ME}, headers=bearer(member_token))
        await client.post("/graphql", json={"query": '{ group(id: "nope") { id } }'},
                          headers=bearer(member_token))  # fmt: skip
        await client.post("/graphql", json={"query": ME}, headers=bearer("wrong"))
        await client.get("/healthz")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted(labels.items())))]

    assert value("groupstore_http_requests_total", operation="me", status="200") == 2
    assert value("groupstore_http_requests_total", operation="healthz", status="200") == 1
    assert value("groupstore_http_request_duration_seconds_count", operation="me") == 2
    calls = "groupstore_library_calls_total"
    assert value(calls, method="users.authenticate", outcome="ok") == 3
    assert value(calls, method="users.authenticate", outcome="UNAUTHENTICATED") == 1
    method = "users.authenticate"
    assert value("groupstore_library_call_duration_seconds_count", method=method) == 4
    assert value("groupstore_store_errors_total", code="UNKNOWN_GROUP") == 1
    assert value("groupstore_store_errors_total", code="UNAUTHENTICATED") == 1


async def test_metrics_scrape_names_no_user_or_token(
    make_app: Callable[..., Any], member_token: str, alice: User
) -> None:
    async with client_for(make_app(metrics=True)) as client:
        await client.post("/graphql", json={"query": ME}, headers=bearer(member_token))
        text = (await client.get("/metrics")).text

    assert member_token not in text and alice.user_id not in text and "alice" not in text


def test_log_format_and_metrics_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"GROUPSTORE_LOG_FORMAT": "JSON", "GROUPSTORE_METRICS": "1", "GROUPSTORE_OTEL": "no"}
    )
    assert (settings.log_format, settings.metrics, settings.otel) == ("json", True, False)
    with pytest.raises(SettingsError, match="GROUPSTORE_LOG_FORMAT"):
        Settings.from_env({"GROUPSTORE_LOG_FORMAT": "xml"})


def test_otel_without_the_extra_stops_with_a_clear_error(
    make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.asgi", None)

    with pytest.raises(SettingsError, match=r"groupstore\[otel\]"):
        make_app(otel=True)
