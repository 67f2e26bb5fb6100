"""Turning what a caller passes as ``file`` into a binary stream."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from groupstore.errors import ConstraintViolationError


@contextmanager
def open_source(file: Any) -> Iterator[IO[bytes]]:
    """A binary stream for bytes, a binary file object, a path, or an object with ``open()``.

    Streams that this function opens are closed again; a file object the
    caller passed stays open (it is theirs).
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        yield io.BytesIO(file)
    elif isinstance(file, (str, os.PathLike)):
        try:
            stream = open(file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ConstraintViolationError(f"cannot read file '{file}': {exc.strerror}") from exc
        with stream:
            yield stream
    elif callable(getattr(file, "read", None)):
        yield file
    elif callable(getattr(file, "open", None)):
        # flowserv's IOHandle: open() gives a fresh binary stream.
        stream = file.open()
        try:
            yield stream
        finally:
            stream.close()
    else:
        raise ConstraintViolationError(
            "file must be bytes, a binary file object, a path, or an object with open()"
        )
