"""Round trips of the account calls, counted with pymongo's command monitoring.

Not contract budgets, but deterministic, so held here: a refused (throttled)
login costs one round trip and no hash; a login four; authenticating one.
"""

from __future__ import annotations

import pytest

from groupstore import TooManyRequestsError, UnknownUserError
from tests.backend import PASSWORD
from tests.real_server.test_budgets import counted

pytestmark = pytest.mark.real_server
__all__ = ["counted"]  # the fixture, shared with the contract budgets


def test_a_login_costs_4_round_trips(counted) -> None:
    store, counter = counted
    store.users.register_user("alice", PASSWORD)
    with counter.count() as commands:
        store.users.login_user("alice", PASSWORD, client_address="192.0.2.1")
    # throttle check, credentials, prune expired keys, insert the key
    assert len(commands) == 4, commands


def test_a_failed_login_costs_4_round_trips(counted) -> None:
    store, counter = counted
    store.users.register_user("alice", PASSWORD)
    with counter.count() as commands, pytest.raises(UnknownUserError):
        store.users.login_user("alice", "wrong-password", client_address="192.0.2.1")
    # throttle check, credentials, record the failure, prune old failures
    assert len(commands) == 4, commands


def test_a_throttled_login_costs_1_round_trip(counted) -> None:
    store, counter = counted
    for _ in range(10):
        with pytest.raises(UnknownUserError):
            store.users.login_user("alice", "wrong-password", client_address="192.0.2.1")
    with counter.count() as commands, pytest.raises(TooManyRequestsError):
        store.users.login_user("alice", "wrong-password", client_address="192.0.2.1")
    assert len(commands) == 1, commands


def test_authenticate_costs_1_round_trip(counted) -> None:
    store, counter = counted
    store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    with counter.count() as commands:
        store.users.authenticate(key.token)
    assert len(commands) == 1, commands


def test_a_page_of_users_costs_1_round_trip(counted) -> None:
    store, counter = counted
    for name in ("a", "b", "c"):
        store.users.register_user(name, PASSWORD)
    with counter.count() as commands:
        store.users.list_users_page(first=2)
    assert len(commands) == 1, commands
