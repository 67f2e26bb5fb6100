"""UserManager: registration, activation, listing, login, logout, authentication."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from groupstore import (
    ConstraintViolationError,
    DuplicateUserError,
    UnauthenticatedAccessError,
    UnknownUserError,
)
from tests.backend import PASSWORD


def test_registered_user_can_log_in_and_authenticate(store):
    user = store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    assert key.user_id == user.user_id
    assert store.users.authenticate(key.token) == user


def test_register_strips_the_name(store):
    assert store.users.register_user("  alice ", PASSWORD).username == "alice"


def test_duplicate_name_is_rejected(store):
    store.users.register_user("alice", PASSWORD)
    with pytest.raises(DuplicateUserError):
        store.users.register_user("alice", "other-password")


def test_names_are_unique_regardless_of_case(store):
    store.users.register_user("Alice@x.org", PASSWORD)
    with pytest.raises(DuplicateUserError):
        store.users.register_user("alice@X.ORG", PASSWORD)


def test_login_ignores_name_case(store):
    user = store.users.register_user("Alice", PASSWORD)
    assert store.users.login_user("alice", PASSWORD).user_id == user.user_id


@pytest.mark.parametrize("name", [None, "  ", "x" * 513])
def test_invalid_user_name_is_rejected(store, name):
    with pytest.raises(ConstraintViolationError):
        store.users.register_user(name, PASSWORD)


@pytest.mark.parametrize("password", [None, "", "   "])
def test_empty_password_is_rejected(store, password):
    with pytest.raises(ConstraintViolationError):
        store.users.register_user("alice", password)


def test_password_is_used_exactly_as_given(store):
    store.users.register_user("alice", f" {PASSWORD} ")
    with pytest.raises(UnknownUserError):
        store.users.login_user("alice", PASSWORD)
    assert store.users.login_user("alice", f" {PASSWORD} ").token


def test_password_is_stored_only_as_an_argon2_hash(store):
    user = store.users.register_user("alice", "my-secret-password")
    doc = store.db.users.find_one({"_id": user.user_id})
    assert "my-secret-password" not in str(doc)
    assert doc["secret"].startswith("$argon2id$")


def test_api_key_is_stored_only_as_a_hash(store):
    store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    stored = list(store.db.api_keys.find())
    assert len(stored) == 1
    assert key.token not in str(stored)


def test_api_key_repr_hides_the_token(store):
    store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    assert key.token not in repr(key)


@pytest.mark.parametrize(("name", "password"), [("nobody", PASSWORD), ("alice", "wrong-password")])
def test_failed_login_is_unknown_user_with_one_wording(store, name, password):
    store.users.register_user("alice", PASSWORD)
    with pytest.raises(UnknownUserError) as failed:
        store.users.login_user(name, password)
    assert str(failed.value) == "wrong username or password"  # the same for both


def test_inactive_user_cannot_log_in_until_activated(store):
    user = store.users.register_user("alice", PASSWORD, verify=True)
    assert not user.active
    with pytest.raises(UnknownUserError):
        store.users.login_user("alice", PASSWORD)
    assert store.users.activate_user(user.user_id).active
    assert store.users.authenticate(store.users.login_user("alice", PASSWORD).token).active


def test_activating_twice_is_fine(store):
    user = store.users.register_user("alice", PASSWORD, verify=True)
    store.users.activate_user(user.user_id)
    assert store.users.activate_user(user.user_id).active


def test_activate_unknown_user_is_rejected(store):
    with pytest.raises(UnknownUserError):
        store.users.activate_user("nope")


def test_get_user_filters_by_active_state(store):
    active = store.users.register_user("a", PASSWORD)
    inactive = store.users.register_user("b", PASSWORD, verify=True)
    assert store.users.get_user(inactive.user_id) == inactive
    assert store.users.get_user(active.user_id, active=True) == active
    assert store.users.get_user(inactive.user_id, active=False) == inactive
    with pytest.raises(UnknownUserError):
        store.users.get_user(inactive.user_id, active=True)
    with pytest.raises(UnknownUserError):
        store.users.get_user(active.user_id, active=False)


def test_list_users_shows_active_users_by_name(store):
    for name in ["b", "a", "c", "d"]:
        store.users.register_user(name, PASSWORD)
    pending = store.users.register_user("e", PASSWORD, verify=True)
    assert [u.username for u in store.users.list_users()] == ["a", "b", "c", "d"]
    store.users.activate_user(pending.user_id)
    assert len(store.users.list_users()) == 5


def test_list_users_by_prefix(store):
    for name in ["abc", "abd", "ade", "xyz", "Abx"]:
        store.users.register_user(name, PASSWORD)
    assert len(store.users.list_users(prefix="a")) == 4
    assert len(store.users.list_users(prefix="ab")) == 3
    assert [u.username for u in store.users.list_users(prefix="ade")] == ["ade"]


@pytest.mark.parametrize("prefix", ["%", ".*", "^", "["])
def test_list_users_prefix_is_not_a_pattern(store, prefix):
    store.users.register_user("alice", PASSWORD)
    assert store.users.list_users(prefix=prefix) == []


def test_user_listing_never_shows_secrets(store):
    store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    listing = repr(store.users.list_users())
    assert key.token not in listing and "argon2" not in listing


def test_logout_ends_only_that_session(store):
    store.users.register_user("alice", PASSWORD)
    user = store.users.register_user("bob", PASSWORD)
    first = store.users.login_user("alice", PASSWORD)
    second = store.users.login_user("alice", PASSWORD)
    other = store.users.login_user("bob", PASSWORD)
    assert store.users.logout_user(first.token).username == "alice"
    with pytest.raises(UnauthenticatedAccessError):
        store.users.authenticate(first.token)
    assert store.users.authenticate(second.token).username == "alice"
    assert store.users.authenticate(other.token) == user


def test_logout_of_unknown_key_returns_none(store):
    assert store.users.logout_user("nope") is None


def test_logging_in_again_keeps_the_old_key_valid(store):
    store.users.register_user("alice", PASSWORD)
    old = store.users.login_user("alice", PASSWORD)
    new = store.users.login_user("alice", PASSWORD)
    assert old.token != new.token
    assert store.users.authenticate(old.token).username == "alice"


@pytest.mark.parametrize("token", [None, "", "nope"])
def test_unknown_api_key_is_unauthenticated(store, token):
    with pytest.raises(UnauthenticatedAccessError):
        store.users.authenticate(token)


def test_expired_api_key_is_unauthenticated_and_relogin_gives_a_new_key(store_factory):
    store = store_factory(token_ttl=timedelta(seconds=1))
    store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    assert key.expires_at > key.expires_at.now(key.expires_at.tzinfo)
    time.sleep(1.5)
    # Either authenticate() sees the expiry, or the TTL index already removed the key.
    with pytest.raises(UnauthenticatedAccessError):
        store.users.authenticate(key.token)
    fresh = store.users.login_user("alice", PASSWORD)
    assert fresh.token != key.token
    assert store.users.authenticate(fresh.token).username == "alice"


def test_the_api_key_object_works_like_its_token(store):
    store.users.register_user("alice", PASSWORD)
    key = store.users.login_user("alice", PASSWORD)
    assert store.users.authenticate(key).username == "alice"
    assert store.users.logout_user(key).username == "alice"
    with pytest.raises(UnauthenticatedAccessError):
        store.users.authenticate(key)


def test_with_first_user_admin_the_first_user_administers_and_the_next_do_not(store_factory):
    store = store_factory(first_user_admin=True)

    first = store.users.register_user("alice", PASSWORD)
    second = store.users.register_user("bob", PASSWORD)

    assert first.is_admin and store.users.is_admin(first.user_id)
    assert not second.is_admin and not store.users.is_admin(second.user_id)


def test_first_user_admin_is_off_unless_asked(store_factory, monkeypatch):
    monkeypatch.delenv("GROUPSTORE_FIRST_USER_ADMIN", raising=False)
    assert not store_factory().users.register_user("alice", PASSWORD).is_admin
    monkeypatch.setenv("GROUPSTORE_FIRST_USER_ADMIN", "true")
    assert store_factory().users.register_user("alice", PASSWORD).is_admin
