"""``python -m tests.load``: the load test of tests/load, longer, with its figures printed.

    python -m tests.load                         # 60 s, 32 clients, a FerretDB of its own
    python -m tests.load --seconds 300 --fault stop --fault kill
    python -m tests.load --uri mongodb://localhost:27017/   # your server, a fresh database

Without ``--uri`` it starts a FerretDB (scripts/ferretdb) in a temporary
directory; faults need that one (they SIGSTOP / SIGKILL it). Exits 1 if any
invariant is violated (they are listed), else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid
from collections.abc import Iterator

from tests.load.figures import format_figures
from tests.load.runner import Fault, both, drop, freeze, kill, run
from tests.load.servers import private_database
from tests.load.workload import Config
from tests.support import FerretDB


@contextlib.contextmanager
def _server(uri: str | None) -> Iterator[tuple[str, FerretDB | None]]:
    if uri:
        yield uri, None
        return
    with private_database() as database:
        yield database.uri, database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (default 60)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--groups", type=int, default=4, help="shared groups (default 4)")
    parser.add_argument("--uri", help="a MongoDB URI to load (a fresh database, dropped after)")
    parser.add_argument("--fault", action="append", choices=("stop", "kill"), default=[],
                        help="SIGSTOP the database for 5 s at 1/4 of the run, and/or SIGKILL "
                             "it at 1/2 and restart it 3 s later (own FerretDB only)")  # fmt: skip
    parser.add_argument("--store-timeout", type=float, default=None,
                        help="the gateway's GROUPSTORE_STORE_TIMEOUT_SECONDS "
                             "(default 5, or 2 with faults)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    if args.fault and args.uri:
        parser.error("--fault needs the FerretDB this command starts (no --uri)")
    timeout = args.store_timeout or (2.0 if args.fault else 5.0)
    config = Config(
        clients=args.clients, duration=args.seconds, shared_groups=args.groups, seed=args.seed
    )
    with _server(args.uri) as (uri, database):
        faults: list[Fault] = []
        if database is not None and "stop" in args.fault:
            faults.append(freeze(database, at=args.seconds / 4, seconds=5))
        if database is not None and "kill" in args.fault:
            faults.append(kill(database, at=args.seconds / 2, down=3))
        name = f"gs_load_{uuid.uuid4().hex[:12]}"
        print(f"loading {uri} (database {name}): {args.clients} clients, {args.seconds:.0f} s, "
              f"faults: {', '.join(args.fault) or 'none'}, store timeout {timeout} s",
              file=sys.stderr)  # fmt: skip
        try:
            result = run(uri, name, config, faults=both(*faults) if faults else None,
                         store_timeout=timeout)  # fmt: skip
        finally:
            drop(uri, name)
    print(format_figures(result.figures))
    for fault in result.fault_figures:
        print(f"fault: {json.dumps(fault)}")
    final = result.final
    dry = final.repair_dry
    print(f"read back: {len(final.files)} files listed, {final.downloaded} downloaded whole; "
          f"repair (grace 0) found {dry.total if dry else '?'} orphans: "
          f"{len(dry.orphan_chunk_files) if dry else '?'} chunk sets of unacknowledged uploads, "
          f"{len(dry.stale_locks) if dry else '?'} stale leases, "
          f"{len(dry.broken_files) if dry else '?'} broken files")  # fmt: skip
    if args.json:
        print(json.dumps({"figures": result.figures, "faults": result.fault_figures}))
    if result.violations:
        print(f"{len(result.violations)} VIOLATIONS:")
        for violation in result.violations:
            print(f"  {violation}")
        print("the gateway's log (warnings and errors):")
        print(result.gateway_log[-20_000:])
        return 1
    print("no violations: every acknowledged write is there, whole")
    return 0


if __name__ == "__main__":
    sys.exit(main())
