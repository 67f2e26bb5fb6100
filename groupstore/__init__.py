"""groupstore: workflow groups (members, parameters, workflow spec, uploaded files) in MongoDB.

import groupstore
with groupstore.connect("mongodb://localhost:27017/groups") as store:
    alice = store.users.register_user("alice", "secret")
    wf = store.workflows.create_workflow("benchmark")
    group = store.groups.create_group(wf.workflow_id, "team-a", user_id=alice.user_id)
"""

from groupstore.changes import Change, ChangeKind, Publisher
from groupstore.directory import Directory, StoreDirectory, WorkflowDefaults
from groupstore.errors import (
    ArchiveError,
    ChangeStreamsUnsupportedError,
    ConstraintViolationError,
    DuplicateUserError,
    GroupStoreError,
    InvalidArgumentError,
    InvalidParameterError,
    StoreNotEmptyError,
    StoreUnavailableError,
    TooManyRequestsError,
    TruncatedArchiveError,
    UnauthenticatedAccessError,
    UnauthorizedAccessError,
    UnknownFileError,
    UnknownObjectError,
    UnknownUserError,
    UnknownWorkflowError,
    UnknownWorkflowGroupError,
)
from groupstore.groups import ACCESS_RULES, GroupPage, WorkflowGroupManager
from groupstore.model import (
    ApiKey,
    FileHandle,
    Group,
    GroupSummary,
    Member,
    UploadedFile,
    User,
    Workflow,
)
from groupstore.parameters import (
    Actor,
    Array,
    Bool,
    File,
    Float,
    Int,
    Option,
    Parameter,
    RangeConstraint,
    Record,
    Select,
    String,
    parameter_from_dict,
    parameters_to_list,
)
from groupstore.passwords import Argon2Parameters
from groupstore.repair import RepairReport, repair
from groupstore.senders import LogSender, RecordingSender, SmtpSender, TokenMessage, TokenSender
from groupstore.storage.changes import ChangeCursor, ChangeFeed
from groupstore.storage.client import MEMORY_URI
from groupstore.store import DEFAULT_TIMEOUT, GroupStore, connect
from groupstore.users import DEFAULT_TOKEN_TTL, AccountPolicy, UserManager, UserPage
from groupstore.validation import MAX_PAGE_SIZE
from groupstore.workflows import WorkflowManager

__version__ = "0.2.0"  # the one place: pyproject.toml reads it (dynamic version)

__all__ = [
    "ACCESS_RULES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOKEN_TTL",
    "MAX_PAGE_SIZE",
    "MEMORY_URI",
    "AccountPolicy",
    "Actor",
    "ApiKey",
    "ArchiveError",
    "Argon2Parameters",
    "Array",
    "Bool",
    "Change",
    "ChangeCursor",
    "ChangeFeed",
    "ChangeKind",
    "ChangeStreamsUnsupportedError",
    "ConstraintViolationError",
    "Directory",
    "DuplicateUserError",
    "File",
    "FileHandle",
    "Float",
    "Group",
    "GroupPage",
    "GroupStore",
    "GroupStoreError",
    "GroupSummary",
    "Int",
    "InvalidArgumentError",
    "InvalidParameterError",
    "LogSender",
    "Member",
    "Option",
    "Parameter",
    "Publisher",
    "RangeConstraint",
    "Record",
    "RecordingSender",
    "RepairReport",
    "Select",
    "SmtpSender",
    "StoreDirectory",
    "StoreNotEmptyError",
    "StoreUnavailableError",
    "String",
    "TokenMessage",
    "TokenSender",
    "TooManyRequestsError",
    "TruncatedArchiveError",
    "UnauthenticatedAccessError",
    "UnauthorizedAccessError",
    "UnknownFileError",
    "UnknownObjectError",
    "UnknownUserError",
    "UnknownWorkflowError",
    "UnknownWorkflowGroupError",
    "UploadedFile",
    "User",
    "UserManager",
    "UserPage",
    "Workflow",
    "WorkflowDefaults",
    "WorkflowGroupManager",
    "WorkflowManager",
    "__version__",
    "connect",
    "parameter_from_dict",
    "parameters_to_list",
    "repair",
]
