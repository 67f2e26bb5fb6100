"""Signed, short-lived download URLs (``UploadedFile.signedUrl``).

A browser cannot add ``Authorization`` to a link or to ``<a href download>``,
so a member asks for a signed URL instead: the file route plus the query
parameters ``user``, ``session``, ``expires`` (Unix seconds) and ``sig``, an
HMAC-SHA256 over group, file, user, session and expiry keyed with the
server's secret (``GROUPSTORE_SIGNING_SECRET``). The file route accepts such
a URL in place of the Bearer header. It checks the signature (constant
time), then the expiry, then that the session (the API key) that asked for
the link is still open, then, in the same read as a Bearer download, that
the user is still a member: a logout, a password reset, or removing someone
from the group invalidates their links at once. ``session`` is the key's
stored digest (``UserManager.session_id``): it names the session without
revealing the key.

A link is a bearer credential for one file until it expires: whoever holds it
can download that file. Keep lifetimes short (minutes); the maximum is bounded
by ``GROUPSTORE_SIGNED_URL_MAX_TTL_SECONDS``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request

import groupstore
from graphql_api.auth import authenticate, require_user
from graphql_api.errors import BadRequest, InvalidSignature, SignatureExpired
from graphql_api.origin import public_url_for
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api")

SIGNATURE_PARAM = "sig"
USER_PARAM = "user"
SESSION_PARAM = "session"
EXPIRES_PARAM = "expires"
_VERSION = "v2"  # v1 links (no session) are refused: their signatures no longer match

RANDOM_SECRET_WARNING = (
    "GROUPSTORE_SIGNING_SECRET is not set: signed download URLs use a random key of this "
    "process, so a link works only on the process that made it and until it restarts "
    "(set the same secret on every gateway process)"
)


class Signer:
    """Makes and checks the signature of download URLs with one secret key."""

    def __init__(
        self,
        secret: bytes,
        *,
        default_ttl: int = 300,
        max_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = secret
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        """The settings' secret, or a random one per process (with a warning)."""
        if settings.signing_secret is None:
            logger.warning(RANDOM_SECRET_WARNING)
            secret = secrets.token_bytes(32)
        else:
            secret = settings.signing_secret.encode()
        return cls(
            secret,
            default_ttl=settings.signed_url_ttl_seconds,
            max_ttl=settings.signed_url_max_ttl_seconds,
        )

    def signature(
        self, group_id: str, file_id: str, user_id: str, session: str, expires: int
    ) -> str:
        # A JSON array keeps the fields apart whatever characters the ids hold.
        message = json.dumps([_VERSION, group_id, file_id, user_id, session, expires]).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(
        self,
        group_id: str,
        file_id: str,
        user_id: str,
        session: str,
        ttl_seconds: int | None = None,
    ) -> dict[str, str]:
        """The query parameters that let ``user_id`` download the file for ``ttl_seconds``

        while ``session`` (the id of the key that asked) stays open."""
        ttl = self.default_ttl if ttl_seconds is None else ttl_seconds
        if not 1 <= ttl <= self.max_ttl:
            raise BadRequest(f"ttlSeconds must be between 1 and {self.max_ttl}")
        expires = int(self.clock()) + ttl
        return {
            USER_PARAM: user_id,
            SESSION_PARAM: session,
            EXPIRES_PARAM: str(expires),
            SIGNATURE_PARAM: self.signature(group_id, file_id, user_id, session, expires),
        }

    def verify(self, group_id: str, file_id: str, params: Mapping[str, str]) -> tuple[str, str]:
        """The user and session a valid, unexpired signature was made for.

        INVALID_SIGNATURE for a missing, malformed or altered parameter (or an
        expiry further away than the longest lifetime); SIGNATURE_EXPIRED after
        the expiry.
        """
        user_id = params.get(USER_PARAM)
        session = params.get(SESSION_PARAM)
        expires_text = params.get(EXPIRES_PARAM, "")
        given = params.get(SIGNATURE_PARAM, "")
        if not user_id or not session or not expires_text.isascii() or not expires_text.isdigit():
            raise InvalidSignature()
        expires = int(expires_text)
        expected = self.signature(group_id, file_id, user_id, session, expires)
        try:
            given_bytes = base64.urlsafe_b64decode(given + "=" * (-len(given) % 4))
        except (binascii.Error, ValueError):
            raise InvalidSignature() from None
        expected_bytes = base64.urlsafe_b64decode(expected + "=" * (-len(expected) % 4))
        if not hmac.compare_digest(given_bytes, expected_bytes):
            raise InvalidSignature()
        now = self.clock()
        if expires <= now:
            raise SignatureExpired()
        if expires - now > self.max_ttl + 1:
            # Made when the maximum was larger (or with a leaked key): not honoured.
            raise InvalidSignature("the link's lifetime is longer than the server allows")
        return user_id, session


def is_signed(params: Mapping[str, str]) -> bool:
    """Whether a request tries the signature path (any of its parameters present)."""
    return any(
        name in params for name in (SIGNATURE_PARAM, USER_PARAM, SESSION_PARAM, EXPIRES_PARAM)
    )


async def download_caller(
    request: Request, store: groupstore.GroupStore, group_id: str, file_id: str
) -> str:
    """The user a file request acts for: a valid signature's, else the Bearer key's.

    A request with any signature parameter is judged by the signature alone;
    without them it needs the Bearer header. A bare URL is never enough.
    """
    if is_signed(request.query_params):
        user_id, session = get_signer(request).verify(group_id, file_id, request.query_params)
        try:
            user = await run_in_threadpool(store.users.authenticate_session, session)
        except groupstore.UnauthenticatedAccessError as exc:
            raise groupstore.UnauthenticatedAccessError(
                "the session that made this link has ended (logged out or expired)"
            ) from exc
        if user.user_id != user_id:  # (the signature binds them: a forged key only)
            raise InvalidSignature()
        return user_id
    return require_user((await authenticate(store, request.headers))[0]).user_id


def get_signer(connection: HTTPConnection) -> Signer:
    """The app's signer (made by ``create_app``)."""
    signer: Signer = connection.app.state.signer
    return signer


def file_url(
    connection: HTTPConnection,
    group_id: str,
    file_id: str,
    params: Mapping[str, str] | None = None,
) -> str:
    """The absolute URL of the file route, with ``params`` as its query string.

    Its base is the public one (``graphql_api.origin``), over HTTP or a WebSocket.
    """
    url = public_url_for(connection, "download", group_id=group_id, file_id=file_id)
    return f"{url}?{urlencode(params)}" if params else url
