"""GROUPSTORE_STORE_TIMEOUT_SECONDS reaches connect(), and /readyz never hangs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import groupstore
from graphql_api.app import READY_TIMEOUT, create_app
from graphql_api.settings import Settings, SettingsError
from groupstore import GroupStore

from .conftest import TestClient, error_code


def test_the_store_timeout_defaults_to_the_librarys_and_is_read_from_the_environment() -> None:
    assert Settings().store_timeout_seconds == 5.0
    settings = Settings.from_env({"GROUPSTORE_STORE_TIMEOUT_SECONDS": "2.5"})
    assert settings.store_timeout_seconds == 2.5


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "601"])
def test_an_invalid_store_timeout_is_a_clear_error(value: str) -> None:
    with pytest.raises(SettingsError, match="GROUPSTORE_STORE_TIMEOUT_SECONDS"):
        Settings.from_env({"GROUPSTORE_STORE_TIMEOUT_SECONDS": value})


def test_the_lifespan_connects_with_the_store_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real_connect = groupstore.connect

    def connect(*args: Any, **kwargs: Any) -> GroupStore:
        seen.update(kwargs)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(groupstore, "connect", connect)  # the app calls groupstore.connect
    app = create_app(settings=Settings(store_timeout_seconds=1.5))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200

    assert seen["timeout"] == 1.5


def test_readyz_answers_503_within_its_bound_while_the_ping_hangs(
    store: GroupStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()

    def hanging_ping() -> None:  # a frozen server: the ping neither answers nor fails
        released.wait(timeout=30)

    monkeypatch.setattr(store, "ping", hanging_ping)
    app = create_app(store=store, settings=Settings())
    try:
        with TestClient(app) as client:
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
    finally:
        released.set()

    assert response.status_code == 503
    assert error_code(response.json()) == "STORE_UNAVAILABLE"
    assert elapsed < READY_TIMEOUT + 2  # the requirement's bound (1 s), with slack


def test_readyz_is_ready_again_once_the_ping_answers(
    store: GroupStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()
    monkeypatch.setattr(store, "ping", lambda: released.wait(timeout=30))
    app = create_app(store=store, settings=Settings())
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        released.set()
        assert client.get("/readyz").status_code == 200
