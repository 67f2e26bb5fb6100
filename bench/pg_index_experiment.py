"""An experiment, not product code: would an index FerretDB's SQL can use make calls flat?

FerretDB 1.24 pushes equality down to PostgreSQL as ``_jsonb->'f' @> '"v"'``
(jsonb containment), while the indexes it creates are btree expression
indexes on ``_jsonb->'f'``, which cannot serve ``@>``: every query is a
sequential scan (docs/postgresql.md). This script adds, directly in
PostgreSQL, GIN ``jsonb_path_ops`` expression indexes (they serve ``@>``) on the
fields groupstore's calls filter on, times the calls before and after, and
drops those indexes again.

FerretDB sends its filters with the key as a parameter (``_jsonb -> $1 @> $2``)
in prepared statements (pgx caches them per connection). PostgreSQL switches
such a statement to a generic plan after five executions when custom plans
were no cheaper, and a generic plan cannot match an expression index
(``_jsonb -> '_id'``): connections that ran the query before the index
existed keep scanning. So "after" is measured twice: as is (``auto``), and
with ``plan_cache_mode = force_custom_plan`` set for the cluster (``ALTER
SYSTEM``, reset at the end).

    .venv/bin/python bench/bench_scale.py --uri mongodb://127.0.0.1:27132/ 1000 100000 --keep
    .venv/bin/python bench/pg_index_experiment.py --uri mongodb://127.0.0.1:27132/ \\
        --pg postgres://postgres@127.0.0.1:55471/ferretdb --database scale_<hex>

Needs ``psql``; only for a throw-away cluster (scripts/ferretdb start --postgresql).
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Callable
from typing import Any

import bench_scale  # (bench/ is the script's directory, so on sys.path)

import groupstore

# (collection, top-level field) pairs that groupstore's measured calls filter on
# with a pushed-down equality.
FIELDS = [
    ("groups", "_id"),
    ("groups", "workflow_id"),
    ("fs.files", "_id"),
    ("fs.chunks", "files_id"),
]


def psql(url: str, sql: str) -> str:
    done = subprocess.run(
        ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def tables(url: str, schema: str) -> dict[str, str]:
    """Collection -> FerretDB's PostgreSQL table (from its metadata table)."""
    rows = psql(
        url,
        f"SELECT _jsonb->>'_id', _jsonb->>'table' FROM \"{schema}\"._ferretdb_database_metadata",
    )
    return dict(line.split("|") for line in rows.splitlines())


def mean_ms(call: Callable[[int], Any], calls: int, budget: float) -> float:
    return bench_scale.mean_ms(call, calls, budget)[0]


def measure(
    store: Any, sample: list[dict[str, Any]], calls: int, budget: float
) -> dict[str, float]:
    manager = store.groups
    db = store.db

    def group(i: int) -> dict[str, Any]:
        return sample[i % len(sample)]

    def download(i: int) -> bytes:
        g = group(i)
        handle = manager.get_uploaded_file(g["_id"], g["file_id"], caller=g["owner_id"])
        with handle.open() as stream:
            return bytes(stream.read())

    return {
        "get_group": mean_ms(lambda i: manager.get_group(group(i)["_id"]), calls, budget),
        "get_group raw": mean_ms(
            lambda i: db.groups.find_one({"_id": group(i)["_id"]}), calls, budget
        ),
        "page50_by_workflow": mean_ms(
            lambda i: manager.list_groups_page(workflow_id=group(i)["workflow_id"], first=50),
            calls,
            budget,
        ),
        "download_64B": mean_ms(download, calls, budget),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--pg", required=True, help="the PostgreSQL URL FerretDB uses")
    parser.add_argument("--database", required=True, help="a database bench_scale.py --keep left")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--budget", type=float, default=10.0)
    args = parser.parse_args()
    store = groupstore.connect(args.uri, database=args.database)
    db = store.db
    # Files first: a query on metadata.group_id is not pushed down (seconds each).
    files = list(db["fs.files"].find({}, {"metadata.group_id": 1}).limit(200))
    file_of = {doc["metadata"]["group_id"]: doc["_id"] for doc in files}
    projection = {"_id": 1, "workflow_id": 1, "owner_id": 1}
    sample = [
        {**doc, "file_id": file_of[doc["_id"]]}
        for doc in db.groups.find({"_id": {"$in": list(file_of)}}, projection)
    ]
    names = tables(args.pg, args.database)
    count = psql(args.pg, f'SELECT count(*) FROM "{args.database}"."{names["groups"]}"')
    print(f"# {args.database}: {count} groups; {len(sample)} sampled")
    before = measure(store, sample, args.calls, args.budget)
    created = []
    try:
        for collection, field in FIELDS:
            index = f"gs_experiment_{names[collection]}_{field.strip('_')}"
            psql(
                args.pg,
                f'CREATE INDEX "{index}" ON "{args.database}"."{names[collection]}" '
                f"USING gin ((_jsonb -> '{field}') jsonb_path_ops)",
            )
            created.append(index)
        psql(args.pg, f'ANALYZE "{args.database}"."{names["groups"]}"')
        auto = measure(store, sample, args.calls, args.budget)
        psql(args.pg, "ALTER SYSTEM SET plan_cache_mode = force_custom_plan")
        psql(args.pg, "SELECT pg_reload_conf()")
        plan = psql(
            args.pg,
            f'EXPLAIN ANALYZE SELECT _jsonb FROM "{args.database}"."{names["groups"]}" '
            f"WHERE _jsonb -> '_id' @> '\"{sample[0]['_id']}\"'",
        )
        after = measure(store, sample, args.calls, args.budget)
    finally:
        for index in created:
            psql(args.pg, f'DROP INDEX IF EXISTS "{args.database}"."{index}"')
        psql(args.pg, "ALTER SYSTEM RESET plan_cache_mode")
        psql(args.pg, "SELECT pg_reload_conf()")
        store.close()
    print("get_group's SQL with the GIN index:\n    " + plan.replace("\n", "\n    "))
    print(
        "| call | no usable index (ms) | GIN, plan cache auto (ms) "
        "| GIN, force_custom_plan (ms) | no index / GIN custom |"
    )
    print("|---|---|---|---|---|")
    for name, ms in before.items():
        print(
            f"| {name} | {ms:.2f} | {auto[name]:.2f} | {after[name]:.2f} "
            f"| {ms / after[name]:.1f}x |"
        )


if __name__ == "__main__":
    main()
