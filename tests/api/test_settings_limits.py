"""The settings added for timeouts, connection bound, public URL and query size."""

from __future__ import annotations

import pytest

from graphql_api.__main__ import server_options
from graphql_api.settings import Settings, SettingsError
from graphql_api.timeouts import HeaderTimeoutH11Protocol


def test_the_new_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "GROUPSTORE_PUBLIC_URL": "https://groups.example.org",
            "GROUPSTORE_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2",
            "GROUPSTORE_HEADER_TIMEOUT_SECONDS": "2.5",
            "GROUPSTORE_BODY_TIMEOUT_SECONDS": "7",
            "GROUPSTORE_REQUEST_TIMEOUT_SECONDS": "60",
            "GROUPSTORE_KEEPALIVE_SECONDS": "3",
            "GROUPSTORE_MAX_CONNECTIONS": "50",
            "GROUPSTORE_MAX_QUERY_FIELDS": "400",
        }
    )

    assert settings.public_url == "https://groups.example.org"
    assert settings.trusted_proxies == ("10.0.0.1", "10.0.0.2")
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds) == (2.5, 7.0)
    assert (settings.request_timeout_seconds, settings.keepalive_seconds) == (60.0, 3.0)
    assert (settings.max_connections, settings.max_query_fields) == (50, 400)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PUBLIC_URL", "groups.example.org", "GROUPSTORE_PUBLIC_URL must be http"),
        ("PUBLIC_URL", "ftp://groups.example.org", "GROUPSTORE_PUBLIC_URL must be http"),
        ("PUBLIC_URL", "https://h.example/?q=1", "GROUPSTORE_PUBLIC_URL must be http"),
        ("HEADER_TIMEOUT_SECONDS", "0", "GROUPSTORE_HEADER_TIMEOUT_SECONDS must be between"),
        ("BODY_TIMEOUT_SECONDS", "soon", "GROUPSTORE_BODY_TIMEOUT_SECONDS must be a number"),
        ("REQUEST_TIMEOUT_SECONDS", "nan", "GROUPSTORE_REQUEST_TIMEOUT_SECONDS must be a number"),
        ("HEADER_TIMEOUT_SECONDS", "inf", "GROUPSTORE_HEADER_TIMEOUT_SECONDS must be between"),
        ("KEEPALIVE_SECONDS", "-1", "GROUPSTORE_KEEPALIVE_SECONDS must be between"),
        ("MAX_CONNECTIONS", "0", "GROUPSTORE_MAX_CONNECTIONS must be at least 1"),
        ("MAX_QUERY_FIELDS", "0", "GROUPSTORE_MAX_QUERY_FIELDS must be at least 1"),
    ],
)
def test_an_invalid_value_is_a_clear_error(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({f"GROUPSTORE_{name}": value})


def test_the_server_gets_the_timeouts_and_trusts_no_proxy_by_default() -> None:
    options = server_options(Settings(header_timeout_seconds=4, max_connections=7))

    assert issubclass(options["http"], HeaderTimeoutH11Protocol)
    assert options["http"].header_timeout == 4
    assert options["limit_concurrency"] == 7
    assert options["timeout_keep_alive"] == 5
    assert options["proxy_headers"] is False


def test_trusted_proxies_turn_on_forwarded_headers_for_them_only() -> None:
    options = server_options(Settings(trusted_proxies=("10.0.0.1",)))

    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.1"]
