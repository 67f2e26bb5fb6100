"""Bearer authentication, shared by GraphQL and the file route.

Who may do what to a group is the library's rule (``caller=`` on every
group method); the gateway only says who the caller is.

The only credential is ``Authorization: Bearer <api key>`` (no cookies), so
a cross-site page cannot make a browser send an authenticated request.
A request that carries a key which is malformed, unknown or expired fails
with UNAUTHENTICATED; it never silently runs as anonymous (flowserv did).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool

import groupstore
from graphql_api.errors import HTTPError


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The API key of the ``Authorization`` header; None when there is no header."""
    header = headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPError(
            groupstore.UnauthenticatedAccessError(
                "the Authorization header must be 'Bearer <api key>'"
            )
        )
    return token


async def authenticate(
    store: groupstore.GroupStore, headers: Mapping[str, str]
) -> tuple[groupstore.User | None, str | None]:
    """(user, token) of the request; (None, None) for anonymous; HTTPError for a bad key."""
    token = bearer_token(headers)
    if token is None:
        return None, None
    try:
        user = await run_in_threadpool(store.users.authenticate, token)
    except groupstore.GroupStoreError as exc:
        raise HTTPError(exc) from exc
    return user, token


def require_user(user: groupstore.User | None) -> groupstore.User:
    if user is None:
        raise groupstore.UnauthenticatedAccessError(
            "not logged in: send 'Authorization: Bearer <api key>'"
        )
    return user
