"""The in-memory backend at scale: ms per call as the number of groups grows.

    .venv/bin/python bench/bench_scale.py 1000 10000 100000

Creates the groups through the library on ``mongomock://`` (10 workflows, 50
users, 3 members and a 1 KB spec each), and after each size prints the time
to fill so far and the mean ms of get_group and of pages of 50
(docs/performance.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher

import groupstore


def per_call_ms(call: Callable[[int], Any], count: int = 300) -> float:
    start = time.perf_counter()
    for i in range(count):
        call(i)
    return (time.perf_counter() - start) / count * 1000


def measure(
    store: Any, groups: list[str], users: list[str], workflows: list[str], middle: list[str]
) -> dict[str, float]:
    manager = store.groups
    return {
        "get_group": per_call_ms(lambda i: manager.get_group(groups[(i * 7919) % len(groups)])),
        "page50_by_workflow": per_call_ms(
            lambda i: manager.list_groups_page(workflow_id=workflows[i % 10], first=50)
        ),
        "page50_by_user": per_call_ms(
            lambda i: manager.list_groups_page(user_id=users[i % 50], first=50)
        ),
        "page50_mid_list": per_call_ms(
            lambda i: manager.list_groups_page(
                workflow_id=workflows[i % 10], first=50, after=middle[i % 10]
            )
        ),
    }


def main(sizes: list[int]) -> None:
    store = groupstore.connect("mongomock://")
    store.users.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    users = [store.users.register_user(f"u{i}", "password-1").user_id for i in range(50)]
    workflows = [store.workflows.create_workflow(f"w{i}").workflow_id for i in range(10)]
    groups: list[str] = []
    fill = 0.0
    for size in sizes:
        start = time.perf_counter()
        for i in range(len(groups), size):
            team = [users[(i + k) % 50] for k in range(3)]
            group = store.groups.create_group(
                workflows[i % 10], f"g{i}", [], {"x": "y" * 1000}, user_id=team[0], members=team
            )
            groups.append(group.group_id)
        fill += time.perf_counter() - start
        middle = [
            store.groups.list_groups_page(workflow_id=w, first=min(500, size // 20)).items[-1][0]
            for w in workflows
        ]
        figures = measure(store, groups[:size], users, workflows, middle)
        shown = " ".join(f"{name}={ms:.3f}ms" for name, ms in figures.items())
        print(f"groups={size:>7} fill={fill:6.1f}s {shown}", flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 10000])
