"""Password hashing with a bounded number of Argon2 computations at a time.

Argon2 is memory-hard on purpose: each hash or verification allocates
``memory_cost`` KiB (64 MiB by default) for its duration. Without a bound, 32
concurrent logins took a gateway from 102 MB to 2,152 MB of memory. Here at
most ``max_concurrent`` computations run at once per process, so password
hashing never holds more than ``max_concurrent x memory_cost`` (128 MiB by
default); the others wait up to ``wait_seconds`` for a slot and then fail
with ``TooManyRequestsError`` instead of piling up.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from groupstore.errors import ConstraintViolationError, TooManyRequestsError

KiB = 1024
T = TypeVar("T")
log = logging.getLogger("groupstore")


@dataclass(frozen=True)
class Argon2Parameters:
    """Argon2id cost parameters; the defaults are RFC 9106's low-memory profile (argon2-cffi's)."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise ConstraintViolationError(
                "Argon2 needs time_cost >= 1, parallelism >= 1 and memory_kib >= 8 x parallelism"
            )

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )


class HashingSlots:
    """At most ``max_concurrent`` password computations at a time in this process.

    Each runs on a thread of its own which, on Linux, runs at
    a lower CPU priority (``niceness``; Argon2's lane threads inherit it): when
    a burst of logins saturates the CPU, every other request of the process
    still gets its share, and the logins wait instead.
    """

    def __init__(self, max_concurrent: int = 2, wait_seconds: float = 10.0, niceness: int = 10):
        if max_concurrent < 1 or wait_seconds < 0:
            raise ConstraintViolationError("need max_concurrent >= 1 and wait_seconds >= 0")
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self.niceness = niceness
        self._slots = threading.BoundedSemaphore(max_concurrent)

    def run(self, func: Callable[[], T]) -> T:
        """``func()`` on a hashing thread; TooManyRequestsError if no slot frees up
        within ``wait_seconds``."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise TooManyRequestsError(1, "the server is busy checking passwords; try again")
        try:
            # A fresh thread per computation (~0.1 ms, against tens of ms of Argon2,
            # which starts its own lane threads anyway): none lingers once a store is gone.
            outcome: list[T] = []
            failure: list[BaseException] = []

            def target() -> None:
                self._lower_priority()
                try:
                    outcome.append(func())
                except BaseException as exc:
                    failure.append(exc)

            thread = threading.Thread(target=target, name="groupstore-hash", daemon=True)
            thread.start()
            thread.join()
            if failure:
                raise failure[0]
            return outcome[0]
        finally:
            self._slots.release()

    def _lower_priority(self) -> None:
        if self.niceness <= 0 or not sys.platform.startswith("linux"):
            return  # elsewhere the call would change the whole process
        try:  # on Linux, PRIO_PROCESS with a thread id applies to that thread only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)
        except OSError as exc:
            log.debug("could not lower the priority of a hashing thread: %s", exc)


def memory_ceiling_bytes(parameters: Argon2Parameters, max_concurrent: int) -> int:
    """The most memory password hashing can hold at once: slots x memory cost."""
    return max_concurrent * parameters.memory_kib * KiB


def hash_password(hasher: PasswordHasher, slots: HashingSlots, password: str) -> str:
    return slots.run(lambda: hasher.hash(password))


def verify_password(
    hasher: PasswordHasher, slots: HashingSlots, secret: str, password: str
) -> bool:
    def verify() -> bool:
        try:
            return hasher.verify(secret, password)
        except (VerificationError, InvalidHashError):
            return False

    return slots.run(verify)
