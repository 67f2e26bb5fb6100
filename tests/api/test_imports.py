"""Imports point one way: the gateway uses groupstore's public names, never the driver."""

from __future__ import annotations

import ast
from pathlib import Path

import graphql_api.app  # noqa: F401 - the package is importable as a whole

PACKAGE = Path(__file__).resolve().parents[2] / "graphql_api"
FORBIDDEN = ("pymongo", "bson", "gridfs", "mongomock", "groupstore.storage")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_gateway_never_imports_the_driver_or_the_storage_layer() -> None:
    offenders = {
        f"{path.name}: {module}"
        for path in PACKAGE.glob("*.py")
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN)
    }

    assert offenders == set()


def test_the_gateway_uses_only_groupstores_public_names() -> None:
    offenders = {
        f"{path.name}: {module}"
        for path in PACKAGE.glob("*.py")
        for module in imported_modules(path)
        if module.startswith("groupstore.")
    }

    assert offenders == set()


def _is_a_store(node: ast.expr) -> bool:
    """``store``, ``opened`` (the lifespan's store) or ``<anything>.store``."""
    if isinstance(node, ast.Name):
        return node.id in {"store", "opened"}
    return isinstance(node, ast.Attribute) and node.attr == "store"


def test_the_gateway_never_reaches_past_the_store_to_its_client_or_database() -> None:
    offenders = {
        f"{path.name}:{node.lineno} .{node.attr}"
        for path in PACKAGE.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr in {"client", "db", "fs", "storage"}
        and _is_a_store(node.value)
    }

    assert offenders == set()
