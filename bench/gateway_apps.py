"""The two servers of ``bench_gateway.py``: the gateway, and a plain Starlette route.

    python bench/gateway_apps.py gateway --port 8001
    python bench/gateway_apps.py plain --port 8002

Each process opens its store (``GROUPSTORE_MONGO_URI``, in memory by
default) and, when ``GWBENCH_SEED`` holds a JSON ``Sizes`` object, first fills
it with users, groups and one file per group, logs each user in through the
library and writes the ids and API keys to ``GWBENCH_SEED_FILE`` (each
in-memory process has its own data, so each seeds its own). Then it serves
with uvicorn exactly as ``python -m graphql_api`` does (``server_options``:
h11 with the header timeout, one worker, no uvicorn access log).

``plain`` is the stack's limit: Starlette routes that authenticate the same
Bearer key and call the same library methods as the gateway's resolvers and
file route, with no GraphQL, middleware or observability between.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import groupstore
from graphql_api.__main__ import server_options
from graphql_api.app import create_app
from graphql_api.observability import configure_logging
from graphql_api.settings import Settings

PASSWORD = "gwbench-password"
# Seeding logs every user in: cheap hashing, since no benchmarked request hashes a password.
CHEAP_HASHING = groupstore.AccountPolicy(
    argon2=groupstore.Argon2Parameters(time_cost=1, memory_kib=8, parallelism=1)
)


@dataclass(frozen=True)
class Sizes:
    users: int = 32
    groups: int = 256
    members: int = 8  # per group, owner included
    file_bytes: int = 64 * 1024


def open_store(settings: Settings) -> groupstore.GroupStore:
    return groupstore.connect(
        settings.mongo_uri,
        settings.database,
        timeout=settings.store_timeout_seconds,
        policy=CHEAP_HASHING,
    )


def seed(store: groupstore.GroupStore, sizes: Sizes) -> dict[str, Any]:
    """Users, one workflow, groups of ``members`` users each, one file per group.

    Group g has the users (g * members + k) % users, k < members; the first is
    its owner. Returns, per user: id, API key, the groups it belongs to and one
    (group, file) of each.
    """
    suffix = os.urandom(4).hex()  # a real server may keep an earlier run's data
    users = [
        store.users.register_user(f"gwbench{n}_{suffix}", PASSWORD) for n in range(sizes.users)
    ]
    tokens = [store.users.login_user(user.username, PASSWORD).token for user in users]
    workflow = store.workflows.create_workflow(f"gwbench_{suffix}")
    mine: dict[str, list[tuple[str, str]]] = {user.user_id: [] for user in users}
    content = os.urandom(sizes.file_bytes)
    for g in range(sizes.groups):
        ids = [users[(g * sizes.members + k) % sizes.users].user_id for k in range(sizes.members)]
        group = store.groups.create_group(
            workflow.workflow_id, f"group{g}", user_id=ids[0], members=ids
        )
        uploaded = store.groups.upload_file(group.group_id, content, f"file{g}.bin")
        for user_id in set(ids):
            mine[user_id].append((group.group_id, uploaded.file_id))
    return {
        "users": [
            {"id": user.user_id, "token": token, "files": mine[user.user_id]}
            for user, token in zip(users, tokens, strict=True)
        ]
    }


def _seeded_store(settings: Settings) -> groupstore.GroupStore:
    store = open_store(settings)
    raw = os.environ.get("GWBENCH_SEED")
    if raw:
        data = seed(store, Sizes(**json.loads(raw)))
        Path(os.environ["GWBENCH_SEED_FILE"]).write_text(json.dumps(data))
    return store


# -- the plain route ------------------------------------------------------------


class Unauthenticated(Exception):
    pass


def plain_app(store: groupstore.GroupStore) -> Starlette:
    """JSON routes over the library: one group, a page of 50, upload, download."""

    async def caller(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated()
        try:
            user = await run_in_threadpool(store.users.authenticate, token.strip())
        except groupstore.GroupStoreError as exc:
            raise Unauthenticated() from exc
        return user.user_id

    async def get_group(request: Request) -> Response:
        user_id = await caller(request)
        group = await run_in_threadpool(
            partial(store.groups.get_group, caller=user_id), request.path_params["group_id"]
        )
        return JSONResponse(_group_json(group))

    async def list_groups(request: Request) -> Response:
        user_id = await caller(request)
        page = await run_in_threadpool(
            partial(store.groups.list_groups_page, user_id=user_id, first=50, caller=user_id)
        )
        return JSONResponse(
            {
                "nodes": [_group_json(group) for _, group in page.items],
                "pageInfo": {
                    "hasNextPage": page.has_next_page,
                    "endCursor": page.items[-1][0] if page.items else None,
                },
            }
        )

    async def upload(request: Request) -> Response:
        user_id = await caller(request)
        async with request.form() as form:
            file = form["file"]
            assert isinstance(file, UploadFile)
            uploaded = await run_in_threadpool(
                partial(store.groups.upload_file, caller=user_id),
                request.path_params["group_id"],
                file.file,
                file.filename or "upload",
            )
        return JSONResponse({"id": uploaded.file_id, "size": uploaded.size})

    async def download(request: Request) -> Response:
        user_id = await caller(request)
        handle = await run_in_threadpool(
            partial(store.groups.get_uploaded_file, caller=user_id),
            request.path_params["group_id"],
            request.path_params["file_id"],
        )

        def read() -> bytes:
            with handle.open() as stream:
                return stream.read()

        return Response(await run_in_threadpool(read), media_type=handle.mime_type)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def unauthenticated(request: Request, exc: Exception) -> Response:
        return JSONResponse({"code": "UNAUTHENTICATED"}, status_code=401)

    async def refused(request: Request, exc: Exception) -> Response:
        return JSONResponse({"code": getattr(exc, "code", "ERROR")}, status_code=400)

    return Starlette(
        routes=[
            Route("/plain/groups", list_groups),
            Route("/plain/groups/{group_id}", get_group),
            Route("/plain/files/{group_id}", upload, methods=["POST"]),
            Route("/plain/files/{group_id}/{file_id}", download),
            Route("/healthz", healthz),
        ],
        exception_handlers={
            Unauthenticated: unauthenticated,
            groupstore.GroupStoreError: refused,
        },
    )


def _group_json(group: groupstore.GroupSummary) -> dict[str, Any]:
    body: dict[str, Any] = {"id": group.group_id, "name": group.name}
    if isinstance(group, groupstore.Group):
        body["members"] = [{"username": member.username} for member in group.members]
    return body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("app", choices=["gateway", "plain"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = dataclasses.replace(Settings.from_env(), host="127.0.0.1", port=args.port)
    configure_logging(settings)
    store = _seeded_store(settings)
    # The gateway gets the store injected (its lifespan would open a second, empty one
    # in memory); everything else is create_app's, with the settings of the environment.
    app = create_app(store=store, settings=settings) if args.app == "gateway" else plain_app(store)
    uvicorn.run(app, **server_options(settings))


if __name__ == "__main__":
    main()
