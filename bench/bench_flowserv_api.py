"""flowserv's group and upload service calls: groupstore.flowserv vs flowserv itself.

Both factories run in this process, side by side, on the same workload:
flowserv-core 0.9.4's ``LocalAPIFactory`` on a SQLite file and its file
volume, and ``groupstore.flowserv.LocalAPIFactory`` on the in-memory store
(flowserv's SQLite file for users and workflows). Each call is one API
session (``with factory(user_id=...) as api:``), as flowserv's REST layer
makes one per request. ``--repeat N`` runs N rounds, the two systems
interleaved, and reports each figure's median. Prints a Markdown table:
calls per second for each, and the ratio (above 1: groupstore faster).

    .venv/bin/python bench/bench_flowserv_api.py [--groups 200] [--files 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OPERATIONS = [
    "create group",
    "get group",
    "list groups",
    "update members",
    "upload file",
    "list files",
    "download file",
]

SPEC = """\
workflow:
    files:
        inputs:
        - $[[names]]
    steps: []
parameters:
    - {name: names, dtype: file, target: data/names.txt}
    - {name: greeting, dtype: string, defaultValue: Hello}
    - {name: rounds, dtype: int, defaultValue: 3}
"""
USERS = 20
QUICK_USERS = 2
PAYLOAD = b"x" * 4096


def make_factory(system: str, basedir: Path) -> Any:
    """A factory with its own SQLite database and volume under ``basedir``."""
    from flowserv.config import Config
    from flowserv.model.database import DB
    from flowserv.service.local import LocalAPIFactory as FlowservFactory
    from flowserv.tests.controller import StateEngine
    from flowserv.volume.fs import FStore

    import groupstore
    from groupstore.flowserv import LocalAPIFactory

    basedir.mkdir(parents=True)
    env = Config().basedir(str(basedir)).volume(FStore(basedir=str(basedir / "volume"))).auth()
    db = DB(connect_url=f"sqlite:///{basedir}/flowserv.db", web_app=False).init()
    if system == "flowserv":
        return FlowservFactory(env=env, db=db, engine=StateEngine())
    store = groupstore.connect("mongomock://")
    return LocalAPIFactory(env=env, db=db, engine=StateEngine(), store=store)


def setup(factory: Any, basedir: Path, count: int) -> tuple[list[str], str]:
    source = basedir / "template"
    source.mkdir()
    (source / "benchmark.yaml").write_text(SPEC)
    (source / "flowserv.yaml").write_text("name: bench\nspecfile: benchmark.yaml\n")
    with factory() as api:
        users = [
            api.users().register_user(username=f"user{i}", password="pw", verify=False)["id"]
            for i in range(count)
        ]
        workflow_id = api.workflows().workflow_repo.create_workflow(source=str(source)).workflow_id
    return users, workflow_id


def timed(fn: Callable[[int], Any], count: int) -> float:
    """Calls per second of ``fn(i)`` for i in range(count)."""
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def run(
    system: str, groups: int, files: int, basedir: Path, count: int = USERS
) -> dict[str, float]:
    from flowserv.volume.base import IOBuffer

    factory = make_factory(system, basedir)
    users, workflow_id = setup(factory, basedir, count)
    ids: list[str] = []
    uploads: list[tuple[str, str]] = []

    def owner(i: int) -> str:
        return users[i % count]

    def create(i: int) -> None:
        with factory(user_id=owner(i)) as api:
            members = [users[(i + 1) % count], users[(i + 2) % count]]
            ids.append(api.groups().create_group(workflow_id, f"g{i}", members=members)["id"])

    def get(i: int) -> None:
        with factory(user_id=owner(i)) as api:
            api.groups().get_group(ids[i])

    def list_groups(i: int) -> None:
        with factory(user_id=users[i % count]) as api:
            api.groups().list_groups()

    def update(i: int) -> None:
        with factory(user_id=owner(i)) as api:
            api.groups().update_group(ids[i], members=[owner(i), users[(i + 3) % count]])

    def upload(i: int) -> None:
        group_id = ids[i % len(ids)]
        with factory(user_id=owner(i % len(ids))) as api:
            buffer = IOBuffer(io.BytesIO(PAYLOAD))
            uploads.append((group_id, api.uploads().upload_file(group_id, buffer, "f.bin")["id"]))

    def list_files(i: int) -> None:
        with factory(user_id=owner(i % len(ids))) as api:
            api.uploads().list_uploaded_files(ids[i % len(ids)])

    def download(i: int) -> None:
        group_id, file_id = uploads[i]
        with factory(user_id=None) as api:
            assert api.uploads().get_uploaded_file(group_id, file_id).read() == PAYLOAD

    return {
        "create group": timed(create, groups),
        "get group": timed(get, groups),
        "list groups": timed(list_groups, groups),
        "update members": timed(update, groups),
        "upload file": timed(upload, files),
        "list files": timed(list_files, files),
        "download file": timed(download, files),
    }


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| call | flowserv (SQLite) calls/s | groupstore.flowserv (memory) calls/s | ratio |",
        "|---|---:|---:|---:|",
    ]
    for op in OPERATIONS:
        ours, theirs = results["groupstore"][op], results["flowserv"][op]
        lines.append(f"| {op} | {theirs:,.0f} | {ours:,.0f} | {ours / theirs:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 users, groups, files; 1 round")
    args = parser.parse_args(argv)
    users = USERS
    if args.quick:
        users = args.groups = args.files = QUICK_USERS
        args.repeat = 1
    rounds: dict[str, list[dict[str, float]]] = {"flowserv": [], "groupstore": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for system in rounds:  # interleaved: a burst of load lands on both
                basedir = Path(tmp) / f"{system}-{r}"
                rounds[system].append(run(system, args.groups, args.files, basedir, users))
    medians = {
        system: {op: statistics.median(rnd[op] for rnd in runs) for op in OPERATIONS}
        for system, runs in rounds.items()
    }
    text = table(medians)
    print(text)
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
