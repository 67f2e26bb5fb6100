"""Who may call each GraphQL operation: the README's table, generated so it cannot drift.

Group operations defer to the library's rule (``groupstore.ACCESS_RULES``);
the gateway adds only whether a login is needed. A test checks that every
operation of the schema has a row here and that the README shows this table.

    python -m graphql_api.access     # print the markdown table
"""

from __future__ import annotations

from groupstore import ACCESS_RULES

ANYONE = "anyone"
USER = "user (logged in)"
ADMIN = "administrator"


def _group(method: str) -> str:
    return ACCESS_RULES[method]


OPERATION_ACCESS: dict[str, tuple[str, str]] = {
    # operation: (who may call it, the library call behind it)
    "Query.me": (ANYONE + " (null when anonymous)", "UserManager.authenticate"),
    "Query.workflow": (USER, "WorkflowManager.get_workflow"),
    "Query.workflows": (USER, "WorkflowManager.list_workflows"),
    "Query.group": (_group("get_group"), "get_group"),
    "Query.groups": (_group("list_groups_page"), "list_groups_page"),
    "Query.uploadedFiles": (_group("list_uploaded_files"), "list_uploaded_files"),
    "Query.users": (USER + "; ids and names only", "UserManager.list_users_page"),
    "Mutation.registerUser": (
        ANYONE + " (administrators when GROUPSTORE_OPEN_REGISTRATION=false)",
        "UserManager.register_user",
    ),
    "Mutation.login": (ANYONE + " (throttled after failures)", "UserManager.login_user"),
    "Mutation.logout": (USER, "UserManager.logout_user"),
    "Mutation.activateUser": (
        "whoever holds the activation token",
        "UserManager.activate_user_with_token",
    ),
    "Mutation.requestPasswordReset": (
        ANYONE + " (same answer for unknown names)",
        "UserManager.request_password_reset",
    ),
    "Mutation.resetPassword": ("whoever holds the reset token", "UserManager.reset_password"),
    "Mutation.changePassword": (USER + " (with the old password)", "UserManager.change_password"),
    "Mutation.createWorkflow": (ADMIN, "WorkflowManager.create_workflow"),
    "Mutation.createGroup": (_group("create_group"), "create_group"),
    "Mutation.updateGroup": (_group("update_group"), "update_group"),
    "Mutation.deleteGroup": (_group("delete_group"), "delete_group"),
    "Mutation.addMember": (_group("add_member"), "add_member"),
    "Mutation.removeMember": (_group("remove_member"), "remove_member"),
    "Mutation.leaveGroup": (_group("leave_group"), "leave_group"),
    "Mutation.transferOwnership": (_group("transfer_ownership"), "transfer_ownership"),
    "Mutation.uploadFile": (_group("upload_file"), "upload_file"),
    "Mutation.deleteFile": (_group("delete_file"), "delete_file"),
    "Subscription.groupChanged": ("member (re-checked per event)", "get_group"),
    "Subscription.filesChanged": ("member (re-checked per event)", "get_group"),
    "GET /files/{groupId}/{fileId}": (_group("get_uploaded_file"), "get_uploaded_file"),
    "GET /files/{groupId}/{fileId}?user=&session=&expires=&sig=": (
        "whoever holds a signed link of a member, until it expires, they leave or their "
        "session ends",
        "get_uploaded_file",
    ),
}


def access_table() -> str:
    """The markdown table of ``OPERATION_ACCESS``."""
    rows = ["| operation | who may call it | library call |", "|---|---|---|"]
    for operation, (who, call) in OPERATION_ACCESS.items():
        rows.append(f"| `{operation}` | {who} | `{call}` |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(access_table(), end="")
