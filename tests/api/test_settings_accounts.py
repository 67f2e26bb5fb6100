"""Account settings: read from GROUPSTORE_*, checked at start-up, turned into the library's
policy and token sender, and documented."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

import groupstore
from graphql_api.settings import Settings, SettingsError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_account_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "GROUPSTORE_OPEN_REGISTRATION": "false",
            "GROUPSTORE_REQUIRE_VERIFICATION": "yes",
            "GROUPSTORE_PASSWORD_MIN_LENGTH": "12",
            "GROUPSTORE_ARGON2_TIME_COST": "2",
            "GROUPSTORE_ARGON2_MEMORY_KIB": "19456",
            "GROUPSTORE_ARGON2_PARALLELISM": "1",
            "GROUPSTORE_HASH_CONCURRENCY": "4",
            "GROUPSTORE_HASH_WAIT_SECONDS": "2.5",
            "GROUPSTORE_LOGIN_FAILURES_PER_USER": "5",
            "GROUPSTORE_LOGIN_FAILURES_PER_ADDRESS": "0",
            "GROUPSTORE_LOGIN_FAILURE_WINDOW_SECONDS": "300",
            "GROUPSTORE_RESET_REQUESTS_PER_USER": "3",
            "GROUPSTORE_RESET_REQUESTS_PER_ADDRESS": "30",
            "GROUPSTORE_RESET_REQUEST_WINDOW_SECONDS": "600",
            "GROUPSTORE_REGISTRATIONS_PER_ADDRESS": "0",
            "GROUPSTORE_REGISTRATIONS_TOTAL": "1000",
            "GROUPSTORE_REGISTRATION_WINDOW_SECONDS": "120",
            "GROUPSTORE_ACTIVATION_TOKEN_TTL_SECONDS": "600",
            "GROUPSTORE_RESET_TOKEN_TTL_SECONDS": "900",
            "GROUPSTORE_SMTP_HOST": "mail.example.org",
            "GROUPSTORE_SMTP_PORT": "465",
            "GROUPSTORE_SMTP_FROM": "noreply@example.org",
            "GROUPSTORE_SMTP_USERNAME": "relay",
            "GROUPSTORE_SMTP_PASSWORD": " secret ",
            "GROUPSTORE_SMTP_TLS": "SSL",
        }
    )

    policy = settings.account_policy()
    assert not settings.open_registration and settings.require_verification
    assert policy == groupstore.AccountPolicy(
        password_min_length=12,
        argon2=groupstore.Argon2Parameters(time_cost=2, memory_kib=19456, parallelism=1),
        hash_concurrency=4,
        hash_wait_seconds=2.5,
        login_failures_per_user=5,
        login_failures_per_address=0,
        login_failure_window=timedelta(minutes=5),
        reset_requests_per_user=3,
        reset_requests_per_address=30,
        reset_request_window=timedelta(minutes=10),
        registrations_per_address=0,
        registrations_total=1000,
        registration_window=timedelta(minutes=2),
        activation_token_ttl=timedelta(minutes=10),
        reset_token_ttl=timedelta(minutes=15),
        open_registration=False,
    )
    assert policy.memory_ceiling_bytes == 4 * 19456 * 1024
    assert settings.token_sender() == groupstore.SmtpSender(
        host="mail.example.org",
        port=465,
        sender="noreply@example.org",
        username="relay",
        password=" secret ",
        tls="ssl",
    )


def test_without_an_smtp_host_tokens_go_to_the_log() -> None:
    assert isinstance(Settings().token_sender(), groupstore.LogSender)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PASSWORD_MIN_LENGTH", "0", "at least 1"),
        ("HASH_CONCURRENCY", "0", "at least 1"),
        ("HASH_WAIT_SECONDS", "soon", "must be a number"),
        ("HASH_WAIT_SECONDS", "nan", "must be a number"),
        ("ARGON2_MEMORY_KIB", "16", "at least 8 x GROUPSTORE_ARGON2_PARALLELISM"),
        ("LOGIN_FAILURES_PER_USER", "-1", "must not be negative"),
        ("LOGIN_FAILURE_WINDOW_SECONDS", "0", "at least 1"),
        ("REGISTRATIONS_TOTAL", "-1", "must not be negative"),
        ("RESET_REQUEST_WINDOW_SECONDS", "0", "at least 1"),
        ("OPEN_REGISTRATION", "perhaps", "true or false"),
        ("SMTP_TLS", "tls1.3", "must be one of"),
        ("SMTP_PORT", "0", "between 1 and 65535"),
    ],
)
def test_an_invalid_account_setting_is_a_clear_error(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"GROUPSTORE_{name}.*{message}"):
        Settings.from_env({f"GROUPSTORE_{name}": value})


# Read by the library (groupstore.connect, the local store), not by Settings.
LIBRARY_VARIABLES = {"ADMINS", "FIRST_USER_ADMIN", "DATA_DIR", "FERRETDB_BIN"}


def _documented() -> dict[str, str]:
    """docs/settings.md's table: variable name -> its Default cell."""
    rows: dict[str, str] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `GROUPSTORE_") and len(cells) >= 3:
            for name in re.findall(r"`GROUPSTORE_(\w+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_docs_list_exactly_the_settings_with_their_defaults() -> None:
    documented = _documented()
    settings = {f.name.upper(): f.default for f in fields(Settings)}
    assert set(documented) == set(settings) | LIBRARY_VARIABLES
    wrong = {
        name: documented[name]
        for name, default in settings.items()
        if (default not in (None, ()) and not documented[name].startswith(f"`{_shown(default)}`"))
        or (default in (None, ()) and documented[name].startswith("`"))
    }
    assert wrong == {}
