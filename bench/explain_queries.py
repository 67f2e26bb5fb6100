"""Which of groupstore's query shapes a server pushes down: ``explain`` of each.

See docs/postgresql.md.

    .venv/bin/python bench/explain_queries.py --uri mongodb://127.0.0.1:27113/ --rows 20000

Fills a scratch database (groupstore's indexes, ``--rows`` groups, chunks and
GridFS files), prints one Markdown row per query shape, and drops the database.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from bson import ObjectId

import groupstore

SHAPES: list[tuple[str, str, dict[str, Any], dict[str, int] | None, int | None]] = [
    ("get_group", "groups", {"_id": "g1"}, None, None),
    ("groups of a workflow", "groups", {"workflow_id": "w1"}, {"seq": 1}, None),
    (
        "page by workflow",
        "groups",
        {"workflow_id": "w1", "seq": {"$gt": ObjectId()}},
        {"seq": 1},
        51,
    ),
    ("groups of a member", "groups", {"members.user_id": "u1"}, {"seq": 1}, None),
    ("member check (update filter)", "groups", {"_id": "g1", "members.user_id": "u1"}, None, None),
    ("files of a group", "fs.files", {"metadata.group_id": "g1"}, {"metadata.seq": 1}, None),
    ("one file of a group", "fs.files", {"_id": "f1", "metadata.group_id": "g1"}, None, None),
    ("chunks of a file", "fs.chunks", {"files_id": "f1", "n": {"$gte": 0}}, {"n": 1}, None),
    ("chunks of files ($in)", "fs.chunks", {"files_id": {"$in": ["f1", "f2"]}}, None, None),
]


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
    args = parser.parse_args()
    store = groupstore.connect(args.uri, database=f"explain_{uuid.uuid4().hex[:8]}")
    db = store.db
    try:
        n = args.rows
        db.groups.insert_many(
            [
                {
                    "_id": f"g{i}",
                    "workflow_id": f"w{i % 10}",
                    "name": f"n{i}",
                    "seq": ObjectId(),
                    "members": [{"user_id": f"u{i % 50}", "username": f"user{i % 50}"}],
                }
                for i in range(n)
            ]
        )
        db["fs.chunks"].insert_many([{"files_id": f"f{i}", "n": 0, "data": b"x"} for i in range(n)])
        db["fs.files"].insert_many(
            [{"_id": f"f{i}", "metadata": {"group_id": f"g{i}"}} for i in range(n)]
        )
        print("| query | filter | filterPushdown | sortPushdown | limitPushdown | plan |")
        print("|---|---|---|---|---|---|")
        for label, collection, query, sort, limit in SHAPES:
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
    finally:
        store.client.drop_database(db.name)
        store.close()


if __name__ == "__main__":
    main()
