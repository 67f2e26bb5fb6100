"""The public surface: what `import groupstore` promises, and which way imports point."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

import groupstore

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_NAMES = {
    "connect", "GroupStore", "UserManager", "WorkflowManager", "WorkflowGroupManager",
    "GroupStoreError", "ConstraintViolationError", "InvalidParameterError", "DuplicateUserError",
    "UnknownUserError", "UnknownWorkflowError", "UnknownWorkflowGroupError", "UnknownFileError",
    "UnauthenticatedAccessError", "UnauthorizedAccessError", "StoreUnavailableError",
    "Group", "UploadedFile", "FileHandle", "User", "Workflow", "ApiKey", "Parameter", "repair",
}  # fmt: skip
ERRORS = [
    getattr(groupstore, name)
    for name in groupstore.__all__
    if isinstance(getattr(groupstore, name), type)
    and issubclass(getattr(groupstore, name), Exception)
]


def test_all_lists_exactly_the_public_names():
    public = {name for name in vars(groupstore) if not name.startswith("_")}
    public -= {"errors", "groups", "model", "parameters", "repair", "storage", "store", "users",
               "workflows", "validation", "uploads", "jsonvalue", "cli", "changes", "passwords",
               "senders", "local", "backup", "directory", "flowserv",
               "flowserv_import"}  # fmt: skip
    public.add("repair")  # the function shadows the module of the same name
    assert set(groupstore.__all__) - {"__version__"} == public
    # ruff's order (RUF022): CONSTANTS, then Classes, then functions, each alphabetical
    kind = {True: 0, False: 1}
    order = sorted(
        groupstore.__all__, key=lambda n: (2 if n[0].islower() else kind[n.isupper()], n)
    )
    assert groupstore.__all__ == order


def test_contract_names_are_exported():
    assert set(groupstore.__all__) >= CONTRACT_NAMES


def test_every_error_is_a_groupstore_error_with_its_own_code():
    codes = [error.code for error in ERRORS]
    assert all(issubclass(error, groupstore.GroupStoreError) for error in ERRORS)
    assert len(set(codes)) == len(codes)
    assert all(code.isupper() for code in codes)


@pytest.mark.parametrize(
    "error",
    [
        groupstore.UnknownWorkflowGroupError("g1"),
        groupstore.DuplicateUserError("alice"),
        groupstore.ConstraintViolationError("bad"),
        groupstore.UnauthenticatedAccessError(),
        groupstore.TooManyRequestsError(30),
    ],
)
def test_errors_keep_their_arguments_and_pickle(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    assert repr(error).startswith(type(error).__name__ + "(")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


DRIVER = {"pymongo", "bson", "gridfs", "mongomock"}
ABOVE_STORAGE = [p for p in (ROOT / "groupstore").rglob("*.py") if "storage" not in p.parts]
# "$set", "$in", "$ne": an operator (or a "$field" path) on its own; "$argon2id$v=19$..." is not.
OPERATOR = re.compile(r"\$[a-z][A-Za-z]*")


def _operators(path: Path) -> list[str]:
    """The MongoDB operators a module spells: a string that is one, or a key starting with $."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        keys: list[ast.expr | None] = []
        if isinstance(node, ast.Dict):
            keys = list(node.keys)
        elif isinstance(node, ast.Subscript):
            keys = [node.slice]
        for key in keys:
            if isinstance(key, ast.Constant) and str(key.value).startswith("$"):
                found.append(f"{key.value!s} (line {key.lineno})")
        if isinstance(node, ast.Constant) and OPERATOR.fullmatch(str(node.value)):
            found.append(f"{node.value!s} (line {node.lineno})")
    return sorted(set(found))


@pytest.mark.parametrize("path", ABOVE_STORAGE, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_storage_package_imports_the_driver(path):
    assert not _imports(path) & DRIVER


@pytest.mark.parametrize("path", ABOVE_STORAGE, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_storage_package_speaks_mongodb(path):
    """Managers say what a write means (``groups.rename(g, name, owner=u)``); the filter and
    update that carry it, and their FerretDB quirks, live in ``groupstore/storage/``."""
    assert _operators(path) == []


def test_the_operator_check_finds_operators(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('q = {"owner_id": {"$ne": u}}\nd["$set"] = 1\nop = "$in"\nh = "$argon2id$"\n')
    assert _operators(module) == ["$in (line 3)", "$ne (line 1)", "$set (line 2)"]


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "graphql_api").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_gateway_uses_the_library_not_the_driver(path):
    assert not _imports(path) & DRIVER
