"""Users, logins and API keys.

Passwords are hashed with Argon2id (argon2-cffi); API keys are random
256-bit tokens stored only as their SHA-256 digest. Each login issues a new
key, so logging in again leaves earlier sessions valid until they expire or
log out (flowserv reused one plain-text key per user).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import timedelta
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from groupstore.errors import (
    ConstraintViolationError,
    UnauthenticatedAccessError,
    UnknownUserError,
)
from groupstore.model import ApiKey, User
from groupstore.storage.backend import StorageLike, storage_of
from groupstore.storage.documents import utc_now
from groupstore.validation import validate_name

DEFAULT_TOKEN_TTL = timedelta(hours=24)
MAX_PASSWORD_LENGTH = 1024  # Argon2 takes any length; this bounds the work a request can cause


class UserManager:
    """Register, activate, list and authenticate users."""

    def __init__(
        self,
        db: StorageLike,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        self.users = storage_of(db).users
        self.token_ttl = token_ttl
        self.hasher = password_hasher or PasswordHasher()

    @cached_property
    def _decoy_hash(self) -> str:
        # Verified against when the user is unknown, so that a failed login
        # takes as long whether or not the name exists.
        return self.hasher.hash(secrets.token_hex(16))

    def register_user(self, username: str, password: str, verify: bool = False) -> User:
        """A new user, active unless ``verify``; DuplicateUserError if the name is taken.

        Names are unique regardless of case (``Alice`` and ``alice`` are one
        account); the name is stored as given, less surrounding whitespace.
        Passwords are used exactly as given, never stripped.
        """
        username = validate_name(username, "user name")
        _validate_password(password)
        user = User(
            user_id=uuid.uuid4().hex, username=username, active=not verify, created_at=utc_now()
        )
        self.users.insert(user, _username_key(username), self.hasher.hash(password))
        return user

    def activate_user(self, user_id: str) -> User:
        user = self.users.activate(user_id)
        if user is None:
            raise UnknownUserError(user_id)
        return user

    def get_user(self, user_id: str, active: bool | None = None) -> User:
        """The user; ``active`` True/False restricts to active/inactive users."""
        user = self.users.get(user_id, active=active)
        if user is None:
            raise UnknownUserError(user_id)
        return user

    def get_users(self, user_ids: Iterable[str]) -> list[User]:
        """The existing users among ``user_ids``, in one round trip (unknown ids are left out)."""
        return self.users.get_many(user_ids)

    def active_user_ids(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` that name active users, in one round trip."""
        return self.users.active_ids(user_ids)

    def list_users(self, prefix: str | None = None) -> list[User]:
        """Active users ordered by name, optionally those whose name starts with ``prefix``."""
        return self.users.list_active(_username_key(prefix) if prefix else None)

    def login_user(self, username: str, password: str) -> ApiKey:
        """A new API key; UnknownUserError for an unknown, inactive user or a wrong password."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise UnknownUserError(str(username))
        found = self.users.get_credentials(_username_key(username.strip()))
        if found is None:
            self._verify(self._decoy_hash, password)
            raise UnknownUserError(username)
        user, secret = found
        if not self._verify(secret, password):
            raise UnknownUserError(username)
        if self.hasher.check_needs_rehash(secret):
            self.users.set_secret(user.user_id, self.hasher.hash(password))
        token = secrets.token_urlsafe(32)
        expires_at = utc_now() + self.token_ttl
        self.users.insert_key(_key_hash(token), user, expires_at)
        return ApiKey(token=token, user=user, expires_at=expires_at)

    def logout_user(self, api_key: str | ApiKey) -> User | None:
        """End the session of that key; the user it belonged to, or None for an unknown key."""
        token = _token(api_key)
        return None if token is None else self.users.delete_key(_key_hash(token))

    def authenticate(self, api_key: str | ApiKey | None) -> User:
        """The user of a valid key (one round trip); UnauthenticatedAccessError otherwise."""
        token = _token(api_key)
        if token is None:
            raise UnauthenticatedAccessError()
        found = self.users.find_key(_key_hash(token))
        if found is None:
            raise UnauthenticatedAccessError()
        user, expires_at = found
        if expires_at <= utc_now():
            raise UnauthenticatedAccessError("the API key has expired")
        return user

    def _verify(self, secret: str, password: str) -> bool:
        try:
            return self.hasher.verify(secret, password)
        except (VerificationError, InvalidHashError):
            return False


def _validate_password(password: object) -> None:
    if not isinstance(password, str) or not password.strip():
        raise ConstraintViolationError("empty password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ConstraintViolationError(f"password is longer than {MAX_PASSWORD_LENGTH} characters")


def _username_key(username: str) -> str:
    """The case-insensitive form that uniqueness, login and prefix search use."""
    return username.casefold()


def _token(api_key: object) -> str | None:
    """The token of an ApiKey or of its string; None for anything else."""
    token = api_key.token if isinstance(api_key, ApiKey) else api_key
    return token if isinstance(token, str) and token else None


def _key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
