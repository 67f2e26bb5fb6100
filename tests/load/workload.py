"""A bounded mixed workload against a gateway, a ledger of what it acknowledged, and the checks.

``Client`` tasks (asyncio + httpx, one per simulated user) loop over mixed
operations on a few *shared* groups for a fixed time: uploads (small, and a
few larger), downloads through ``/files``, deletes of their own files, group
and file listings, renames of the shared groups, and membership changes.
Each operation is recorded with its start, end and outcome:

* ``ok``: the client got a success: an *acknowledged* write;
* ``rejected``: a coded error that promises nothing changed (UNKNOWN_FILE...);
* ``unavailable``: STORE_UNAVAILABLE; ``unknown``: no answer (timeout, broken
  connection). A write with either outcome may or may not have happened;
* ``internal``: INTERNAL or an uncoded error: always a failure.

Membership is designed to be deterministic: every client owns two
"satellite" users that only it adds to and removes from the shared groups
(with the groups' owner's key), and a private group whose member list only
it replaces (``updateGroup(members:)``). Renames of a shared group race
between clients, so the final name is checked as a register: it must come
from a rename that no acknowledged rename strictly followed. The same rule,
per key, covers membership: the final state must be the value of an
acknowledged or unknown write whose end is not before the start of the last
acknowledged one (an unknown write ends at infinity: it may land any time).

The checks after the run are in ``checks.py``, the figures in ``figures.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

import groupstore
from tests.support import cheap_hashing

KiB = 1024
MiB = 1024 * KiB
CSRF = {"GraphQL-Require-Preflight": "1"}
WRITES = ("upload", "upload_large", "delete", "rename", "add_member", "remove_member",
          "set_members")  # fmt: skip
# Operation kind -> relative weight in a client's random choice.
WEIGHTS = {
    "upload": 20,
    "upload_large": 1,
    "download": 15,
    "delete": 8,
    "list_files": 12,
    "list_groups": 6,
    "rename": 4,
    "membership": 12,  # add_member or remove_member of one of the client's satellites
    "set_members": 5,
}
# Codes an operation may be refused with, without anything being wrong.
EXPECTED_REJECTIONS: dict[str, set[str]] = {
    "download": {"UNKNOWN_FILE"},  # another client's file, deleted meanwhile
    "remove_member": {"CONSTRAINT_VIOLATION"},  # not a member (after an unknown write only)
}

UPLOAD = """mutation($group: ID!, $file: Upload!) {
  uploadFile(groupId: $group, file: $file) { id name size sha256 }
}"""
FILES = "query($g: ID!) { uploadedFiles(groupId: $g) { id name size sha256 } }"
GROUPS = (
    """{ groups(first: 100) { nodes { id name members { id } files { id name size sha256 } } } }"""
)
GROUP = """query($id: ID!) {
  group(id: $id) { id name isMember members { id } files { id name size sha256 } }
}"""
DELETE = "mutation($g: ID!, $f: ID!) { deleteFile(groupId: $g, fileId: $f) }"
RENAME = "mutation($id: ID!, $name: String!) { updateGroup(id: $id, name: $name) { id name } }"
SET_MEMBERS = """mutation($id: ID!, $members: [ID!]!) {
  updateGroup(id: $id, members: $members) { id members { id } }
}"""
ADD_MEMBER = "mutation($g: ID!, $u: ID!) { addMember(groupId: $g, userId: $u) { id } }"
REMOVE_MEMBER = "mutation($g: ID!, $u: ID!) { removeMember(groupId: $g, userId: $u) { id } }"


@dataclass(frozen=True)
class Config:
    clients: int = 32
    duration: float = 20.0  # seconds of load
    shared_groups: int = 4
    small_max: int = 64 * KiB
    large_size: int = 4 * MiB
    request_timeout: float = 120.0  # the client's own patience: "unknown" after this
    seed: int = 0


@dataclass
class Op:
    kind: str
    client: int
    start: float
    end: float = math.inf
    outcome: str = "unknown"
    code: str | None = None
    status: int | None = None
    key: tuple[Any, ...] | None = None  # the register a write sets (membership, name)
    value: Any = None  # the value it sets

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def may_have_written(self) -> bool:
        return self.outcome in ("ok", "unavailable", "unknown", "internal")


@dataclass
class Upload:
    op: Op
    group_id: str
    name: str
    size: int
    sha256: str
    file_id: str | None = None


@dataclass
class World:
    """What the setup made: users, keys and groups (ids), shared by all clients."""

    uri: str
    database: str
    workflow_id: str
    owner_id: str
    owner_keys: list[str]  # one API key of the groups' owner per client
    client_ids: list[str]
    client_keys: list[str]
    satellites: list[list[str]]  # per client: users only it adds and removes
    shared: list[str]  # shared group ids
    shared_names: dict[str, str]  # initial names
    private: list[str]  # per client: a group it owns and whose member list it replaces


@dataclass
class Ledger:
    ops: list[Op] = field(default_factory=list)
    uploads: dict[str, Upload] = field(default_factory=dict)  # by (unique) file name
    deletes: dict[str, list[Op]] = field(default_factory=lambda: defaultdict(list))
    violations: list[str] = field(default_factory=list)
    faults: list[tuple[str, float, float]] = field(default_factory=list)
    readyz: list[tuple[float, float, int]] = field(default_factory=list)  # start, seconds, status
    started: float = 0.0
    ended: float = 0.0

    def violation(self, text: str) -> None:
        self.violations.append(text)


def setup_world(uri: str, database: str, config: Config) -> World:
    """Users, API keys, a workflow and the groups, made through the library (fast, cheap hashes)."""
    with groupstore.connect(uri, database=database) as store:
        cheap_hashing(store)
        owner = store.users.register_user("owner", "owner-password")
        clients = [
            store.users.register_user(f"c{i}", f"c{i}-password") for i in range(config.clients)
        ]
        satellites = [
            [store.users.register_user(f"s{i}_{j}", "a long password").user_id for j in range(2)]
            for i in range(config.clients)
        ]  # fmt: skip
        workflow = store.workflows.create_workflow("load")
        client_ids = [c.user_id for c in clients]
        shared, names = [], {}
        for g in range(config.shared_groups):
            group = store.groups.create_group(
                workflow.workflow_id, f"shared-{g}", user_id=owner.user_id, members=client_ids
            )
            shared.append(group.group_id)
            names[group.group_id] = group.name
        private = [
            store.groups.create_group(
                workflow.workflow_id, f"private-{i}", user_id=c.user_id
            ).group_id
            for i, c in enumerate(clients)
        ]
        owner_keys = [store.users.login_user("owner", "owner-password").token for _ in clients]
        client_keys = [
            store.users.login_user(f"c{i}", f"c{i}-password").token for i in range(config.clients)
        ]
    return World(
        uri, database, workflow.workflow_id, owner.user_id, owner_keys, client_ids, client_keys,
        satellites, shared, names, private,
    )  # fmt: skip


def error_code(body: Any) -> str | None:
    try:
        code = body["errors"][0]["extensions"]["code"]
    except (KeyError, IndexError, TypeError):
        return None
    return str(code)


class Client:
    """One simulated user: a sequential loop of random operations, all recorded."""

    def __init__(
        self, index: int, world: World, ledger: Ledger, http: httpx.AsyncClient, config: Config
    ) -> None:
        self.i = index
        self.world = world
        self.ledger = ledger
        self.http = http
        self.config = config
        self.rng = random.Random(config.seed * 1000 + index)
        self.key = world.client_keys[index]
        self.owner_key = world.owner_keys[index]
        self.count = 0
        # Own acknowledged uploads not (being) deleted: file id -> Upload.
        self.own: dict[str, Upload] = {}
        self.seen: list[tuple[str, dict[str, Any]]] = []  # (group, file) from listings
        # Belief about each satellite's membership: True/False, None after an unknown write.
        self.member: dict[tuple[str, str], bool | None] = {
            (g, s): False for g in world.shared for s in world.satellites[index]
        }

    # -- plumbing -------------------------------------------------------------

    def _op(self, kind: str, **kwargs: Any) -> Op:
        op = Op(kind, self.i, time.monotonic(), **kwargs)
        self.ledger.ops.append(op)
        return op

    def _finish(self, op: Op, response: httpx.Response | None, body: Any) -> Any:
        """Set the op's outcome from a GraphQL answer; the data on success, else None."""
        op.end = time.monotonic()
        if response is None:
            op.outcome = "unknown"
            return None
        op.status = response.status_code
        code = error_code(body)
        if isinstance(body, dict) and body.get("data") and not body.get("errors"):
            op.outcome = "ok"
            return body["data"]
        op.code = code
        if code == "STORE_UNAVAILABLE":
            op.outcome = "unavailable"
        elif code is None or code == "INTERNAL":
            op.outcome = "internal"
            self.ledger.violation(f"{op.kind}: uncoded or internal error {response.status_code}: "
                                  f"{str(body)[:300]}")  # fmt: skip
        else:
            op.outcome = "rejected"
            if code not in EXPECTED_REJECTIONS.get(op.kind, ()):
                self.ledger.violation(f"{op.kind} by c{self.i}: unexpected {code}: {body}")
        return None

    async def _post(self, op: Op, key: str, **request: Any) -> Any:
        headers = {"Authorization": f"Bearer {key}", **CSRF}
        try:
            response = await self.http.post("/graphql", headers=headers, **request)
            body = response.json()
        except (httpx.TransportError, ValueError):
            return self._finish(op, None, None)
        return self._finish(op, response, body)

    async def gql(self, op: Op, key: str, query: str, **variables: Any) -> Any:
        return await self._post(op, key, json={"query": query, "variables": variables})

    # -- operations -----------------------------------------------------------

    async def run(self, until: float) -> None:
        kinds, weights = zip(*WEIGHTS.items(), strict=True)
        while time.monotonic() < until:
            kind = self.rng.choices(kinds, weights)[0]
            await getattr(self, kind)()

    async def upload(self, large: bool = False) -> None:
        size = self.config.large_size if large else self.rng.randint(1, self.config.small_max)
        data = os.urandom(size)
        group = self.rng.choice(self.world.shared)
        self.count += 1
        name = f"c{self.i}-{self.count}{'-large' if large else ''}.bin"
        op = self._op("upload_large" if large else "upload")
        record = Upload(op, group, name, size, hashlib.sha256(data).hexdigest())
        self.ledger.uploads[name] = record
        operations = {"query": UPLOAD, "variables": {"group": group, "file": None}}
        data_part = {
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.file"]}),
        }
        found = await self._post(
            op, self.key, data=data_part, files={"0": (name, data, "application/octet-stream")}
        )
        if found is None:
            return
        uploaded = found["uploadFile"]
        record.file_id = uploaded["id"]
        if (uploaded["size"], uploaded["sha256"], uploaded["name"]) != (size, record.sha256, name):
            self.ledger.violation(f"upload {name} answered {uploaded}, sent {size} {record.sha256}")
        self.own[record.file_id] = record

    async def upload_large(self) -> None:
        await self.upload(large=True)

    async def download(self) -> None:
        if self.own and (not self.seen or self.rng.random() < 0.7):
            record = self.own[self.rng.choice(list(self.own))]
            group, file_id, sha, mine = record.group_id, record.file_id, record.sha256, True
        elif self.seen:
            group, entry = self.rng.choice(self.seen)
            file_id, sha, mine = entry["id"], entry["sha256"], False
        else:
            return
        op = self._op("download")
        try:
            async with self.http.stream(
                "GET", f"/files/{group}/{file_id}", headers={"Authorization": f"Bearer {self.key}"}
            ) as response:
                op.status = response.status_code  # kept if the body breaks off
                digest = hashlib.sha256()
                if response.status_code == 200:
                    async for piece in response.aiter_bytes():
                        digest.update(piece)
                    body: Any = None
                else:
                    body = (await response.aread()) and response.json()
        except (httpx.TransportError, ValueError):
            op.end = time.monotonic()  # outcome "unknown"; status 200 if the body broke off
            return
        op.end = time.monotonic()
        if response.status_code == 200:
            op.outcome = "ok"
            if digest.hexdigest() != sha:
                self.ledger.violation(f"download {file_id}: sha256 differs from the upload's")
            return
        self._finish(op, response, body)
        if mine and op.code == "UNKNOWN_FILE" and file_id in self.own:
            self.ledger.violation(f"acknowledged upload {file_id} of c{self.i} is gone (download)")

    async def delete(self) -> None:
        if not self.own:
            return
        record = self.own.pop(self.rng.choice(list(self.own)))
        assert record.file_id is not None
        op = self._op("delete")
        self.ledger.deletes[record.file_id].append(op)
        await self.gql(op, self.key, DELETE, g=record.group_id, f=record.file_id)
        if op.code == "UNKNOWN_FILE":
            self.ledger.violation(f"acknowledged upload {record.file_id} of c{self.i} is gone")

    def _check_visible(self, op: Op, group: str, files: list[dict[str, Any]]) -> None:
        """Read your writes: own acknowledged uploads (not being deleted) are listed."""
        listed = {entry["id"]: entry for entry in files}
        for file_id, record in self.own.items():
            if record.group_id == group and record.op.end < op.start:
                entry = listed.get(file_id)
                if entry is None:
                    self.ledger.violation(f"acknowledged upload {record.name} not listed")
                elif (entry["sha256"], entry["size"]) != (record.sha256, record.size):
                    self.ledger.violation(f"{record.name} listed as {entry}")
        self.seen.extend((group, entry) for entry in files)
        del self.seen[:-200]

    async def list_files(self) -> None:
        group = self.rng.choice(self.world.shared)
        op = self._op("list_files")
        found = await self.gql(op, self.key, FILES, g=group)
        if found is not None:
            self._check_visible(op, group, found["uploadedFiles"])

    async def list_groups(self) -> None:
        op = self._op("list_groups")
        found = await self.gql(op, self.key, GROUPS)
        if found is None:
            return
        for node in found["groups"]["nodes"]:
            if node["id"] in self.world.shared:
                self._check_visible(op, node["id"], node["files"])

    async def rename(self) -> None:
        group = self.rng.choice(self.world.shared)
        self.count += 1
        name = f"shared-{self.world.shared.index(group)}-c{self.i}-{self.count}"
        op = self._op("rename", key=("name", group), value=name)
        await self.gql(op, self.owner_key, RENAME, id=group, name=name)

    async def membership(self) -> None:
        group = self.rng.choice(self.world.shared)
        user = self.rng.choice(self.world.satellites[self.i])
        belief = self.member[(group, user)]
        add = (not belief) if belief is not None else self.rng.random() < 0.5
        op = self._op("add_member" if add else "remove_member", key=("member", group, user),
                      value=add)  # fmt: skip
        await self.gql(op, self.owner_key, ADD_MEMBER if add else REMOVE_MEMBER, g=group, u=user)
        if op.outcome == "ok":
            self.member[(group, user)] = add
        elif op.outcome == "rejected":
            if belief is not None:
                self.ledger.violation(f"{op.kind} {user} in {group}: {op.code}, believed {belief}")
            self.member[(group, user)] = False  # only "not a member" is expected
        else:
            self.member[(group, user)] = None

    async def set_members(self) -> None:
        group = self.world.private[self.i]
        chosen = [s for s in self.world.satellites[self.i] if self.rng.random() < 0.5]
        members = [self.world.client_ids[self.i], *chosen]
        op = self._op("set_members", key=("members", group), value=frozenset(members))
        await self.gql(op, self.key, SET_MEMBERS, id=group, members=members)


# -- faults and probes -----------------------------------------------------------


async def probe_readyz(http: httpx.AsyncClient, ledger: Ledger, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            status = (await http.get("/readyz")).status_code
        except httpx.TransportError:
            status = 0
        ledger.readyz.append((started, time.monotonic() - started, status))
        await asyncio.sleep(0.25)


async def run_load(gateway_url: str, world: World, config: Config, faults: Any = None) -> Ledger:
    """Run the clients for ``config.duration`` seconds; ``faults(ledger)`` runs alongside."""
    ledger = Ledger()
    limits = httpx.Limits(max_connections=config.clients + 8)
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=config.request_timeout, limits=limits
    ) as http:
        ledger.started = time.monotonic()
        until = ledger.started + config.duration
        clients = [Client(i, world, ledger, http, config) for i in range(config.clients)]
        tasks = [asyncio.create_task(c.run(until)) for c in clients]
        tasks.append(asyncio.create_task(probe_readyz(http, ledger, until)))
        if faults is not None:
            tasks.append(asyncio.create_task(faults(ledger)))
        await asyncio.gather(*tasks)
        ledger.ended = time.monotonic()
    return ledger
