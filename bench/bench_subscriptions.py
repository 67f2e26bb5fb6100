"""Subscription delivery: from an upload's response to every subscriber's message.

Starts ``python -m graphql_api`` (events polled from the change log) on the suite's backend
(``GROUPSTORE_TEST_MONGO_URI``, else in memory), opens ``--subscribers``
sockets subscribed to ``filesChanged`` of one group, and makes ``--uploads``
uploads one after another from another member. For each upload it records
the time from the mutation's response until the last subscriber received the
message (the group is read once per upload for all subscribers).
Figures only; nothing here is asserted.

    .venv/bin/python bench/bench_subscriptions.py --subscribers 20 --uploads 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.server import running_gateway

SUBSCRIPTION = "subscription($g: ID!) { filesChanged(groupId: $g) { kind fileId } }"
UPLOAD = "mutation($g: ID!, $f: Upload!) { uploadFile(groupId: $g, file: $f) { id } }"


async def graphql(http: httpx.AsyncClient, query: str, token: str | None = None, **v: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": v}, headers=headers)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def user(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    reg = "mutation($u: String!, $p: String!) { registerUser(username: $u, password: $p) { id } }"
    log = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"
    user_id = (await graphql(http, reg, u=name, p=name + "-password"))["registerUser"]["id"]
    token = (await graphql(http, log, u=name, p=name + "-password"))["login"]["token"]
    return user_id, token


async def run(url: str, subscribers: int, uploads: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        _, alice = await user(http, f"alice{time.time_ns()}")
        bob_id, bob = await user(http, f"bob{time.time_ns()}")
        wf = await graphql(http, 'mutation { createWorkflow(name: "b") { id } }', alice)
        group = (
            await graphql(
                http,
                "mutation($w: ID!, $n: String!, $m: [ID!]) "
                "{ createGroup(workflowId: $w, name: $n, members: $m) { id } }",
                alice,
                w=wf["createWorkflow"]["id"],
                n=f"g{time.time_ns()}",
                m=[bob_id],
            )
        )["createGroup"]["id"]

        received: dict[str, list[float]] = {}
        ready = asyncio.Barrier(subscribers + 1)

        async def subscriber() -> None:
            transport = WebsocketsTransport(
                url="ws" + url.removeprefix("http") + "/graphql",
                init_payload={"Authorization": f"Bearer {alice}"},
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            )
            async with Client(transport=transport) as session:
                request = GraphQLRequest(SUBSCRIPTION, variable_values={"g": group})
                stream = session.subscribe(request)
                await anext(stream)  # INITIAL: listening
                await ready.wait()
                for _ in range(uploads):
                    message = await anext(stream)
                    received.setdefault(message["filesChanged"]["fileId"], []).append(
                        time.perf_counter()
                    )
                await stream.aclose()

        tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
        await ready.wait()
        latencies = []
        for n in range(uploads):
            operations = {"query": UPLOAD, "variables": {"g": group, "f": None}}
            response = await http.post(
                "/graphql",
                headers={"Authorization": f"Bearer {bob}", "GraphQL-Require-Preflight": "1"},
                files={
                    "operations": (None, json.dumps(operations)),
                    "map": (None, json.dumps({"0": ["variables.f"]})),
                    "0": (f"f{n}.txt", b"x" * 100, "text/plain"),
                },
            )
            answered = time.perf_counter()
            file_id = response.json()["data"]["uploadFile"]["id"]
            while len(received.get(file_id, [])) < subscribers:
                await asyncio.sleep(0.001)
            latencies.append(max(received[file_id]) - answered)
        await asyncio.gather(*tasks)
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    # One user holds every socket: lift the per-user socket bound to the count asked for.
    bound = str(max(args.subscribers, 20))
    with running_gateway(GROUPSTORE_WS_MAX_SOCKETS_PER_USER=bound) as gateway:
        latencies = asyncio.run(run(gateway.url, args.subscribers, args.uploads))
    ms = sorted(1000 * value for value in latencies)
    print(
        f"{args.subscribers} subscribers, {args.uploads} uploads: "
        f"after the upload's response, all subscribers had the message within "
        f"median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
