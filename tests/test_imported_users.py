"""Users imported with their ids and flowserv's password hashes (``UserManager.import_user``).

flowserv-core hashes passwords with passlib's ``pbkdf2_sha256``; an imported
user logs in with the same password, and that first login replaces the hash
by Argon2. The hash below is passlib's for ``old-flowserv-pw``.
"""

from __future__ import annotations

import pytest

from groupstore import ConstraintViolationError, DuplicateUserError, GroupStore, UnknownUserError

FLOWSERV_HASH = (
    "$pbkdf2-sha256$29000$mTMmZGxNKaU0hlBKCeH8Xw$18pAYw1U/fiwIpEbRbYr2wblb77.aU4yPBhjF7I2qK4"
)
USER_ID = "0123456789abcdef0123456789abcdef"


def stored_secret(store: GroupStore) -> str:
    return str(store.db.users.find_one({"_id": USER_ID}, {"secret": 1})["secret"])  # type: ignore[index]


def test_an_imported_user_keeps_its_id_and_logs_in_with_the_flowserv_password(store: GroupStore):
    user = store.users.import_user(USER_ID, "erin", FLOWSERV_HASH)

    assert user.user_id == USER_ID and user.active
    assert store.users.login_user("erin", "old-flowserv-pw").user_id == USER_ID


def test_the_first_login_replaces_the_flowserv_hash_by_argon2(store: GroupStore):
    store.users.import_user(USER_ID, "erin", FLOWSERV_HASH)
    assert stored_secret(store) == FLOWSERV_HASH

    store.users.login_user("erin", "old-flowserv-pw")

    assert stored_secret(store).startswith("$argon2id$")
    assert store.users.login_user("erin", "old-flowserv-pw").user_id == USER_ID


def test_a_wrong_password_fails_against_a_flowserv_hash_and_keeps_it(store: GroupStore):
    store.users.import_user(USER_ID, "erin", FLOWSERV_HASH)

    with pytest.raises(UnknownUserError):
        store.users.login_user("erin", "old-flowserv-pw ")

    assert stored_secret(store) == FLOWSERV_HASH


@pytest.mark.parametrize(
    "secret",
    [
        "plain-text",
        "$pbkdf2-sha256$29000$mTMmZGxNKaU0hlBKCeH8Xw",  # no checksum
        "$pbkdf2-sha256$many$mTMmZGxNKaU0hlBKCeH8Xw$18pAYw1U/fiwIpEbRbYr2wblb77.aU4yPBhjF7I2qK4",
        "$pbkdf2-sha256$29000$mTMm!!$18pAYw1U/fiwIpEbRbYr2wblb77.aU4yPBhjF7I2qK4",
        "$pbkdf2-sha1$29000$mTMmZGxNKaU0hlBKCeH8Xw$18pAYw1U/fiwIpEbRbYr2wblb77",
    ],
)
def test_an_unknown_or_malformed_hash_is_refused(store: GroupStore, secret: str):
    with pytest.raises(ConstraintViolationError, match="password hash"):
        store.users.import_user(USER_ID, "erin", secret)

    assert store.users.get_users([USER_ID]) == []


def test_an_imported_name_is_unique_regardless_of_case(store: GroupStore, alice):
    with pytest.raises(DuplicateUserError):
        store.users.import_user(USER_ID, "ALICE", FLOWSERV_HASH)


def test_an_imported_user_may_stay_inactive(store: GroupStore):
    store.users.import_user(USER_ID, "erin", FLOWSERV_HASH, active=False)

    with pytest.raises(UnknownUserError):
        store.users.login_user("erin", "old-flowserv-pw")
