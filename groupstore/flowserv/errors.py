"""groupstore's errors as flowserv's: each one an instance of both classes.

``ERROR_TABLE`` maps every groupstore error class to the flowserv class
flowserv raises in the same case; ``flowserv_error`` turns a groupstore error
into an instance of a class derived from both (built once per pair), so
``except flowserv.error.UnknownWorkflowGroupError`` and
``except groupstore.GroupStoreError`` both catch it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import flowserv.error as fe

import groupstore.errors as ge


class UnknownRunError(ge.UnknownObjectError):
    """Raised for an unknown run (runs are flowserv's; the auth policy looks them up)."""

    code = "UNKNOWN_RUN"
    type_name = "run"


ERROR_TABLE: dict[type[ge.GroupStoreError], type[Exception]] = {
    ge.GroupStoreError: fe.FlowservError,
    ge.ConstraintViolationError: fe.ConstraintViolationError,
    ge.InvalidParameterError: fe.InvalidParameterError,
    ge.InvalidArgumentError: fe.InvalidArgumentError,
    ge.DuplicateUserError: fe.DuplicateUserError,
    ge.UnknownObjectError: fe.UnknownObjectError,
    ge.UnknownUserError: fe.UnknownUserError,
    ge.UnknownWorkflowError: fe.UnknownWorkflowError,
    ge.UnknownWorkflowGroupError: fe.UnknownWorkflowGroupError,
    ge.UnknownFileError: fe.UnknownFileError,
    UnknownRunError: fe.UnknownRunError,
    ge.UnauthenticatedAccessError: fe.UnauthenticatedAccessError,
    ge.UnauthorizedAccessError: fe.UnauthorizedAccessError,
}
"""groupstore error class -> the flowserv class flowserv raises for it."""


def _rebuild(error_class: type[ge.GroupStoreError], args: tuple[Any, ...]) -> Exception:
    """Unpickle: the groupstore error from its arguments, then as flowserv's."""
    return flowserv_error(error_class(*args))


_BOTH: dict[type[ge.GroupStoreError], type[ge.GroupStoreError]] = {}


def _both(error_class: type[ge.GroupStoreError]) -> type[ge.GroupStoreError]:
    """The class derived from the flowserv class and the groupstore class (built once)."""
    if error_class in _BOTH:
        return _BOTH[error_class]
    flowserv_class = next(ERROR_TABLE[c] for c in error_class.__mro__ if c in ERROR_TABLE)

    def __reduce__(self: ge.GroupStoreError) -> tuple[Any, ...]:
        return (_rebuild, (error_class, self.args))

    both = cast(
        "type[ge.GroupStoreError]",
        type(
            error_class.__name__,
            (flowserv_class, error_class),
            {
                "__module__": __name__,
                "__doc__": f"{error_class.__doc__} (also flowserv's {flowserv_class.__name__})",
                "__reduce__": __reduce__,
                "__str__": ge.GroupStoreError.__str__,
            },
        ),
    )
    _BOTH[error_class] = both
    return both


def flowserv_error(error: ge.GroupStoreError) -> ge.GroupStoreError:
    """The same error (message, arguments, attributes), also an instance of flowserv's class."""
    if isinstance(error, fe.FlowservError):
        return cast(ge.GroupStoreError, error)
    both = _both(type(error))
    translated: ge.GroupStoreError = both.__new__(both)
    translated.__dict__.update(error.__dict__)
    translated.args = error.args
    translated.__traceback__ = error.__traceback__
    return translated


@contextmanager
def as_flowserv() -> Iterator[None]:
    """Re-raise groupstore errors as ``flowserv_error`` does."""
    try:
        yield
    except ge.GroupStoreError as exc:
        if isinstance(exc, fe.FlowservError):
            raise
        raise flowserv_error(exc) from None


F = TypeVar("F", bound=Callable[..., Any])


def raises_flowserv(method: F) -> F:
    """Decorate a method: its groupstore errors come out as ``flowserv_error``s."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with as_flowserv():
            return method(*args, **kwargs)

    return cast(F, wrapper)
