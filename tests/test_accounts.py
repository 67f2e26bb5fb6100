"""Accounts: password and name policy, hashing slots, login throttling, one-time tokens,
password reset and change, administrators, the user picker's pagination."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher

import groupstore
from groupstore import (
    AccountPolicy,
    ConstraintViolationError,
    GroupStore,
    RecordingSender,
    SmtpSender,
    TokenMessage,
    TooManyRequestsError,
    UnauthenticatedAccessError,
    UnauthorizedAccessError,
    UnknownUserError,
    UserManager,
)
from groupstore.passwords import HashingSlots
from tests.backend import PASSWORD
from tests.support import CountingHasher

WRONG = "wrong-password"


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def accounts(store_factory: Any, sender: RecordingSender) -> GroupStore:
    """A store whose tokens go to ``sender`` and whose hasher counts its calls."""
    store: GroupStore = store_factory(sender=sender)
    store.users.hasher = CountingHasher()
    return store


def hashes(store: GroupStore) -> int:
    hasher = store.users.hasher
    assert isinstance(hasher, CountingHasher)
    return hasher.calls


def later(store: GroupStore, delta: timedelta) -> None:
    """Move the store's clock forward (tokens, keys and failures compare against it)."""
    start = store.users.clock()
    store.users.clock = lambda: start + delta


# Password and name policy


def test_a_password_shorter_than_eight_characters_is_refused(store: GroupStore) -> None:
    with pytest.raises(ConstraintViolationError, match="shorter than 8"):
        store.users.register_user("alice", "1234567")
    assert store.users.register_user("alice", "12345678").active


def test_the_minimum_password_length_is_a_policy(store_factory: Any) -> None:
    store = store_factory(policy=AccountPolicy(password_min_length=12))
    with pytest.raises(ConstraintViolationError):
        store.users.register_user("alice", "elevenchars")
    assert store.users.list_users() == []


@pytest.mark.parametrize(
    "name",
    [
        "c06\u202egpj.exe",  # right-to-left override: shows as "c06exe.jpg"
        "a\u2066b\u2069",  # isolates
        "left\u200emark",
        "nul\x00name",
        "\x1b[31mred\x1b[0m",  # ANSI escape
        "two\nlines",
        "zero\u200bwidth",
        "line\u2028separator",
        "lone\ud800surrogate",
    ],
)
@pytest.mark.parametrize("what", ["user", "group", "workflow", "file"])
def test_names_with_control_format_or_bidi_characters_are_refused(
    store: GroupStore, name: str, what: str
) -> None:
    with pytest.raises(ConstraintViolationError):
        if what == "user":
            store.users.register_user(name, PASSWORD)
        elif what == "workflow":
            store.workflows.create_workflow(name)
        else:
            owner = store.users.register_user("owner", PASSWORD)
            workflow = store.workflows.create_workflow("wf")
            if what == "group":
                store.groups.create_group(workflow.workflow_id, name, [], {}, user_id=owner.user_id)
            else:
                group = store.groups.create_group(
                    workflow.workflow_id, "g", [], {}, user_id=owner.user_id
                )
                store.groups.upload_file(group.group_id, b"x", name)
    assert [u.username for u in store.users.list_users()] in ([], ["owner"])


def test_names_are_stored_in_nfc_and_joiners_stay_allowed(store: GroupStore) -> None:
    decomposed = "Rene\u0301"  # e + combining acute
    user = store.users.register_user(decomposed, PASSWORD)
    assert user.username == "Ren\u00e9"
    assert store.users.login_user("REN\u00c9", PASSWORD).user_id == user.user_id
    assert store.workflows.create_workflow("\U0001f469\u200d\U0001f4bb").name.endswith("\U0001f4bb")


def test_full_width_and_ascii_names_are_one_account(store: GroupStore) -> None:
    store.users.register_user("alice", PASSWORD)
    with pytest.raises(groupstore.DuplicateUserError):
        store.users.register_user("\uff41\uff4c\uff49\uff43\uff45", PASSWORD)


# Hashing slots


def test_hashing_slots_refuse_when_every_slot_stays_busy() -> None:
    slots = HashingSlots(max_concurrent=2, wait_seconds=0.05)
    release = threading.Event()
    holding = threading.Barrier(3)

    def busy() -> None:
        holding.wait()
        release.wait()

    threads = [threading.Thread(target=slots.run, args=(busy,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    holding.wait()
    try:
        with pytest.raises(TooManyRequestsError) as caught:
            slots.run(lambda: None)
        assert caught.value.code == "TOO_MANY_REQUESTS"
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert slots.run(lambda: 42) == 42  # free again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities: Linux")
def test_hashing_threads_run_at_a_lower_priority() -> None:
    slots = HashingSlots(max_concurrent=1, niceness=10)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    theirs = slots.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert theirs == max(mine, 10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_no_more_hashes_run_at_once_than_there_are_slots(store_factory: Any) -> None:
    store = store_factory(policy=AccountPolicy(hash_concurrency=2))
    store.users.register_user("alice", PASSWORD)
    running = 0
    most = 0
    lock = threading.Lock()

    class Watching(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                threading.Event().wait(0.02)
                return super().verify(hash, password)
            finally:
                with lock:
                    running -= 1

    store.users.hasher = Watching(time_cost=1, memory_cost=8, parallelism=1)
    results: list[object] = []

    def login() -> None:
        try:
            results.append(store.users.login_user("alice", PASSWORD))
        except groupstore.GroupStoreError as exc:
            results.append(exc)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert most == 2


def test_the_memory_ceiling_is_slots_times_memory_cost() -> None:
    policy = AccountPolicy(hash_concurrency=3)
    assert policy.memory_ceiling_bytes == 3 * 64 * 1024 * 1024


# Login throttling


def test_the_eleventh_wrong_password_in_a_minute_is_refused_without_hashing(
    accounts: GroupStore,
) -> None:
    accounts.users.register_user("alice", PASSWORD)
    for _ in range(10):
        with pytest.raises(UnknownUserError):
            accounts.users.login_user("alice", WRONG)
    before = hashes(accounts)

    with pytest.raises(TooManyRequestsError) as caught:
        accounts.users.login_user("alice", WRONG)

    assert hashes(accounts) == before
    assert 1 <= caught.value.retry_after <= 60
    with pytest.raises(TooManyRequestsError):  # the right password too: no oracle
        accounts.users.login_user("alice", PASSWORD)


def test_throttling_counts_only_failures(accounts: GroupStore) -> None:
    accounts.users.register_user("alice", PASSWORD)
    for _ in range(9):
        with pytest.raises(UnknownUserError):
            accounts.users.login_user("alice", WRONG)
    for _ in range(5):
        assert accounts.users.login_user("alice", PASSWORD).token


def test_unknown_names_are_throttled_like_known_ones(accounts: GroupStore) -> None:
    for _ in range(10):
        with pytest.raises(UnknownUserError):
            accounts.users.login_user("nobody", WRONG)
    with pytest.raises(TooManyRequestsError):
        accounts.users.login_user("NOBODY", WRONG)


def test_the_throttle_lifts_when_the_window_has_passed(accounts: GroupStore) -> None:
    accounts.users.register_user("alice", PASSWORD)
    for _ in range(10):
        with pytest.raises(UnknownUserError):
            accounts.users.login_user("alice", WRONG)
    with pytest.raises(TooManyRequestsError):
        accounts.users.login_user("alice", PASSWORD)

    later(accounts, timedelta(seconds=61))

    assert accounts.users.login_user("alice", PASSWORD).token


def test_failures_from_one_address_are_limited_across_names(store_factory: Any) -> None:
    store = store_factory(policy=AccountPolicy(login_failures_per_address=3))
    for name in ("a", "b", "c"):
        with pytest.raises(UnknownUserError):
            store.users.login_user(name, WRONG, client_address="10.0.0.1")
    with pytest.raises(TooManyRequestsError):
        store.users.login_user("d", WRONG, client_address="10.0.0.1")
    with pytest.raises(UnknownUserError):  # another address is not affected
        store.users.login_user("d", WRONG, client_address="10.0.0.2")


def test_the_throttle_is_shared_by_every_manager_on_the_database(accounts: GroupStore) -> None:
    other = UserManager(accounts.db, password_hasher=CountingHasher())
    accounts.users.register_user("alice", PASSWORD)
    for manager in [accounts.users, other] * 5:
        with pytest.raises(UnknownUserError):
            manager.login_user("alice", WRONG)

    with pytest.raises(TooManyRequestsError):
        other.login_user("alice", WRONG)
    with pytest.raises(TooManyRequestsError):
        accounts.users.login_user("alice", WRONG)


def test_failures_are_stored_without_names_or_addresses(accounts: GroupStore) -> None:
    with pytest.raises(UnknownUserError):
        accounts.users.login_user("alice", WRONG, client_address="192.0.2.7")
    stored = str(list(accounts.db.login_failures.find()))
    assert "alice" not in stored and "192.0.2.7" not in stored


# Activation


def test_verify_gives_an_inactive_user_and_sends_an_activation_token(
    accounts: GroupStore, sender: RecordingSender
) -> None:
    user = accounts.users.register_user("alice", PASSWORD, verify=True)
    assert not user.active
    token = sender.last("activate", "alice")
    assert token not in str(list(accounts.db.account_tokens.find()))

    assert accounts.users.activate_user_with_token(token).active
    assert accounts.users.login_user("alice", PASSWORD).user_id == user.user_id


def test_an_activation_token_works_once(accounts: GroupStore, sender: RecordingSender) -> None:
    accounts.users.register_user("alice", PASSWORD, verify=True)
    token = sender.last("activate")
    accounts.users.activate_user_with_token(token)
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.activate_user_with_token(token)


def test_an_activation_token_expires(accounts: GroupStore, sender: RecordingSender) -> None:
    user = accounts.users.register_user("alice", PASSWORD, verify=True)
    later(accounts, timedelta(days=2, seconds=1))
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.activate_user_with_token(sender.last("activate"))
    assert not accounts.users.get_user(user.user_id).active


@pytest.mark.parametrize("token", ["", "nope", None])
def test_an_unknown_activation_token_is_refused(accounts: GroupStore, token: Any) -> None:
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.activate_user_with_token(token)


def test_an_activation_token_cannot_reset_a_password(
    accounts: GroupStore, sender: RecordingSender
) -> None:
    accounts.users.register_user("alice", PASSWORD, verify=True)
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.reset_password(sender.last("activate"), "new-password")


# Password reset


def test_a_reset_token_sets_a_new_password_and_ends_every_session(
    accounts: GroupStore, sender: RecordingSender
) -> None:
    accounts.users.register_user("alice", PASSWORD)
    key = accounts.users.login_user("alice", PASSWORD)
    accounts.users.request_password_reset("alice")

    accounts.users.reset_password(sender.last("reset_password", "alice"), "new-password")

    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.authenticate(key.token)
    with pytest.raises(UnknownUserError):
        accounts.users.login_user("alice", PASSWORD)
    assert accounts.users.login_user("alice", "new-password").token


def test_a_reset_for_an_unknown_name_answers_the_same_and_sends_nothing(
    accounts: GroupStore, sender: RecordingSender
) -> None:
    accounts.users.request_password_reset("nobody")  # no error: the same answer
    assert sender.messages == []
    assert accounts.db.account_tokens.count_documents({}) == 0


def test_a_reset_token_works_once(accounts: GroupStore, sender: RecordingSender) -> None:
    accounts.users.register_user("alice", PASSWORD)
    accounts.users.request_password_reset("alice")
    token = sender.last("reset_password")
    accounts.users.reset_password(token, "new-password")
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.reset_password(token, "third-password")
    assert accounts.users.login_user("alice", "new-password").token


def test_two_concurrent_uses_of_one_reset_token_cannot_both_succeed(
    accounts: GroupStore, sender: RecordingSender
) -> None:
    accounts.users.register_user("alice", PASSWORD)
    accounts.users.request_password_reset("alice")
    token = sender.last("reset_password")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def use(password: str) -> None:
        start.wait()
        try:
            accounts.users.reset_password(token, password)
            outcomes.append(password)
        except UnauthenticatedAccessError:
            outcomes.append("refused")

    threads = [threading.Thread(target=use, args=(p,)) for p in ("first-pass", "second-pass")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("refused") == 1
    winner = next(o for o in outcomes if o != "refused")
    assert accounts.users.login_user("alice", winner).token


def test_a_reset_token_expires(accounts: GroupStore, sender: RecordingSender) -> None:
    accounts.users.register_user("alice", PASSWORD)
    accounts.users.request_password_reset("alice")
    later(accounts, timedelta(hours=1, seconds=1))
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.reset_password(sender.last("reset_password"), "new-password")


def test_an_invalid_reset_token_costs_no_hash(accounts: GroupStore) -> None:
    before = hashes(accounts)
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.reset_password("made-up-token", "new-password")
    assert hashes(accounts) == before


def test_a_too_short_new_password_keeps_the_reset_token(
    accounts: GroupStore, sender: RecordingSender
) -> None:
    accounts.users.register_user("alice", PASSWORD)
    accounts.users.request_password_reset("alice")
    token = sender.last("reset_password")
    with pytest.raises(ConstraintViolationError):
        accounts.users.reset_password(token, "short")
    accounts.users.reset_password(token, "long-enough")


def test_reset_requests_are_throttled_for_known_and_unknown_names_alike(
    accounts: GroupStore,
) -> None:
    accounts.users.register_user("alice", PASSWORD)
    for name in ("alice", "nobody"):
        for _ in range(accounts.users.policy.reset_requests_per_user):
            accounts.users.request_password_reset(name)
        with pytest.raises(TooManyRequestsError):
            accounts.users.request_password_reset(name)


def test_reset_requests_do_not_count_as_failed_logins(store_factory: Any) -> None:
    policy = AccountPolicy(login_failures_per_user=2, login_failures_per_address=2)
    store = store_factory(policy=policy)
    store.users.register_user("alice", PASSWORD)
    for _ in range(4):
        store.users.request_password_reset("alice", client_address="10.0.0.1")

    assert store.users.login_user("alice", PASSWORD, client_address="10.0.0.1").token


def test_registration_without_an_address_is_a_trusted_call_and_not_limited(
    store_factory: Any,
) -> None:
    store = store_factory(policy=AccountPolicy(registrations_total=1))
    for index in range(3):
        store.users.register_user(f"user{index}", PASSWORD)
    store.users.register_user("counted", PASSWORD, client_address="10.0.0.1")

    with pytest.raises(TooManyRequestsError):
        store.users.register_user("refused", PASSWORD, client_address="10.0.0.2")


def test_closed_registration_refuses_self_registration_but_not_a_trusted_call(
    store_factory: Any,
) -> None:
    store = store_factory(policy=AccountPolicy(open_registration=False))

    with pytest.raises(groupstore.UnauthorizedAccessError, match="registration is closed"):
        store.users.register_user("stranger", PASSWORD, client_address="10.0.0.1")
    assert store.users.register_user("invited", PASSWORD).username == "invited"


# Changing a password, deactivating


def test_change_password_keeps_this_session_and_ends_the_others(accounts: GroupStore) -> None:
    user = accounts.users.register_user("alice", PASSWORD)
    this = accounts.users.login_user("alice", PASSWORD)
    other = accounts.users.login_user("alice", PASSWORD)

    accounts.users.change_password(user.user_id, PASSWORD, "new-password", keep_api_key=this)

    assert accounts.users.authenticate(this.token).user_id == user.user_id
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.authenticate(other.token)
    assert accounts.users.login_user("alice", "new-password").token


def test_change_password_with_a_wrong_old_one_is_refused_and_counted(
    accounts: GroupStore,
) -> None:
    user = accounts.users.register_user("alice", PASSWORD)
    for _ in range(10):
        with pytest.raises(UnauthorizedAccessError):
            accounts.users.change_password(user.user_id, WRONG, "new-password")
    with pytest.raises(TooManyRequestsError):
        accounts.users.change_password(user.user_id, PASSWORD, "new-password")


def test_deactivating_a_user_ends_their_sessions(accounts: GroupStore) -> None:
    user = accounts.users.register_user("alice", PASSWORD)
    key = accounts.users.login_user("alice", PASSWORD)
    accounts.users.deactivate_user(user.user_id)
    with pytest.raises(UnauthenticatedAccessError):
        accounts.users.authenticate(key.token)
    with pytest.raises(UnknownUserError):
        accounts.users.login_user("alice", PASSWORD)


# Administrators


def test_named_administrators_are_promoted_at_connect_and_at_registration(
    store_factory: Any,
) -> None:
    first = store_factory()
    early = first.users.register_user("Root", PASSWORD)
    assert not early.is_admin
    key = first.users.login_user("root", PASSWORD)

    # What connect(admins=...) does when the gateway restarts with GROUPSTORE_ADMINS set:
    users = UserManager(first.db, password_hasher=first.users.hasher, admins=["root", "ops"])

    assert users.get_user(early.user_id).is_admin
    assert users.authenticate(key.token).is_admin  # the session's snapshot too
    assert users.register_user("OPS", PASSWORD).is_admin
    assert not users.register_user("dev", PASSWORD).is_admin


def test_connect_reads_groupstore_admins_when_no_admins_are_given(
    store_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROUPSTORE_ADMINS", " root , ops ")
    store = store_factory()
    assert store.users.register_user("ops", PASSWORD).is_admin
    assert not store_factory(admins=[]).users.register_user("ops", PASSWORD).is_admin


def test_only_administrators_create_and_delete_workflows_when_a_caller_is_given(
    store: GroupStore,
) -> None:
    user = store.users.register_user("alice", PASSWORD)
    admin = store.users.promote_user(store.users.register_user("root", PASSWORD).user_id)
    with pytest.raises(UnauthorizedAccessError):
        store.workflows.create_workflow("wf", caller=user.user_id)
    assert store.workflows.list_workflows() == []

    workflow = store.workflows.create_workflow("wf", caller=admin.user_id)
    with pytest.raises(UnauthorizedAccessError):
        store.workflows.delete_workflow(workflow.workflow_id, caller=user.user_id)
    store.workflows.delete_workflow(workflow.workflow_id, caller=admin.user_id)
    assert store.workflows.list_workflows() == []


def test_an_inactive_administrator_has_no_rights(store: GroupStore) -> None:
    admin = store.users.promote_user(store.users.register_user("root", PASSWORD).user_id)
    store.users.deactivate_user(admin.user_id)
    with pytest.raises(UnauthorizedAccessError):
        store.workflows.create_workflow("wf", caller=admin.user_id)


def test_only_administrators_activate_other_users_when_a_caller_is_given(
    store: GroupStore,
) -> None:
    user = store.users.register_user("alice", PASSWORD)
    pending = store.users.register_user("bob", PASSWORD, verify=True)
    with pytest.raises(UnauthorizedAccessError):
        store.users.activate_user(pending.user_id, caller=user.user_id)
    assert not store.users.get_user(pending.user_id).active
    store.users.promote_user(user.user_id)
    assert store.users.activate_user(pending.user_id, caller=user.user_id).active


def test_only_administrators_promote_when_a_caller_is_given(store: GroupStore) -> None:
    alice = store.users.register_user("alice", PASSWORD)
    bob = store.users.register_user("bob", PASSWORD)
    with pytest.raises(UnauthorizedAccessError):
        store.users.promote_user(bob.user_id, caller=alice.user_id)
    with pytest.raises(UnknownUserError):
        store.users.promote_user("nope")


# Finding people


def test_list_users_page_walks_active_users_in_name_order(store: GroupStore) -> None:
    for name in ["dave", "Bob", "alice", "carol", "erin"]:
        store.users.register_user(name, PASSWORD)
    store.users.register_user("pending", PASSWORD, verify=True)

    first = store.users.list_users_page(first=2)
    second = store.users.list_users_page(first=2, after=first.items[-1][0])
    store.users.register_user("aaron", PASSWORD)  # before the cursor: pages stay stable
    third = store.users.list_users_page(first=2, after=second.items[-1][0])

    names = [u.username for page in (first, second, third) for _, u in page.items]
    assert names == ["alice", "Bob", "carol", "dave", "erin"]
    assert first.has_next_page and second.has_next_page and not third.has_next_page


def test_list_users_page_by_prefix(store: GroupStore) -> None:
    for name in ["anna", "Andy", "ann", "bob"]:
        store.users.register_user(name, PASSWORD)
    page = store.users.list_users_page(prefix="AN", first=2)
    rest = store.users.list_users_page(prefix="an", first=2, after=page.items[-1][0])
    assert [u.username for _, u in page.items + rest.items] == ["Andy", "ann", "anna"]
    assert not rest.has_next_page


@pytest.mark.parametrize("first", [-1, 1001])
def test_list_users_page_size_is_bounded(store: GroupStore, first: int) -> None:
    with pytest.raises(ConstraintViolationError):
        store.users.list_users_page(first=first)


# Senders


def test_the_smtp_sender_mails_the_token_to_the_user_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Any] = []

    class FakeSMTP:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            sent.append(("connect", host, port))

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *args: object) -> None:
            pass

        def starttls(self, context: object) -> None:
            sent.append(("starttls",))

        def login(self, user: str, password: str) -> None:
            sent.append(("login", user))

        def send_message(self, message: Any) -> None:
            sent.append(("send", message["To"], message.get_content()))

    monkeypatch.setattr("smtplib.SMTP", FakeSMTP)
    user = groupstore.User("u1", "alice@example.org", True, datetime.now(timezone.utc))
    message = TokenMessage(user, "reset_password", "TOKEN-123", user.created_at)

    SmtpSender("mail.example.org", username="relay", password="x", background=False).send(message)

    assert sent[:3] == [("connect", "mail.example.org", 587), ("starttls",), ("login", "relay")]
    assert sent[3][1] == "alice@example.org" and "TOKEN-123" in sent[3][2]
    assert "TOKEN-123" not in repr(message)


def test_a_failing_sender_does_not_fail_the_call(store_factory: Any) -> None:
    class Broken:
        def send(self, message: TokenMessage) -> None:
            raise RuntimeError("mail server on fire")

    store = store_factory(sender=Broken())
    user = store.users.register_user("alice", PASSWORD, verify=True)
    assert not user.active
