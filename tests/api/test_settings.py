"""Settings come from GROUPSTORE_* variables; bad values stop the start with a clear error."""

from __future__ import annotations

import pytest

from graphql_api.settings import Settings, SettingsError


def test_defaults_suit_local_development() -> None:
    settings = Settings.from_env({})

    assert settings == Settings()
    assert settings.mongo_uri == "mongomock://" and settings.in_memory
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_upload_bytes == 1024**3
    assert settings.graphiql and settings.introspection
    assert settings.cors_origins == ()


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "GROUPSTORE_MONGO_URI": "mongodb://db:27017",
            "GROUPSTORE_DATABASE": "groups",
            "GROUPSTORE_HOST": "0.0.0.0",
            "GROUPSTORE_PORT": "9000",
            "GROUPSTORE_MAX_UPLOAD_BYTES": "1048576",
            "GROUPSTORE_TOKEN_TTL_SECONDS": "3600",
            "GROUPSTORE_GRAPHIQL": "off",
            "GROUPSTORE_INTROSPECTION": "False",
            "GROUPSTORE_CORS_ORIGINS": "https://a.example, https://b.example/",
            "GROUPSTORE_MAX_QUERY_DEPTH": "5",
            "GROUPSTORE_MAX_ALIASES": "3",
            "GROUPSTORE_MAX_TOKENS": "500",
            "GROUPSTORE_LOG_LEVEL": "debug",
        }
    )

    assert settings == Settings(
        mongo_uri="mongodb://db:27017",
        database="groups",
        host="0.0.0.0",
        port=9000,
        max_upload_bytes=1048576,
        token_ttl_seconds=3600,
        graphiql=False,
        introspection=False,
        cors_origins=("https://a.example", "https://b.example"),
        max_query_depth=5,
        max_aliases=3,
        max_tokens=500,
        log_level="DEBUG",
    )
    assert not settings.in_memory


def test_blank_variables_mean_the_default() -> None:
    assert Settings.from_env({"GROUPSTORE_PORT": " ", "GROUPSTORE_DATABASE": ""}) == Settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "GROUPSTORE_PORT must be an integer"),
        ("PORT", "70000", "GROUPSTORE_PORT must be between 1 and 65535"),
        ("MAX_UPLOAD_BYTES", "0", "GROUPSTORE_MAX_UPLOAD_BYTES must be at least 1"),
        ("TOKEN_TTL_SECONDS", "-5", "GROUPSTORE_TOKEN_TTL_SECONDS must be at least 1"),
        ("GRAPHIQL", "maybe", "GROUPSTORE_GRAPHIQL must be true or false"),
        ("CORS_ORIGINS", "app.example", "is not an origin"),
        ("MAX_QUERY_DEPTH", "0", "GROUPSTORE_MAX_QUERY_DEPTH must be at least 1"),
        ("LOG_LEVEL", "chatty", "GROUPSTORE_LOG_LEVEL must be one of"),
    ],
)
def test_an_invalid_value_is_a_clear_error(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({f"GROUPSTORE_{name}": value})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]
