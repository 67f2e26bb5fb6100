"""After a run: read everything back through the gateway and compare it with the ledger.

``check_state`` reads everything back through the gateway after the run: every
acknowledged upload that was not deleted is listed, with its name, size and
sha256, and downloads whole; every acknowledged delete is gone; nothing is
listed that no upload sent; members and names match the registers. Then
``groupstore.repair`` (grace 0) must find no damage to acknowledged data; a
real repair runs and the listing check is repeated.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

import groupstore
from tests.load.workload import CSRF, GROUP, Ledger, Op, World, error_code


def candidates(writes: Iterable[Op], initial: Any) -> set[Any]:
    """The values a register may hold after these writes (see workload.py's docstring)."""
    possible = [op for op in writes if op.may_have_written]
    acked = [op for op in possible if op.outcome == "ok"]
    last_start = max((op.start for op in acked), default=-math.inf)
    values = {op.value for op in possible if op.end >= last_start}
    if not acked:
        values.add(initial)
    return values


def history(ops: Iterable[Op], ledger: Ledger) -> list[tuple[Any, ...]]:
    """Ops as (kind, outcome, code, start, end), in seconds from the run's start: for a report."""
    t0 = ledger.started
    return [
        (op.kind, op.outcome, op.code, round(op.start - t0, 2), round(op.end - t0, 2)) for op in ops
    ]


def history_of_faults(ledger: Ledger) -> list[tuple[str, float, float]]:
    t0 = ledger.started
    return [(label, round(a - t0, 2), round(b - t0, 2)) for label, a, b in ledger.faults]


@dataclass
class Final:
    """What the check read back."""

    files: dict[str, dict[str, Any]]  # file id -> listed entry (+ "group")
    downloaded: int
    repair_dry: groupstore.RepairReport | None = None
    repair: groupstore.RepairReport | None = None


async def _read(http: httpx.AsyncClient, key: str, query: str, **variables: Any) -> Any:
    """A read that must succeed once the store is back: retried for up to 60 s."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await http.post(
                "/graphql",
                headers={"Authorization": f"Bearer {key}", **CSRF},
                json={"query": query, "variables": variables},
            )
            body = response.json()
            if body.get("data") and not body.get("errors"):
                return body["data"]
            if error_code(body) != "STORE_UNAVAILABLE":
                raise AssertionError(f"{query[:40]}... answered {body}")
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the gateway did not recover: {query[:40]}...")
        await asyncio.sleep(0.5)


async def check_state(gateway_url: str, world: World, ledger: Ledger) -> Final:
    """Read everything back through the gateway and compare it with the ledger."""
    bad = ledger.violation
    by_key: dict[tuple[Any, ...], list[Op]] = defaultdict(list)
    for op in ledger.ops:
        if op.key is not None:
            by_key[op.key].append(op)
    files: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120) as http:
        owner = world.owner_keys[0]
        stable = {world.owner_id, *world.client_ids}
        for group_id in world.shared:
            group = (await _read(http, owner, GROUP, id=group_id))["group"]
            names = candidates(by_key[("name", group_id)], world.shared_names[group_id])
            if group["name"] not in names:
                bad(f"group {group_id} is named {group['name']!r}, expected one of {names}")
            listed = [m["id"] for m in group["members"]]
            members = set(listed)
            if len(members) != len(listed):
                bad(f"group {group_id} lists a member twice: {sorted(listed)}")
            if not stable <= members:
                bad(f"group {group_id} lost stable members {stable - members}")
            satellites = {s for sats in world.satellites for s in sats}
            for user in members - stable - satellites:
                bad(f"group {group_id} has an unexpected member {user}")
            for user in satellites:
                writes = by_key[("member", group_id, user)]
                allowed = candidates(writes, False)
                if (user in members) not in allowed:
                    bad(f"{user} {'is' if user in members else 'is not'} a member of {group_id}"
                        f"; the acknowledged writes allow only {allowed}; its writes: "
                        f"{history(writes, ledger)}; faults: "
                        f"{history_of_faults(ledger)}")  # fmt: skip
            for entry in group["files"]:
                if entry["id"] in files:
                    bad(f"file {entry['id']} listed twice")
                files[entry["id"]] = {**entry, "group": group_id}
        for i, group_id in enumerate(world.private):
            group = (await _read(http, world.client_keys[i], GROUP, id=group_id))["group"]
            replaced = frozenset(m["id"] for m in group["members"])
            if len(replaced) != len(group["members"]):
                bad(f"private group {i} lists a member twice")
            allowed = candidates(by_key[("members", group_id)], frozenset([world.client_ids[i]]))
            if replaced not in allowed:
                bad(f"private group {i} has members {set(replaced)}, allowed {allowed}")

        check_files(files, ledger)
        gate = asyncio.Semaphore(8)

        async def download(entry: dict[str, Any]) -> None:
            async with gate:
                await _download_whole(http, owner, entry, ledger)

        await asyncio.gather(*(download(entry) for entry in files.values()))
    return Final(files, len(files))


def check_files(files: dict[str, dict[str, Any]], ledger: Ledger) -> None:
    bad = ledger.violation
    by_name = {entry["name"]: entry for entry in files.values()}
    if len(by_name) != len(files):
        bad("two listed files share a name (an upload stored twice?)")
    for name, record in ledger.uploads.items():
        entry = by_name.get(name)
        if entry is not None and (
            (entry["sha256"], entry["size"], entry["group"])
            != (record.sha256, record.size, record.group_id)
        ):
            bad(f"{name} is listed as {entry}, but was sent as {record.size} {record.sha256}")
        outcome = record.op.outcome
        if outcome == "rejected" and entry is not None:
            bad(f"rejected upload {name} ({record.op.code}) is listed")
        if outcome != "ok":
            continue  # unknown: may be there or not, but whole (checked above and by download)
        if entry is not None and entry["id"] != record.file_id:
            bad(f"{name} is listed with id {entry['id']}, acknowledged as {record.file_id}")
        assert record.file_id is not None
        deletes = ledger.deletes.get(record.file_id, [])
        if any(op.outcome == "ok" for op in deletes):
            if entry is not None:
                bad(f"acknowledged delete of {name} ({record.file_id}): still listed")
        elif not any(op.may_have_written for op in deletes) and entry is None:
            bad(f"acknowledged upload {name} ({record.file_id}) is lost")
    for name in by_name:
        if name not in ledger.uploads:
            bad(f"listed file {name} was never uploaded")


async def _download_whole(
    http: httpx.AsyncClient, key: str, entry: dict[str, Any], ledger: Ledger
) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await http.get(
                f"/files/{entry['group']}/{entry['id']}", headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            body = response.content
            if len(body) != entry["size"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
                ledger.violation(f"listed file {entry['name']} downloads {len(body)} bytes "
                                 f"that do not match its sha256")  # fmt: skip
            return
        if response is not None and response.status_code != 503:
            ledger.violation(f"listed file {entry['name']} does not download: "
                             f"{response.status_code} {response.text[:200]}")  # fmt: skip
            return
        if time.monotonic() > deadline:
            ledger.violation(f"listed file {entry['name']}: the store did not come back")
            return
        await asyncio.sleep(0.5)


def check_repair(world: World, final: Final, ledger: Ledger) -> None:
    """A dry repair finds no damage to what is listed; a real one removes nothing listed."""
    bad = ledger.violation
    with groupstore.connect(world.uri, database=world.database, timeout=10) as store:
        report = groupstore.repair(store, grace=timedelta(0), dry_run=True)
        final.repair_dry = report
        listed = set(final.files)
        for kind, ids in (("orphan", report.orphan_files), ("broken", report.broken_files)):
            for file_id in set(ids) & listed:
                bad(f"repair calls listed file {file_id} {kind}")
        if report.broken_files:
            bad(f"repair found files without all their chunks: {report.broken_files}")
        ours = {*world.shared, *world.private}
        if set(report.orphan_groups) & ours:
            bad(f"repair calls groups of the run orphans: {report.orphan_groups}")
        final.repair = groupstore.repair(store, grace=timedelta(0))
        after = {f.file_id for g in world.shared for f in store.groups.list_uploaded_files(g)}
        if after != listed:
            bad(f"repair changed the listings: {sorted(listed ^ after)[:10]}")
        for file_id in list(listed)[:10]:  # a sample: the gateway downloaded them all already
            entry = final.files[file_id]
            with store.groups.get_uploaded_file(entry["group"], file_id).open() as stream:
                if hashlib.sha256(stream.read()).hexdigest() != entry["sha256"]:
                    bad(f"after repair, {entry['name']} no longer matches its sha256")
