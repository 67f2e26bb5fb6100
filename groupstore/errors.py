"""The groupstore error tree.

Every error a caller can see is a ``GroupStoreError``; each class carries a
stable string ``code`` that the GraphQL gateway sends to clients as
``extensions.code``. Driver exceptions are translated at the storage boundary
(``groupstore.storage.errors``) and never reach a caller untranslated.

    GroupStoreError                      STORE_ERROR
    ├── ConstraintViolationError         CONSTRAINT_VIOLATION
    │   ├── InvalidParameterError        INVALID_PARAMETER
    │   ├── InvalidArgumentError         INVALID_ARGUMENT
    │   └── DuplicateUserError           DUPLICATE_USER
    ├── UnknownObjectError               NOT_FOUND
    │   ├── UnknownUserError             UNKNOWN_USER
    │   │   └── FailedLoginError         UNKNOWN_USER  ("wrong username or password")
    │   ├── UnknownWorkflowError         UNKNOWN_WORKFLOW
    │   ├── UnknownWorkflowGroupError    UNKNOWN_GROUP
    │   └── UnknownFileError             UNKNOWN_FILE
    ├── UnauthenticatedAccessError       UNAUTHENTICATED
    ├── UnauthorizedAccessError          FORBIDDEN
    ├── TooManyRequestsError             TOO_MANY_REQUESTS
    ├── StoreUnavailableError            STORE_UNAVAILABLE
    ├── ChangeStreamsUnsupportedError    CHANGE_STREAMS_UNSUPPORTED
    ├── StoreNotEmptyError               STORE_NOT_EMPTY
    └── ArchiveError                     ARCHIVE_CORRUPT
        └── TruncatedArchiveError        ARCHIVE_TRUNCATED

Errors keep their constructor arguments in ``args`` so that they pickle and
have a readable ``repr`` (flowserv's errors lose both).
"""

from __future__ import annotations

from typing import ClassVar, Protocol


class GroupStoreError(Exception):
    """Root of every error raised by groupstore."""

    code: ClassVar[str] = "STORE_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConstraintViolationError(GroupStoreError):
    """Raised when a value breaks a rule: a bad or duplicate name, a non-JSON value."""

    code: ClassVar[str] = "CONSTRAINT_VIOLATION"


class InvalidParameterError(ConstraintViolationError):
    """Raised when a parameter declaration is malformed."""

    code: ClassVar[str] = "INVALID_PARAMETER"


class InvalidArgumentError(ConstraintViolationError):
    """Raised when a value cannot be cast to a parameter's type."""

    code: ClassVar[str] = "INVALID_ARGUMENT"


class DuplicateUserError(ConstraintViolationError):
    """Raised when a user name is already registered."""

    code: ClassVar[str] = "DUPLICATE_USER"

    def __init__(self, username: str) -> None:
        super().__init__(f"duplicate user '{username}'")
        self.args = (username,)
        self.username = username


class UnknownObjectError(GroupStoreError):
    """Raised when an identifier does not name an existing object."""

    code: ClassVar[str] = "NOT_FOUND"
    type_name: ClassVar[str] = "object"

    def __init__(self, identifier: str | None) -> None:
        super().__init__(f"unknown {self.type_name} '{identifier}'")
        self.args = (identifier,)
        self.identifier = identifier


class UnknownUserError(UnknownObjectError):
    """Raised for an unknown or inactive user (and for failed logins)."""

    code: ClassVar[str] = "UNKNOWN_USER"
    type_name: ClassVar[str] = "user"


class FailedLoginError(UnknownUserError):
    """A failed login: an unknown or inactive user and a wrong password say the same."""

    def __init__(self, identifier: str | None) -> None:
        super().__init__(identifier)
        self.message = "wrong username or password"
        Exception.__init__(self, identifier)


class UnknownWorkflowError(UnknownObjectError):
    """Raised for an unknown workflow identifier."""

    code: ClassVar[str] = "UNKNOWN_WORKFLOW"
    type_name: ClassVar[str] = "workflow"


class UnknownWorkflowGroupError(UnknownObjectError):
    """Raised for an unknown group identifier."""

    code: ClassVar[str] = "UNKNOWN_GROUP"
    type_name: ClassVar[str] = "group"


class UnknownFileError(UnknownObjectError):
    """Raised for an unknown file, or a file of another group."""

    code: ClassVar[str] = "UNKNOWN_FILE"
    type_name: ClassVar[str] = "file"


class UnauthenticatedAccessError(GroupStoreError):
    """Raised for a missing, unknown or expired API key."""

    code: ClassVar[str] = "UNAUTHENTICATED"

    def __init__(self, message: str = "not logged in") -> None:
        super().__init__(message)


class UnauthorizedAccessError(GroupStoreError):
    """Raised when an authenticated user may not perform an action."""

    code: ClassVar[str] = "FORBIDDEN"

    def __init__(self, message: str = "not authorized") -> None:
        super().__init__(message)


class _Administrators(Protocol):
    def is_admin(self, user_id: str) -> bool: ...


def require_admin(users: _Administrators, caller: str | None, action: str) -> None:
    """UnauthorizedAccessError unless ``caller`` is None (the library's own trusted use)
    or an active administrator."""
    if caller is not None and not users.is_admin(caller):
        raise admin_required(action)


def admin_required(action: str) -> UnauthorizedAccessError:
    """The error for a non-administrator's ``action``, saying how to become one."""
    return UnauthorizedAccessError(
        f"only administrators may {action}; an administrator is made with "
        "'groupstore users promote USERNAME' (on the local store while scripts/serve runs, "
        "else with --uri), or named in GROUPSTORE_ADMINS"
    )


class TooManyRequestsError(GroupStoreError):
    """Raised when a caller must slow down: too many failed logins, or every hashing slot busy.

    ``retry_after`` is the number of whole seconds after which trying again
    may succeed (the gateway sends it as the ``Retry-After`` header).
    """

    code: ClassVar[str] = "TOO_MANY_REQUESTS"

    def __init__(self, retry_after: int = 1, message: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(message or f"too many requests; try again in {retry_after} s")
        self.args = (retry_after, message)
        self.retry_after = retry_after


class StoreUnavailableError(GroupStoreError):
    """Raised when the database cannot be reached within the configured time."""

    code: ClassVar[str] = "STORE_UNAVAILABLE"


class ChangeStreamsUnsupportedError(GroupStoreError):
    """Raised by ``watch_changes`` on a server without change streams.

    Change streams need a MongoDB replica set or sharded cluster; a standalone
    MongoDB, FerretDB and the in-memory store have none.
    """

    code: ClassVar[str] = "CHANGE_STREAMS_UNSUPPORTED"


class StoreNotEmptyError(GroupStoreError):
    """Raised by ``restore`` into a store that holds data, unless merging was asked for."""

    code: ClassVar[str] = "STORE_NOT_EMPTY"


class ArchiveError(GroupStoreError):
    """Raised for a backup archive that is not one, or whose bytes do not match its checksums."""

    code: ClassVar[str] = "ARCHIVE_CORRUPT"


class TruncatedArchiveError(ArchiveError):
    """Raised for a backup archive that ends before its trailer (an interrupted copy)."""

    code: ClassVar[str] = "ARCHIVE_TRUNCATED"
