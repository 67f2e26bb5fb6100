"""Users, logins, API keys, and the account lifecycle.

Passwords are hashed with Argon2id (argon2-cffi) in a bounded number of
slots (``groupstore.passwords``); API keys and one-time tokens are random
256-bit tokens stored only as their SHA-256 digest. Each login issues a new
key, so logging in again leaves earlier sessions valid until they expire or
log out (flowserv reused one plain-text key per user).

Failed password checks are counted per user name and per client address in
MongoDB (``login_failures``), so every gateway process on one database
shares the count; past the limit a login is refused with
``TooManyRequestsError`` before any hash is computed. Password-reset
requests and self-registrations are counted in the same collection under
keys and limits of their own: neither can lock an address out of login, and
a refused registration computes no hash.

Administrators (``User.is_admin``) are named by ``admins`` (user names, also
for users who register later) or promoted with ``promote_user``. Methods
that take ``caller`` (a user id) enforce the role when it is given; without
it the caller is trusted.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher

from groupstore.changes import Change, ChangeKind, Publisher
from groupstore.errors import (
    ConstraintViolationError,
    FailedLoginError,
    TooManyRequestsError,
    UnauthenticatedAccessError,
    UnauthorizedAccessError,
    UnknownUserError,
    require_admin,
)
from groupstore.model import ApiKey, User
from groupstore.passwords import (
    Argon2Parameters,
    HashingSlots,
    hash_password,
    is_known_hash,
    memory_ceiling_bytes,
    needs_rehash,
    verify_password,
)
from groupstore.senders import (
    ACTIVATE,
    RESET_PASSWORD,
    LogSender,
    TokenMessage,
    TokenPurpose,
    TokenSender,
)
from groupstore.storage.backend import StorageLike, storage_of
from groupstore.storage.documents import utc_now
from groupstore.validation import (
    DEFAULT_PASSWORD_MIN_LENGTH,
    validate_identifier,
    validate_name,
    validate_page_size,
    validate_password,
)

log = logging.getLogger("groupstore.accounts")

DEFAULT_TOKEN_TTL = timedelta(hours=24)
# The AccountPolicy counts (0 turns one off).
_LIMITS = (
    "login_failures_per_user", "login_failures_per_address", "reset_requests_per_user",
    "reset_requests_per_address", "registrations_per_address", "registrations_total",
)  # fmt: skip
CLOSED_REGISTRATION = "registration is closed: ask an administrator for an account"
INVALID_TOKEN = "the token is invalid, already used or expired"


@dataclass(frozen=True)
class AccountPolicy:
    """Rules and costs of accounts; every field has a safe default.

    Password hashing holds at most ``hash_concurrency x argon2.memory_kib``
    KiB at once per process (``memory_ceiling_bytes``: 128 MiB by default).
    A limit of 0 turns that throttle off.
    """

    password_min_length: int = DEFAULT_PASSWORD_MIN_LENGTH
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    hash_concurrency: int = 2
    hash_wait_seconds: float = 10.0
    login_failures_per_user: int = 10
    login_failures_per_address: int = 100
    login_failure_window: timedelta = timedelta(minutes=1)
    reset_requests_per_user: int = 5
    reset_requests_per_address: int = 50
    reset_request_window: timedelta = timedelta(minutes=15)
    registrations_per_address: int = 20
    registrations_total: int = 200
    registration_window: timedelta = timedelta(minutes=1)
    activation_token_ttl: timedelta = timedelta(days=2)
    reset_token_ttl: timedelta = timedelta(hours=1)
    open_registration: bool = True
    """Anyone may register (``register_user`` with ``client_address``); else only the
    trusted callers that pass none (administrators, the CLI)."""

    def __post_init__(self) -> None:
        if self.password_min_length < 1:
            raise ConstraintViolationError("password_min_length must be at least 1")
        for name in _LIMITS:
            if getattr(self, name) < 0:
                raise ConstraintViolationError(f"{name} must not be negative")
        for name in (
            "login_failure_window", "reset_request_window", "registration_window",
            "activation_token_ttl", "reset_token_ttl",
        ):  # fmt: skip
            if getattr(self, name) <= timedelta(0):
                raise ConstraintViolationError(f"{name} must be positive")
        HashingSlots(self.hash_concurrency, self.hash_wait_seconds)  # checks both

    @property
    def memory_ceiling_bytes(self) -> int:
        """The most memory password hashing may hold at once in one process."""
        return memory_ceiling_bytes(self.argon2, self.hash_concurrency)


@dataclass(frozen=True)
class UserPage:
    """One page of ``list_users_page``: (cursor, user) pairs in name order."""

    items: list[tuple[str, User]]
    has_next_page: bool


class UserManager:
    """Register, activate, list and authenticate users; reset and change passwords."""

    def __init__(
        self,
        db: StorageLike,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        password_hasher: PasswordHasher | None = None,
        *,
        policy: AccountPolicy | None = None,
        sender: TokenSender | None = None,
        admins: Iterable[str] = (),
        first_user_admin: bool = False,
        publisher: Publisher | None = None,
    ) -> None:
        """``admins``: user names that are administrators, now or when they register;
        ``first_user_admin``: a user registered while there is no administrator becomes one
        (two racing first registrations may both become one).

        ``publisher``: where ended sessions are announced (SESSION_ENDED; the
        storage's change log by default).
        """
        storage = storage_of(db)
        self.changes: Publisher = publisher or storage.changes
        self.users = storage.users
        self.tokens = storage.tokens
        self.failures = storage.failures
        self.token_ttl = token_ttl
        self.policy = policy or AccountPolicy()
        self.hasher = password_hasher or self.policy.argon2.hasher()
        self.slots = HashingSlots(self.policy.hash_concurrency, self.policy.hash_wait_seconds)
        self.sender: TokenSender = sender or LogSender()
        self.admins = frozenset(_username_key(name.strip()) for name in admins if name.strip())
        self.first_user_admin = first_user_admin
        self.clock: Callable[[], datetime] = utc_now
        self._decoy: tuple[PasswordHasher, str] | None = None
        if self.admins:
            self.users.promote(self.users.ids_by_name_keys(sorted(self.admins), admin=True))

    # Registration and the account lifecycle

    def register_user(
        self,
        username: str,
        password: str,
        verify: bool = False,
        *,
        client_address: str | None = None,
    ) -> User:
        """A new user, active unless ``verify``; DuplicateUserError if the name is taken.

        With ``client_address`` (a self-registration from outside) the call is
        refused (UnauthorizedAccessError) unless ``policy.open_registration``, and
        counts against ``registrations_per_address`` and ``registrations_total``
        in ``registration_window``; past either it raises TooManyRequestsError
        before hashing anything. Without it the caller is trusted (no limit).

        With ``verify`` the user is inactive until activated, and a one-time
        activation token goes to the sender (for ``activate_user_with_token``).
        Names are unique regardless of case and compatibility forms (``Alice``,
        ``ALICE`` and its full-width form are one account); the name is stored as given, in NFC,
        less surrounding whitespace. Passwords are used exactly as given.
        """
        if client_address is not None and not self.policy.open_registration:
            raise UnauthorizedAccessError(CLOSED_REGISTRATION)
        username = validate_name(username, "user name")
        validate_password(password, self.policy.password_min_length)
        if client_address is not None:
            self._count(self._registration_keys(client_address), self.policy.registration_window)
        key = _username_key(username)
        user = User(
            user_id=uuid.uuid4().hex,
            username=username,
            active=not verify,
            created_at=self.clock(),
            is_admin=key in self.admins or (self.first_user_admin and not self.users.any_admin()),
        )
        self.users.insert(user, key, self._hash(password))
        if verify:
            self._issue(user, ACTIVATE, self.policy.activation_token_ttl)
        return user

    def import_user(
        self, user_id: str, username: str, password_hash: str, active: bool = True
    ) -> User:
        """A user moved from another system, with its id and its password hash as they are.

        ``password_hash``: Argon2, or flowserv's passlib ``pbkdf2_sha256``, which
        the user's first login replaces by Argon2 (``groupstore.passwords``).
        DuplicateUserError if the id or the name (regardless of case) is taken;
        ConstraintViolationError for a bad id or name or an unknown hash format.
        """
        identifier = validate_identifier(user_id)
        if identifier is None:
            raise ConstraintViolationError("an imported user needs its id")
        username = validate_name(username, "user name")
        if not is_known_hash(password_hash):
            raise ConstraintViolationError(
                f"user '{username}': not an Argon2 or pbkdf2_sha256 password hash"
            )
        key = _username_key(username)
        user = User(
            user_id=identifier,
            username=username,
            active=active,
            created_at=self.clock(),
            is_admin=key in self.admins,
        )
        self.users.insert(user, key, password_hash)
        return user

    def activate_user(self, user_id: str, caller: str | None = None) -> User:
        """Activate a user by id: a trusted call, or an administrator's (``caller``)."""
        require_admin(self.users, caller, "activate users")
        user = self.users.activate(user_id)
        if user is None:
            raise UnknownUserError(user_id)
        self.tokens.delete_for_user(user_id, ACTIVATE)
        return user

    def activate_user_with_token(self, token: str) -> User:
        """Activate the user an activation token was issued to; the token works once.

        UnauthenticatedAccessError for an unknown, used or expired token.
        """
        user_id = self._redeem(token, ACTIVATE)
        user = self.users.activate(user_id)
        if user is None:
            raise UnauthenticatedAccessError(INVALID_TOKEN)
        self.tokens.delete_for_user(user_id, ACTIVATE)
        return user

    def deactivate_user(self, user_id: str, caller: str | None = None) -> User:
        """Deactivate a user and end every session and pending token of theirs."""
        require_admin(self.users, caller, "deactivate users")
        user = self.users.set_active(user_id, False)
        if user is None:
            raise UnknownUserError(user_id)
        self.users.delete_keys(user_id)
        self._sessions_ended(user_id, caller)
        self.tokens.delete_for_user(user_id)
        return user

    def promote_user(self, user_id: str, caller: str | None = None) -> User:
        """Make a user an administrator (their current sessions included)."""
        require_admin(self.users, caller, "promote users")
        self.get_user(user_id)
        self.users.promote([user_id])
        return self.get_user(user_id)

    def request_password_reset(self, username: str, client_address: str | None = None) -> None:
        """Send a one-time reset token to an active user of that name, if there is one.

        Answers the same whether or not the name exists (no enumeration).
        Requests are counted per name and per address against limits of their
        own (``reset_requests_per_*``), so nobody can flood a user's inbox, and
        requests never count as failed logins (they cannot lock an address out).
        """
        if not isinstance(username, str):
            raise ConstraintViolationError("user name must be a string")
        key = _username_key(username.strip())
        keys = [("reset:" + _digest(key), self.policy.reset_requests_per_user)]
        if client_address:
            keys.append(
                ("reset-addr:" + _digest(client_address), self.policy.reset_requests_per_address)
            )
        self._count(keys, self.policy.reset_request_window)
        found = self.users.get_credentials(key) if _storable(key) else None
        if found is not None:
            self._issue(found[0], RESET_PASSWORD, self.policy.reset_token_ttl)

    def reset_password(self, token: str, password: str) -> User:
        """Set a new password with a reset token (works once) and end all the user's sessions."""
        validate_password(password, self.policy.password_min_length)
        token_hash, user_id = self._find_token(token, RESET_PASSWORD)
        secret = self._hash(password)  # only for a token that exists: no free hashing
        if not self.tokens.consume(token_hash, RESET_PASSWORD):
            raise UnauthenticatedAccessError(INVALID_TOKEN)  # a concurrent use won
        if not self.users.set_secret(user_id, secret):
            raise UnauthenticatedAccessError(INVALID_TOKEN)  # deactivated meanwhile
        self.users.delete_keys(user_id)
        self._sessions_ended(user_id, user_id)
        self.tokens.delete_for_user(user_id, RESET_PASSWORD)
        return self.get_user(user_id)

    def change_password(
        self,
        user_id: str,
        old_password: str,
        new_password: str,
        *,
        keep_api_key: str | ApiKey | None = None,
    ) -> User:
        """Replace the password after checking the old one; ends every other session.

        ``keep_api_key``: the session that asked (it stays valid). A wrong old
        password raises UnauthorizedAccessError and counts as a failed login.
        """
        validate_password(new_password, self.policy.password_min_length)
        found = self.users.get_secret(user_id)
        if found is None:
            raise UnknownUserError(user_id)
        user, secret = found
        throttle_keys = self._login_keys(_username_key(user.username), None)
        self._check_throttle(throttle_keys)
        if not isinstance(old_password, str) or not self._verify(secret, old_password):
            self._record_failure(throttle_keys)
            raise UnauthorizedAccessError("the old password is wrong")
        if not self.users.set_secret(user_id, self._hash(new_password)):
            raise UnknownUserError(user_id)
        keep = _token(keep_api_key)
        self.users.delete_keys(user_id, keep=None if keep is None else _key_hash(keep))
        self._sessions_ended(user_id, user_id)
        return user

    # Reading users

    def get_user(self, user_id: str, active: bool | None = None) -> User:
        """The user; ``active`` True/False restricts to active/inactive users."""
        user = self.users.get(user_id, active=active)
        if user is None:
            raise UnknownUserError(user_id)
        return user

    def get_user_by_name(self, username: str) -> User:
        """The active user of that name (any case; one round trip), else UnknownUserError."""
        key = _username_key(username.strip()) if isinstance(username, str) else ""
        user = self.users.get_by_name_key(key) if key and _storable(key) else None
        if user is None:
            raise UnknownUserError(username)
        return user

    def get_users(self, user_ids: Iterable[str]) -> list[User]:
        """The existing users among ``user_ids``, in one round trip (unknown ids are left out)."""
        return self.users.get_many(user_ids)

    def active_user_ids(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` that name active users, in one round trip."""
        return self.users.active_ids(user_ids)

    def list_users(self, prefix: str | None = None) -> list[User]:
        """Active users ordered by name, optionally those whose name starts with ``prefix``."""
        return self.users.list_active(_prefix_key(prefix))

    def list_users_page(
        self, prefix: str | None = None, after: str | None = None, first: int = 50
    ) -> UserPage:
        """A page of ``list_users``: up to ``first`` users after the cursor ``after`` (one
        round trip). Cursors are stable when users register meanwhile."""
        validate_page_size(first)
        if after is not None and not isinstance(after, str):
            raise ConstraintViolationError("the cursor must be a string")
        # One extra row tells whether another page exists, in the same round trip.
        users = self.users.list_active(_prefix_key(prefix), after=after, limit=first + 1)
        items = [(_username_key(user.username), user) for user in users[:first]]
        return UserPage(items=items, has_next_page=len(users) > first)

    # Sessions

    def login_user(
        self, username: str, password: str, *, client_address: str | None = None
    ) -> ApiKey:
        """A new API key; FailedLoginError (an UnknownUserError, "wrong username or password")
        for an unknown or inactive user and for a wrong password alike.

        Failed attempts are counted per user name and per ``client_address``
        (when given); past either limit the call raises TooManyRequestsError
        (with ``retry_after``) without checking the password at all.
        """
        if not isinstance(username, str) or not isinstance(password, str):
            raise FailedLoginError(str(username))
        key = _username_key(username.strip())
        throttle_keys = self._login_keys(key, client_address)
        self._check_throttle(throttle_keys)
        found = self.users.get_credentials(key) if _storable(key) else None
        if found is None:
            self._verify(self._decoy_hash(), password)  # as slow as for a known name
            self._record_failure(throttle_keys)
            raise FailedLoginError(username)
        user, secret = found
        if not self._verify(secret, password):
            self._record_failure(throttle_keys)
            raise FailedLoginError(username)
        if needs_rehash(self.hasher, secret):
            self.users.set_secret(user.user_id, self._hash(password))
        token = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.token_ttl
        self.users.insert_key(_key_hash(token), user, expires_at)
        return ApiKey(token=token, user=user, expires_at=expires_at)

    def logout_user(self, api_key: str | ApiKey) -> User | None:
        """End the session of that key; the user it belonged to, or None for an unknown key."""
        token = _token(api_key)
        user = None if token is None else self.users.delete_key(_key_hash(token))
        if user is not None:
            self._sessions_ended(user.user_id, user.user_id)
        return user

    def authenticate(self, api_key: str | ApiKey | None) -> User:
        """The user of a valid key (one round trip); UnauthenticatedAccessError otherwise."""
        token = _token(api_key)
        if token is None:
            raise UnauthenticatedAccessError()
        return self._session_user(_key_hash(token))

    def session_id(self, api_key: str | ApiKey) -> str:
        """The id of the session a key opened (no I/O): its SHA-256, as the store keeps it.

        It names the session without revealing the key (``authenticate`` needs the
        key itself), so it can travel in a link that must stop working when the
        session ends: see ``authenticate_session``.
        """
        token = _token(api_key)
        if token is None:
            raise UnauthenticatedAccessError()
        return _key_hash(token)

    def authenticate_session(self, session_id: str) -> User:
        """The user of a session that is still open (one round trip).

        UnauthenticatedAccessError once it has ended: logout, expiry, a password
        reset or change (which end the user's keys), or an unknown id.
        """
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            raise UnauthenticatedAccessError()
        return self._session_user(session_id)

    def _session_user(self, key_hash: str) -> User:
        found = self.users.find_key(key_hash)
        if found is None:
            raise UnauthenticatedAccessError()
        user, expires_at = found
        if expires_at <= self.clock():
            raise UnauthenticatedAccessError("the API key has expired")
        return user

    def is_admin(self, user_id: str) -> bool:
        """Whether the id names an active administrator (one round trip)."""
        return self.users.is_admin(user_id)

    # Internals

    def _sessions_ended(self, user_id: str, by: str | None) -> None:
        """Announce that API keys of ``user_id`` ended (their sockets close)."""
        self.changes.publish(Change(ChangeKind.SESSION_ENDED, user_id=user_id, by=by))

    def _hash(self, password: str) -> str:
        return hash_password(self.hasher, self.slots, password)

    def _verify(self, secret: str, password: str) -> bool:
        return verify_password(self.hasher, self.slots, secret, password)

    def _decoy_hash(self) -> str:
        # Verified against when the user is unknown, so that a failed login
        # takes as long whether or not the name exists.
        if self._decoy is None or self._decoy[0] is not self.hasher:
            self._decoy = (self.hasher, self._hash(secrets.token_hex(16)))
        return self._decoy[1]

    def _login_keys(self, username_key: str, client_address: str | None) -> list[tuple[str, int]]:
        """(counter key, limit) pairs of failed logins; keys are digests, so no name
        or address is stored in clear."""
        keys = [("user:" + _digest(username_key), self.policy.login_failures_per_user)]
        if client_address:
            keys.append(("addr:" + _digest(client_address), self.policy.login_failures_per_address))
        return keys

    def _registration_keys(self, client_address: str) -> list[tuple[str, int]]:
        return [
            ("register-addr:" + _digest(client_address), self.policy.registrations_per_address),
            ("register", self.policy.registrations_total),
        ]

    def _count(self, keys: list[tuple[str, int]], window: timedelta) -> None:
        """Refuse past a limit (TooManyRequestsError), else count one more attempt."""
        self._check_throttle(keys, window)
        self._record_failure(keys, window)

    def _check_throttle(self, keys: list[tuple[str, int]], window: timedelta | None = None) -> None:
        """TooManyRequestsError if any key has ``limit`` attempts in the window
        (the login failure window unless given). A limit of 0 is no limit."""
        keys = [(key, limit) for key, limit in keys if limit > 0]
        if not keys:
            return
        now = self.clock()
        window = window or self.policy.login_failure_window
        since = now - window
        # One round trip for all keys (see FailureLog.newest for why the sum is enough).
        newest = self.failures.newest([k for k, _ in keys], since, sum(n for _, n in keys))
        for key, limit in keys:
            times = newest[key]
            if len(times) < limit:
                continue
            retry_after = max(1, math.ceil((times[limit - 1] + window - now).total_seconds()))
            raise TooManyRequestsError(
                retry_after, f"too many attempts; try again in {retry_after} s"
            )

    def _record_failure(self, keys: list[tuple[str, int]], window: timedelta | None = None) -> None:
        counted = [key for key, limit in keys if limit > 0]
        if counted:
            self.failures.record(counted, self.clock(), window or self.policy.login_failure_window)

    def _issue(self, user: User, purpose: TokenPurpose, ttl: timedelta) -> None:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.tokens.insert(_key_hash(token), user.user_id, purpose, now, now + ttl)
        try:
            self.sender.send(TokenMessage(user, purpose, token, now + ttl))
        except Exception:  # a sender must not turn a stored token into a failed call
            log.exception("the token sender failed (%s for %r)", purpose, user.username)

    def _find_token(self, token: object, purpose: str) -> tuple[str, str]:
        """(token hash, user id) of a valid token, not yet consumed."""
        if not isinstance(token, str) or not token:
            raise UnauthenticatedAccessError(INVALID_TOKEN)
        token_hash = _key_hash(token)
        found = self.tokens.find(token_hash, purpose)
        if found is None:
            raise UnauthenticatedAccessError(INVALID_TOKEN)
        user_id, expires_at = found
        if expires_at <= self.clock():
            self.tokens.consume(token_hash, purpose)
            raise UnauthenticatedAccessError(INVALID_TOKEN)
        return token_hash, user_id

    def _redeem(self, token: object, purpose: str) -> str:
        """Consume a valid token (one delete: of two concurrent uses one wins); its user id."""
        token_hash, user_id = self._find_token(token, purpose)
        if not self.tokens.consume(token_hash, purpose):
            raise UnauthenticatedAccessError(INVALID_TOKEN)
        return user_id


def _username_key(username: str) -> str:
    """The form that uniqueness, login and prefix search use: NFKC, case-folded.

    Case and compatibility variants (full-width letters, ligatures) map to one key.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def _prefix_key(prefix: str | None) -> str | None:
    if prefix is not None and not isinstance(prefix, str):
        raise ConstraintViolationError("the prefix must be a string")
    if prefix and not _storable(prefix):
        raise ConstraintViolationError("the prefix contains a lone surrogate")
    return _username_key(prefix) if prefix else None


def _token(api_key: object) -> str | None:
    """The token of an ApiKey or of its string; None for anything else."""
    token = api_key.token if isinstance(api_key, ApiKey) else api_key
    return token if isinstance(token, str) and token else None


_SESSION_ID = re.compile(r"[0-9a-f]{64}")  # what _key_hash makes


def _key_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _storable(text: str) -> bool:
    """Whether the text can be sent to the server (BSON refuses lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
