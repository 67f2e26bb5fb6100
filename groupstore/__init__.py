"""groupstore: workflow groups (members, parameters, workflow spec, uploaded files) in MongoDB.

import groupstore
with groupstore.connect("mongodb://localhost:27017/groups") as store:
    alice = store.users.register_user("alice", "secret")
    wf = store.workflows.create_workflow("benchmark")
    group = store.groups.create_group(wf.workflow_id, "team-a", user_id=alice.user_id)
"""

from groupstore.changes import Change, ChangeKind
from groupstore.errors import (
    ChangeStreamsUnsupportedError,
    ConstraintViolationError,
    DuplicateUserError,
    GroupStoreError,
    InvalidArgumentError,
    InvalidParameterError,
    StoreUnavailableError,
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
from groupstore.repair import RepairReport, repair
from groupstore.store import GroupStore, connect
from groupstore.users import UserManager
from groupstore.workflows import WorkflowManager

__version__ = "0.1.0"

__all__ = [
    "ACCESS_RULES",
    "Actor",
    "ApiKey",
    "Array",
    "Bool",
    "Change",
    "ChangeKind",
    "ChangeStreamsUnsupportedError",
    "ConstraintViolationError",
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
    "Member",
    "Option",
    "Parameter",
    "RangeConstraint",
    "Record",
    "RepairReport",
    "Select",
    "StoreUnavailableError",
    "String",
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
    "Workflow",
    "WorkflowGroupManager",
    "WorkflowManager",
    "__version__",
    "connect",
    "parameter_from_dict",
    "parameters_to_list",
    "repair",
]
