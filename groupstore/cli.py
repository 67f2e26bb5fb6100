"""The ``groupstore`` command: maintenance of a store.

groupstore repair [--uri URI] [--database DB] [--grace-minutes N] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta

from groupstore.errors import GroupStoreError
from groupstore.repair import DEFAULT_GRACE, repair
from groupstore.store import connect


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groupstore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fix = commands.add_parser(
        "repair",
        help="find and remove what interrupted uploads and deletes left behind",
        description="Removes groups of deleted workflows, GridFS files no group lists, and "
        "chunks without a GridFS file, if they are older than the grace period "
        "(younger ones may belong to an upload in progress).",
    )
    fix.add_argument("--uri", help="MongoDB URI (default: GROUPSTORE_MONGO_URI)")
    fix.add_argument("--database", help="database (default: from the URI or GROUPSTORE_DATABASE)")
    fix.add_argument(
        "--grace-minutes",
        type=float,
        default=DEFAULT_GRACE.total_seconds() / 60,
        help="leave orphans younger than this alone (default: %(default)s)",
    )
    fix.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    fix.add_argument("--quiet", action="store_true", help="no progress messages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.grace_minutes < 0:
        print("groupstore: --grace-minutes must not be negative", file=sys.stderr)
        return 2
    progress = None if args.quiet else (lambda message: print(f"... {message}", file=sys.stderr))
    try:
        with connect(args.uri, args.database) as store:
            report = repair(
                store,
                grace=timedelta(minutes=args.grace_minutes),
                dry_run=args.dry_run,
                progress=progress,
            )
    except GroupStoreError as exc:
        print(f"groupstore: {exc}", file=sys.stderr)
        return 1
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {len(report.orphan_groups)} orphan groups, {len(report.orphan_files)} "
        f"orphan files, chunks of {len(report.orphan_chunk_files)} missing files"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
