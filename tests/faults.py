"""A fault-injecting stand-in for the driver's collections: cut a call sequence anywhere.

``Faults.install(store)`` puts a ``FaultyCollection`` in front of the
collections an upload touches (the bucket's files and chunks, the groups).
Every call to them is numbered, in order, across all of them; ``cut_at`` names
the call to fault and ``mode`` what happens to it:

* ``crash``: the process dies just before that call: it and every later call
  fail with ``Crash`` (a ``BaseException``, as a kill would end everything),
  and nothing more reaches the server;
* ``lost``: the call runs, then its answer is lost (the driver raises
  ``AutoReconnect``: a write whose outcome the caller cannot know);
* ``dropped``: the call never reaches the server (``AutoReconnect``);
* ``frozen``: the call does not run now (``AutoReconnect``) but lands later,
  when the test calls ``land()``: a frozen server running it after the caller
  gave up and cleaned up;
* ``freeze``: the server freezes at that call: it and every later call are
  frozen, and ``land(reverse=...)`` runs them in order or in reverse (a thawed
  server may run the commands of several connections in any order).

Reads are numbered too, so a cut can fall between any two calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import AutoReconnect

from groupstore import GroupStoreError

MODES = ("crash", "lost", "dropped", "frozen", "freeze")
CALLS = frozenset(
    {"insert_one", "insert_many", "delete_one", "delete_many", "update_one", "find_one", "find",
     "find_one_and_update", "aggregate", "count_documents"}
)  # fmt: skip


class Crash(BaseException):
    """The process died here."""


@dataclass
class Faults:
    cut_at: int | None = None
    mode: str = "lost"
    calls: list[str] = field(default_factory=list)
    pending: list[Callable[[], Any]] = field(default_factory=list)
    dead: bool = False
    frozen_from: int | None = None

    def install(self, store: Any) -> None:
        fs = store.fs
        fs.files = FaultyCollection(fs.files, "files", self)
        fs.chunks = FaultyCollection(fs.chunks, "chunks", self)
        groups = store.groups.groups
        groups.collection = FaultyCollection(groups.collection, "groups", self)

    def uninstall(self, store: Any) -> None:
        fs = store.fs
        fs.files, fs.chunks = fs.files.inner, fs.chunks.inner
        groups = store.groups.groups
        groups.collection = groups.collection.inner

    def run(self, store: Any, call: Callable[[], Any], reverse: bool = False) -> Any:
        """``call()`` with the faults installed; its result, or None if it failed or died.

        Afterwards the faults are gone and the frozen calls have landed.
        """
        self.install(store)
        try:
            return call()
        except (GroupStoreError, Crash):
            return None
        finally:
            self.uninstall(store)
            self.land(reverse=reverse)

    def land(self, reverse: bool = False) -> None:
        """Run the frozen calls now (the server thawed), in order or in reverse."""
        for call in reversed(self.pending) if reverse else list(self.pending):
            with contextlib.suppress(Exception):  # a late write may fail (a duplicate _id)
                call()
        self.pending.clear()

    def call(self, label: str, run: Callable[[], Any]) -> Any:
        if self.dead:
            raise Crash(label)
        index = len(self.calls)
        self.calls.append(label)
        if self.mode == "freeze" and self.cut_at is not None and index >= self.cut_at:
            self.pending.append(run)
            raise AutoReconnect(f"{label}: no answer (frozen server)")
        if index != self.cut_at:
            return run()
        if self.mode == "crash":
            self.dead = True
            raise Crash(label)
        if self.mode == "lost":
            run()
            raise AutoReconnect(f"{label}: the answer was lost")
        if self.mode == "frozen":
            self.pending.append(run)
        raise AutoReconnect(f"{label}: no answer")


class FaultyCollection:
    def __init__(self, inner: Any, name: str, faults: Faults) -> None:
        self.inner = inner
        self.name = name
        self.faults = faults

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self.inner, attribute)
        if attribute not in CALLS:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            def run() -> Any:
                result = value(*args, **kwargs)
                return list(result) if attribute in ("find", "aggregate") else result

            return self.faults.call(f"{self.name}.{attribute}", run)

        return call
