"""The figures of a run: counts, rates, latency percentiles (client-side, seconds)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from tests.load.workload import WRITES, Ledger


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(ledger: Ledger) -> dict[str, Any]:
    """Counts, rates and latencies of a run (seconds)."""
    elapsed = ledger.ended - ledger.started
    ops = ledger.ops
    outcomes = Counter(op.outcome for op in ops)
    acked = sum(1 for op in ops if op.kind in WRITES and op.outcome == "ok")
    per_kind = {}
    for kind in sorted({op.kind for op in ops}):
        mine = [op for op in ops if op.kind == kind]
        ok = [op.duration for op in mine if op.outcome == "ok"]
        per_kind[kind] = {
            "count": len(mine),
            "ok": len(ok),
            "p50_ms": round(percentile(ok, 0.50) * 1000, 1),
            "p99_ms": round(percentile(ok, 0.99) * 1000, 1),
            "outcomes": dict(Counter(op.outcome for op in mine)),
        }
    ready = [seconds for _, seconds, _ in ledger.readyz]
    return {
        "seconds": round(elapsed, 1),
        "operations": len(ops),
        "ops_per_second": round(len(ops) / elapsed, 1) if elapsed else 0.0,
        "acknowledged_writes": acked,
        "outcomes": dict(outcomes),
        "per_kind": per_kind,
        "readyz_max_ms": round(max(ready, default=0.0) * 1000, 1),
        "readyz_not_ready": sum(1 for *_, status in ledger.readyz if status != 200),
    }


def format_figures(found: dict[str, Any]) -> str:
    lines = [
        f"{found['operations']} operations in {found['seconds']} s "
        f"({found['ops_per_second']} ops/s), {found['acknowledged_writes']} acknowledged writes",
        f"outcomes: {found['outcomes']}",
        f"{'operation':<14}{'count':>7}{'ok':>7}{'p50 ms':>9}{'p99 ms':>9}  other outcomes",
    ]
    for kind, row in found["per_kind"].items():
        other = {k: v for k, v in row["outcomes"].items() if k != "ok"}
        lines.append(
            f"{kind:<14}{row['count']:>7}{row['ok']:>7}{row['p50_ms']:>9}{row['p99_ms']:>9}  "
            f"{other or ''}"
        )
    if "phases_s" in found:
        lines.append(f"wall time per phase (s): {found['phases_s']}")
    lines.append(
        f"/readyz: slowest answer {found['readyz_max_ms']} ms, "
        f"{found['readyz_not_ready']} answers not ready"
    )
    return "\n".join(lines)
