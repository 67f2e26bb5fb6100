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

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from groupstore.errors import ConstraintViolationError, TooManyRequestsError

KiB = 1024


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
    """At most ``max_concurrent`` password computations at a time in this process."""

    def __init__(self, max_concurrent: int = 2, wait_seconds: float = 10.0) -> None:
        if max_concurrent < 1 or wait_seconds < 0:
            raise ConstraintViolationError("need max_concurrent >= 1 and wait_seconds >= 0")
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(max_concurrent)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot; TooManyRequestsError if none frees up within ``wait_seconds``."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise TooManyRequestsError(1, "the server is busy checking passwords; try again")
        try:
            yield
        finally:
            self._slots.release()


def memory_ceiling_bytes(parameters: Argon2Parameters, max_concurrent: int) -> int:
    """The most memory password hashing can hold at once: slots x memory cost."""
    return max_concurrent * parameters.memory_kib * KiB


def hash_password(hasher: PasswordHasher, slots: HashingSlots, password: str) -> str:
    with slots.slot():
        return hasher.hash(password)


def verify_password(
    hasher: PasswordHasher, slots: HashingSlots, secret: str, password: str
) -> bool:
    with slots.slot():
        try:
            return hasher.verify(secret, password)
        except (VerificationError, InvalidHashError):
            return False
