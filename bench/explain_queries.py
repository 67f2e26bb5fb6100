"""Which of groupstore's query shapes a server pushes down: ``explain`` of each.

See docs/postgresql.md.

    .venv/bin/python bench/explain_queries.py --uri mongodb://127.0.0.1:27113/ --rows 20000

Fills a scratch database (groupstore's indexes, ``--rows`` groups, chunks and
GridFS files), prints one Markdown row per query shape, and drops the database.
With ``--database NAME`` (a database that ``bench_scale.py --keep`` filled) it
explains on that data instead, with its own ids, and leaves it as it is. The
``proto:`` rows are rephrasings on top-level fields the library does not write
(``bench_scale.py --prototype`` writes them; see docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from bson import ObjectId

import groupstore

Shape = tuple[str, str, dict[str, Any], "dict[str, int] | None", "int | None"]


def shapes(v: dict[str, Any]) -> list[Shape]:
    """The query shapes, with the values ``v`` (a group, workflow, user, file and cursor)."""
    return [
        ("get_group", "groups", {"_id": v["g"]}, None, None),
        ("groups of a workflow", "groups", {"workflow_id": v["w"]}, {"seq": 1}, None),
        ("page by workflow", "groups", {"workflow_id": v["w"]}, {"seq": 1}, 51),
        (
            "page by workflow, mid-list",
            "groups",
            {"workflow_id": v["w"], "seq": {"$gt": v["seq"]}},
            {"seq": 1},
            51,
        ),
        ("groups of a member", "groups", {"member_ids": v["u"]}, {"seq": 1}, None),
        ("page by member", "groups", {"member_ids": v["u"]}, {"seq": 1}, 51),
        (
            "member check (update filter)",
            "groups",
            {"_id": v["g"], "member_ids": v["u"]},
            None,
            None,
        ),
        ("files of a group", "fs.files", {"group_id": v["g"]}, {"metadata.seq": 1}, None),
        ("one file (then its group compared)", "fs.files", {"_id": v["f"]}, None, None),
        ("chunks of a file", "fs.chunks", {"files_id": v["f"], "n": {"$gte": 0}}, {"n": 1}, None),
        ("chunks of files ($in)", "fs.chunks", {"files_id": {"$in": [v["f"], "f2"]}}, None, None),
        # The shapes before member_ids and the files' top-level group_id, for comparison.
        ("before: page by members.user_id", "groups", {"members.user_id": v["u"]}, {"seq": 1}, 51),
        (
            "before: files by metadata.group_id",
            "fs.files",
            {"metadata.group_id": v["g"]},
            None,
            None,
        ),
    ]


def sample(db: Any) -> dict[str, Any]:
    """Real values from a filled database (bench_scale.py --keep): its last group and file."""
    group = next(db.groups.find().sort("seq", -1).limit(1))
    file = db["fs.files"].find_one({"group_id": group["_id"]}) or {"_id": "f1"}
    return {
        "g": group["_id"],
        "w": group["workflow_id"],
        "u": group["members"][0]["user_id"],
        "f": file["_id"],
        "seq": group["seq"],
    }


def _plan(node: dict[str, Any] | None) -> list[str]:
    """PostgreSQL's plan tree, flattened (FerretDB/SQLite and MongoDB answer differently)."""
    if not node:
        return []
    step = str(node.get("Node Type"))
    if node.get("Index Name"):
        step += f" [{node['Index Name']}]"
    condition = node.get("Index Cond") or node.get("Filter")
    if condition:
        step += f" {condition}"
    return [step] + [s for child in node.get("Plans", []) for s in _plan(child)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument(
        "--database", help="explain on this filled database (bench_scale.py --keep): no fill"
    )
    args = parser.parse_args()
    database = args.database or f"explain_{uuid.uuid4().hex[:8]}"
    store = groupstore.connect(args.uri, database=database)
    db = store.db
    try:
        if args.database:
            report(db, sample(db))
        else:
            fill(db, args.rows)
            report(db, {"g": "g1", "w": "w1", "u": "u1", "f": "f1", "seq": ObjectId()})
    finally:
        if not args.database:
            store.client.drop_database(db.name)
        store.close()


def fill(db: Any, n: int) -> None:
    db.groups.insert_many(
        [
            {
                "_id": f"g{i}",
                "workflow_id": f"w{i % 10}",
                "name": f"n{i}",
                "seq": ObjectId(),
                "members": [{"user_id": f"u{i % 50}", "username": f"user{i % 50}"}],
                "member_ids": [f"u{i % 50}"],
            }
            for i in range(n)
        ]
    )
    db["fs.chunks"].insert_many([{"files_id": f"f{i}", "n": 0, "data": b"x"} for i in range(n)])
    db["fs.files"].insert_many(
        [{"_id": f"f{i}", "group_id": f"g{i}", "metadata": {"group_id": f"g{i}"}} for i in range(n)]
    )


def report(db: Any, values: dict[str, Any]) -> None:
    print("| query | filter | filterPushdown | sortPushdown | limitPushdown | plan |")
    print("|---|---|---|---|---|---|")
    for label, collection, query, sort, limit in shapes(values):
        command: dict[str, Any] = {"find": collection, "filter": query}
        if sort:
            command["sort"] = sort
        if limit:
            command["limit"] = limit
        answer = db.command("explain", command)
        planner = answer.get("queryPlanner", {})
        plan = " > ".join(_plan(planner.get("Plan"))) or json.dumps(planner, default=str)[:160]
        print(
            f"| {label} | `{json.dumps(query, default=str)}` | {answer.get('filterPushdown')} "
            f"| {answer.get('sortPushdown')} | {answer.get('limitPushdown')} | {plan} |"
        )


if __name__ == "__main__":
    main()
