"""Password hashing with a bounded number of Argon2 computations at a time.

Argon2 is memory-hard on purpose: each hash or verification allocates
``memory_cost`` KiB (64 MiB by default) for its duration. Without a bound, 32
concurrent logins took a gateway from 102 MB to 2,152 MB of memory. Here at
most ``max_concurrent`` computations run at once per process, so password
hashing never holds more than ``max_concurrent x memory_cost`` (128 MiB by
default); the others wait up to ``wait_seconds`` for a slot and then fail
with ``TooManyRequestsError`` instead of piling up.

Imported accounts (``groupstore import-flowserv --standalone``) keep
flowserv's passlib ``pbkdf2_sha256`` hashes (``$pbkdf2-sha256$rounds$salt$sum``,
adapted base64). ``verify_password`` checks them with the standard library's
PBKDF2 (``hashlib.pbkdf2_hmac``; only the hash string's layout is parsed here),
and ``needs_rehash`` says yes, so the first successful login replaces them by
an Argon2id hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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
PBKDF2_SHA256 = "$pbkdf2-sha256$"
"""The prefix of passlib's pbkdf2_sha256 hashes, flowserv's password hashes."""
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
    if secret.startswith(PBKDF2_SHA256):
        return slots.run(lambda: _verify_pbkdf2_sha256(secret, password))

    def verify() -> bool:
        try:
            return hasher.verify(secret, password)
        except (VerificationError, InvalidHashError):
            return False

    return slots.run(verify)


def needs_rehash(hasher: PasswordHasher, secret: str) -> bool:
    """Whether a stored hash should be replaced: an imported one, or weaker Argon2 costs."""
    if secret.startswith(PBKDF2_SHA256):
        return True
    try:
        return hasher.check_needs_rehash(secret)
    except InvalidHashError:
        return True


def is_known_hash(secret: object) -> bool:
    """Whether ``secret`` is a password hash this module verifies (Argon2 or pbkdf2_sha256)."""
    if not isinstance(secret, str):
        return False
    if secret.startswith(PBKDF2_SHA256):
        return _parse_pbkdf2_sha256(secret) is not None
    return secret.startswith("$argon2")


def _parse_pbkdf2_sha256(secret: str) -> tuple[int, bytes, bytes] | None:
    """(rounds, salt, checksum) of a passlib pbkdf2_sha256 hash; None if malformed."""
    parts = secret[len(PBKDF2_SHA256) :].split("$")
    if len(parts) != 3 or not parts[0].isdigit():
        return None
    try:
        salt, checksum = (_ab64_decode(part) for part in parts[1:])
    except (binascii.Error, ValueError):
        return None
    rounds = int(parts[0])
    if not 1 <= rounds <= 10_000_000 or len(checksum) != 32:
        return None
    return rounds, salt, checksum


def _ab64_decode(text: str) -> bytes:
    """passlib's "adapted base64": ``.`` for ``+``, no padding."""
    return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)


def _verify_pbkdf2_sha256(secret: str, password: str) -> bool:
    parsed = _parse_pbkdf2_sha256(secret)
    if parsed is None:
        return False
    rounds, salt, checksum = parsed
    computed = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, rounds)
    return hmac.compare_digest(computed, checksum)
