"""The gateway vs a plain Starlette route over the same library calls, over HTTP.

Starts two uvicorn processes on free loopback ports (``gateway_apps.py``):
the real gateway (``create_app``) and plain JSON routes that authenticate
the same Bearer key and call the same library methods, both on the same
data (in memory by default: each process seeds its own; with ``--uri`` both
share one database, seeded by this script). Then, per case and number of
concurrent clients (one ``httpx.AsyncClient`` each, keep-alive), it runs
the case against one server after the other for ``--seconds`` (or
``--max-requests``), and prints one table: ops/s, p50/p99 latency and the
server process's CPU time per request for each; GraphQL's ops/s as a share
of the plain route's, and the same share computed from CPU per request (what
the throughput ratio becomes once the server, not this load generator or a
neighbour on the machine, is the bottleneck). Figures only; nothing here is
asserted.

    .venv/bin/python bench/bench_gateway.py                 # 5 s per cell, in memory
    .venv/bin/python bench/bench_gateway.py --quick         # 1 s per cell, few requests
    .venv/bin/python bench/bench_gateway.py --uri mongodb://127.0.0.1:27107/
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway_apps

HERE = Path(__file__).resolve().parent
GROUP = "query($id: ID!) { group(id: $id) { id name members { username } } }"
PAGE = (
    "{ groups(first: 50) { nodes { id name members { username } } "
    "pageInfo { hasNextPage endCursor } } }"
)
UPLOAD = "mutation($g: ID!, $f: Upload!) { uploadFile(groupId: $g, file: $f) { id size } }"
START_TIMEOUT = 120.0

# One request of a case: (client, seed data of its user, request number) -> checked response.
Op = Callable[[httpx.AsyncClient, dict[str, Any], int], Awaitable[None]]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: IO[bytes]
    seed: dict[str, Any] | None = None
    """What the process seeded its own store with (in memory), from its seed file."""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-5000:]


@dataclass
class Cell:
    ops_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_op: float
    client_cpu_ms_per_op: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def servers(env: dict[str, str], seed_sizes: gateway_apps.Sizes | None) -> Iterator[list[Server]]:
    """The gateway and the plain app, started together; each seeds its store if asked."""
    started: list[Server] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name in ("gateway", "plain"):
                port = _free_port()
                process_env = {
                    k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")
                }
                process_env.update(env, PYTHONUNBUFFERED="1")
                if seed_sizes is not None:
                    process_env["GWBENCH_SEED"] = json.dumps(dataclasses.asdict(seed_sizes))
                    process_env["GWBENCH_SEED_FILE"] = f"{tmp}/{name}.json"
                log = open(f"{tmp}/{name}.log", "w+b")  # noqa: SIM115 (closed below)
                process = subprocess.Popen(
                    [sys.executable, str(HERE / "gateway_apps.py"), name, "--port", str(port)],
                    env=process_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                started.append(Server(name, process, f"http://127.0.0.1:{port}", log))
            for server in started:
                _wait_healthy(server)
                if seed_sizes is not None:
                    server.seed = json.loads(Path(f"{tmp}/{server.name}.json").read_text())
            try:
                yield started
            except BaseException:
                for server in started:  # why a request failed is in the server's log
                    print(f"--- {server.name} log:\n{server.output()}", file=sys.stderr)
                raise
        finally:
            for server in started:
                if server.process.poll() is None:
                    server.process.terminate()
                    try:
                        server.process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        server.process.kill()
                        server.process.wait()
                server.log.close()


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited at start-up:\n{server.output()}")
            with contextlib.suppress(httpx.TransportError):
                if http.get(f"{server.url}/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not start within {START_TIMEOUT} s:\n{server.output()}")


# -- the cases ----------------------------------------------------------------------


def _auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


def _pick(user: dict[str, Any], n: int) -> tuple[str, str]:
    group_id, file_id = user["files"][n % len(user["files"])]
    return group_id, file_id


def _ok(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    body = response.json()
    if isinstance(body, dict) and body.get("errors"):
        raise RuntimeError(f"{response.request.url}: {body['errors']}")
    return body


async def gql_group(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
    group_id, _ = _pick(user, n)
    body = {"query": GROUP, "variables": {"id": group_id}}
    data = _ok(await http.post("/graphql", json=body, headers=_auth(user)))["data"]
    assert data["group"]["id"] == group_id and data["group"]["members"]


async def plain_group(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
    group_id, _ = _pick(user, n)
    data = _ok(await http.get(f"/plain/groups/{group_id}", headers=_auth(user)))
    assert data["id"] == group_id and data["members"]


async def gql_page(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
    data = _ok(await http.post("/graphql", json={"query": PAGE}, headers=_auth(user)))["data"]
    assert len(data["groups"]["nodes"]) == 50


async def plain_page(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
    data = _ok(await http.get("/plain/groups", headers=_auth(user)))
    assert len(data["nodes"]) == 50


def _content(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + b"x" * (size % 256)


def gql_upload(size: int) -> Op:
    content = _content(size)

    async def op(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
        group_id, _ = _pick(user, n)
        operations = {"query": UPLOAD, "variables": {"g": group_id, "f": None}}
        response = await http.post(
            "/graphql",
            headers={**_auth(user), "GraphQL-Require-Preflight": "1"},
            files={
                "operations": (None, json.dumps(operations)),
                "map": (None, json.dumps({"0": ["variables.f"]})),
                "0": (f"up{n}.bin", content, "application/octet-stream"),
            },
        )
        assert _ok(response)["data"]["uploadFile"]["size"] == size

    return op


def plain_upload(size: int) -> Op:
    content = _content(size)

    async def op(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
        group_id, _ = _pick(user, n)
        response = await http.post(
            f"/plain/files/{group_id}",
            headers=_auth(user),
            files={"file": (f"up{n}.bin", content, "application/octet-stream")},
        )
        assert _ok(response)["size"] == size

    return op


def download(prefix: str, size: int) -> Op:
    async def op(http: httpx.AsyncClient, user: dict[str, Any], n: int) -> None:
        group_id, file_id = _pick(user, n)
        response = await http.get(f"{prefix}/{group_id}/{file_id}", headers=_auth(user))
        if response.status_code != 200 or len(response.content) != size:
            raise RuntimeError(f"{response.request.url}: {response.status_code}")

    return op


@dataclass(frozen=True)
class Case:
    name: str
    clients: tuple[int, ...]
    gateway: Op
    plain: Op


CASES = ("group", "page", "download", "upload")


def cases(file_bytes: int, names: tuple[str, ...] = CASES) -> list[Case]:
    """The cases named, in CASES order (downloads first: uploads make the store grow)."""
    kib = f"{file_bytes // 1024}k"
    every = {
        "group": Case("group(id)", (1, 32), gql_group, plain_group),
        "page": Case("groups(first: 50) + members", (1, 32), gql_page, plain_page),
        "download": Case(
            f"download {kib}",
            (32,),
            download("/files", file_bytes),
            download("/plain/files", file_bytes),
        ),
        "upload": Case(f"upload {kib}", (32,), gql_upload(file_bytes), plain_upload(file_bytes)),
    }
    return [every[name] for name in CASES if name in names]


# -- running a cell -----------------------------------------------------------------


async def _load(
    server: Server,
    users: list[dict[str, Any]],
    op: Op,
    clients: int,
    seconds: float,
    max_requests: int,
    warmup: int,
) -> Cell:
    # One connection per client, each its own httpx client: a shared pool of 32
    # connections costs the load generator far more CPU per request.
    async with contextlib.AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=60))
            for _ in range(clients)
        ]
        # Warm up: every client's connection open, caches and code paths hot.
        await asyncio.gather(*(op(https[c], users[c % len(users)], c) for c in range(clients)))
        for n in range(warmup):
            await op(https[0], users[n % len(users)], n)

        latencies: list[float] = []
        issued = 0
        deadline = time.perf_counter() + seconds

        async def client(c: int) -> None:
            nonlocal issued
            http, user = https[c], users[c % len(users)]
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                n = issued
                started = time.perf_counter()
                await op(http, user, n)
                latencies.append(time.perf_counter() - started)

        cpu, own = server.cpu_seconds(), time.process_time()
        began = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.perf_counter() - began
        cpu, own = server.cpu_seconds() - cpu, time.process_time() - own
    latencies.sort()
    count = len(latencies)
    return Cell(
        ops_per_second=count / elapsed,
        p50_ms=1000 * latencies[count // 2],
        p99_ms=1000 * latencies[min(count - 1, int(count * 0.99))],
        cpu_ms_per_op=1000 * cpu / count,
        client_cpu_ms_per_op=1000 * own / count,
    )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


HEADER = (
    "| case | clients | GraphQL ops/s | p50 ms | p99 ms | CPU ms/op "
    "| plain ops/s | p50 ms | p99 ms | CPU ms/op | GraphQL/plain | by CPU |"
)


def run(
    gateway: Server,
    plain: Server,
    seeds: dict[str, dict[str, Any]],
    file_bytes: int,
    seconds: float,
    max_requests: int,
    warmup: int,
    names: tuple[str, ...] = CASES,
) -> str:
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    client_cpu: list[float] = []
    for case in cases(file_bytes, names):
        for clients in case.clients:
            cells = [
                asyncio.run(
                    _load(
                        server,
                        seeds[server.name]["users"],
                        op,
                        clients,
                        seconds,
                        max_requests,
                        warmup,
                    )
                )
                for server, op in ((gateway, case.gateway), (plain, case.plain))
            ]
            g, p = cells
            row = [case.name, str(clients)]
            for cell in cells:
                row += [_fmt(cell.ops_per_second), _fmt(cell.p50_ms), _fmt(cell.p99_ms)]
                row.append(_fmt(cell.cpu_ms_per_op))
            row.append(f"{g.ops_per_second / p.ops_per_second:.2f}")
            # (CPU time is counted in clock ticks: a very short cell may show none.)
            row.append(f"{p.cpu_ms_per_op / g.cpu_ms_per_op if g.cpu_ms_per_op else 0:.2f}")
            client_cpu += [cell.client_cpu_ms_per_op for cell in cells]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    lines.append(
        f"\nLoad generator (this process, httpx): {min(client_cpu):.2f} to "
        f"{max(client_cpu):.2f} CPU ms per request."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 s per cell, few requests")
    parser.add_argument("--seconds", type=float, help="per cell (default 5; --quick: 1)")
    parser.add_argument("--max-requests", type=int, help="per cell (default 1,000,000)")
    parser.add_argument("--uri", help="a MongoDB server for both (default: each in memory)")
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated, of {','.join(CASES)} (default: all)",
    )
    args = parser.parse_args(argv)
    names = tuple(name.strip() for name in args.cases.split(","))
    unknown = set(names) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if args.quick:
        sizes = gateway_apps.Sizes(users=8, groups=64, members=8)
        seconds, max_requests, warmup = 1.0, 200, 5
    else:
        sizes = gateway_apps.Sizes()
        seconds, max_requests, warmup = 5.0, 1_000_000, 50
    seconds = args.seconds if args.seconds is not None else seconds
    max_requests = args.max_requests if args.max_requests is not None else max_requests
    database = f"gwbench_{time.time_ns()}"
    env = {
        "GROUPSTORE_MONGO_URI": args.uri or "mongomock://",
        "GROUPSTORE_DATABASE": database,
    }
    shared: dict[str, Any] | None = None
    store = None
    if args.uri:  # one database for both: seeded here, once
        from graphql_api.settings import Settings

        store = gateway_apps.open_store(Settings(mongo_uri=args.uri, database=database))
        shared = gateway_apps.seed(store, sizes)
    try:
        with servers(env, None if shared else sizes) as (gateway, plain):
            seeds = {server.name: shared or server.seed or {} for server in (gateway, plain)}
            table = run(
                gateway,
                plain,
                seeds,
                sizes.file_bytes,
                seconds,
                max_requests,
                warmup,
                names,
            )
    finally:
        if store is not None:
            store.client.drop_database(database)
            store.close()
    where = f"MongoDB at {args.uri}" if args.uri else "in memory (mongomock), one store per process"
    return (
        f"Store: {where}; {sizes.users} users, {sizes.groups} groups of {sizes.members} members, "
        f"one {sizes.file_bytes // 1024} KiB file each; {seconds:g} s or {max_requests:,} "
        f"requests per cell; uvicorn, one worker per server, h11.\n\n{table}"
    )


if __name__ == "__main__":
    print(main())
