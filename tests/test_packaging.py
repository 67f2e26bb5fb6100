"""The distribution: the sdist holds what its tests need; the wheel installs and runs.

The wheel is built (from the sdist, as pip would), installed without its
dependencies into a fresh venv that borrows them from the test venv (a .pth
line: the wheel's own files are what is tested, with no download), and then
run from outside the source tree: ``groupstore --version``, a library round
trip on the test backend, and the gateway's ``/healthz``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

import groupstore
from tests.backend import new_store_uri
from tests.support import first_response, free_port

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "pyproject.toml").exists():
        pytest.fail("no pyproject.toml: run from a source tree")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def only(folder: Path, pattern: str) -> Path:
    [found] = folder.glob(pattern)
    return found


def test_the_sdist_carries_every_test_module_and_what_the_tests_read(dist: Path):
    with tarfile.open(only(dist, "groupstore-*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}

    wanted = {
        str(path.relative_to(REPO))
        for path in (REPO / "tests").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert wanted - names == set()
    assert {"tests/conftest.py", "tests/backend.py", "tests/api/conftest.py"} <= names
    assert {"LICENSE", "schema.graphql", "scripts/ferretdb", "pyproject.toml"} <= names
    assert not any(name.endswith(".pyc") for name in names)


def test_the_wheel_has_the_license_types_and_assets(dist: Path):
    with zipfile.ZipFile(only(dist, "groupstore-*.whl")) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = wheel.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()

    assert {"groupstore/py.typed", "graphql_api/py.typed"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in metadata
    assert f"Version: {groupstore.__version__}" in metadata
    assert any(n.startswith("graphql_api/static/") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    # `groupstore serve` / `schema` find the gateway through these (never an import).
    assert "[groupstore.gateway]" in entry_points
    assert "serve = graphql_api.__main__:serve" in entry_points
    assert "schema = graphql_api.__main__:schema_sdl" in entry_points


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; dependencies come from this venv."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(only(dist, "groupstore-*.whl"))],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    return venv


def run_installed(venv: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GROUPSTORE_", "PYTHON"))}
    environ.update(env)
    return subprocess.run(
        list(args),
        cwd=venv,  # not the source tree: nothing can be imported from there
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_installed_cli_prints_its_version(installed: Path):
    done = run_installed(installed, str(installed / "bin" / "groupstore"), "--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"groupstore, version {groupstore.__version__}\n"


ROUND_TRIP = """
import sys, groupstore
assert groupstore.__file__.startswith(sys.prefix), groupstore.__file__
uri, database = sys.argv[1], sys.argv[2]
with groupstore.connect(uri, database) as store:
    try:
        alice = store.users.register_user("alice", "a long password")
        wf = store.workflows.create_workflow("w")
        group = store.groups.create_group(wf.workflow_id, "g", [], {}, user_id=alice.user_id)
        f = store.groups.upload_file(group.group_id, b"hello", "h.txt")
        with store.groups.get_uploaded_file(group.group_id, f.file_id).open() as stream:
            print(stream.read().decode(), store.groups.get_group(group.group_id).name)
    finally:
        if not uri.startswith("mongomock"):
            store.client.drop_database(database)
"""


def test_the_installed_library_does_a_round_trip(installed: Path):
    uri, database = new_store_uri()

    done = run_installed(installed, str(installed / "bin" / "python"), "-c", ROUND_TRIP,
                         uri, database)  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello g\n"


def test_the_installed_gateway_answers_healthz_and_serves_graphiql(installed: Path):
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    server = subprocess.Popen(
        [str(installed / "bin" / "groupstore-gateway"), "--port", str(port)],
        cwd=installed,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            health = first_response(
                http, server, "/healthz", timeout=60, interval=0.1, what="the gateway"
            )
            page = http.get("/graphql", headers={"accept": "text/html"})
        assert health.json() == {"status": "ok"}
        assert page.status_code == 200 and "graphiql" in page.text.lower()
    finally:
        server.terminate()
        server.wait(timeout=15)
