"""Fixtures shared by the whole suite.

The same tests run on two backends:
- in memory (mongomock) by default;
- a real MongoDB-protocol server when ``GROUPSTORE_TEST_MONGO_URI`` is set
  (CI runs FerretDB; a MongoDB URI works the same). Each test gets a fresh
  database there, dropped afterwards.

Markers:
- ``real_server``: needs a real server; skipped, with that reason, in memory.
- ``flowserv``: runs flowserv-core's own code on groupstore's objects; skipped,
  with that reason, when flowserv-core is not installed (CI requires it).
- ``ferretdb_difference(reason, strict=True, backends=FERRETDB_BACKENDS)``:
  FerretDB differs from MongoDB here; on the FerretDB backends named (default:
  both, ``ferretdb-sqlite`` and ``ferretdb-postgresql``) the test is an expected
  failure (strict: if FerretDB starts behaving like MongoDB, the run says so;
  ``strict=False`` for differences that show only under some timings). On the
  other backends it must pass.

The backend (``tests.backend.BACKEND``) comes from ``GROUPSTORE_TEST_BACKEND``,
which scripts/test sets for each leg, or is found out from the server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import groupstore
from groupstore import GroupStore, User, Workflow
from tests.backend import BACKEND, BACKENDS, MONGO_URI, new_store_uri
from tests.support import cheap_hashing

FERRETDB_BACKENDS = ("ferretdb-sqlite", "ferretdb-postgresql")


@pytest.fixture(autouse=True, scope="session")
def _no_local_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test finds a local store ``scripts/serve`` may be serving from this checkout."""
    before = os.environ.get("GROUPSTORE_DATA_DIR")
    os.environ["GROUPSTORE_DATA_DIR"] = str(tmp_path_factory.mktemp("no-local-store"))
    yield
    if before is None:
        del os.environ["GROUPSTORE_DATA_DIR"]
    else:
        os.environ["GROUPSTORE_DATA_DIR"] = before


def pytest_report_header(config: pytest.Config) -> str:
    where = f"{MONGO_URI} ({BACKEND})" if MONGO_URI else "mongomock (memory)"
    return f"groupstore backend: {where}"


def _flowserv_installed() -> bool:
    try:
        import flowserv  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    flowserv_missing = not _flowserv_installed()
    if flowserv_missing and os.environ.get("GROUPSTORE_TEST_REQUIRE_FLOWSERV"):
        raise pytest.UsageError(
            "GROUPSTORE_TEST_REQUIRE_FLOWSERV is set but flowserv-core is not installed: "
            "pip install -e '.[flowserv]'"
        )
    for item in items:
        if item.get_closest_marker("flowserv") and flowserv_missing:
            item.add_marker(
                pytest.mark.skip(reason="needs flowserv-core: pip install '.[flowserv]'")
            )
        if item.get_closest_marker("local_store") and BACKEND != "memory":
            item.add_marker(
                pytest.mark.skip(reason="starts its own FerretDB: runs on the memory leg only")
            )
        if item.get_closest_marker("real_server") and not MONGO_URI:
            item.add_marker(
                pytest.mark.skip(reason="needs a real server: GROUPSTORE_TEST_MONGO_URI")
            )
        difference = item.get_closest_marker("ferretdb_difference")
        if difference is None:
            continue
        backends = tuple(difference.kwargs.get("backends", FERRETDB_BACKENDS))
        unknown = set(backends) - set(BACKENDS)
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown backends {sorted(unknown)}")
        if BACKEND in backends:
            reason = difference.args[0] if difference.args else difference.kwargs["reason"]
            strict = difference.kwargs.get("strict", True)
            item.add_marker(pytest.mark.xfail(reason=f"{BACKEND} differs: {reason}", strict=strict))


@pytest.fixture
def store_factory() -> Iterator[callable]:  # type: ignore[valid-type]
    """Opens stores on fresh databases; drops and closes them after the test."""
    opened: list[GroupStore] = []

    def factory(database: str | None = None, **kwargs: object) -> GroupStore:
        uri, fresh = new_store_uri()
        store = cheap_hashing(
            groupstore.connect(uri, database=database or fresh, **kwargs)  # type: ignore[arg-type]
        )
        opened.append(store)
        return store

    yield factory
    for store in opened:
        if MONGO_URI:
            store.client.drop_database(store.db.name)
        store.close()


@pytest.fixture
def store(store_factory) -> GroupStore:
    return store_factory()


@pytest.fixture
def alice(store: GroupStore) -> User:
    return store.users.register_user("alice", "alice-password")


@pytest.fixture
def bob(store: GroupStore) -> User:
    return store.users.register_user("bob", "bob-password")


@pytest.fixture
def carol(store: GroupStore) -> User:
    return store.users.register_user("carol", "carol-password")


@pytest.fixture
def workflow(store: GroupStore) -> Workflow:
    return store.workflows.create_workflow("benchmark", description="a test workflow")
