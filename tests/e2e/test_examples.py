"""The examples in examples/ run as they are: docs that cannot rot.

The library script runs on the test backend; the curl script and the Python
client run against the real gateway process (on the same backend).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.backend import MONGO_URI, new_store_uri
from tests.e2e.gqlclient import ADMIN
from tests.e2e.server import REPO, Gateway

EXAMPLES = REPO / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    # The test gateway's administrator (GROUPSTORE_ADMINS in tests/e2e/server.py).
    env |= {"ADMIN_USER": ADMIN, "ADMIN_PASSWORD": f"{ADMIN}-password"}
    return subprocess.run(
        list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_library_example_runs():
    uri, database = new_store_uri()
    try:
        done = run(sys.executable, str(EXAMPLES / "library.py"), uri, database)
    finally:
        if MONGO_URI:
            import groupstore

            with groupstore.connect(uri, database) as store:
                store.client.drop_database(database)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "group: team-alpha",
        "file: results.csv (19 bytes, text/csv)",
        "header: name,score",
        "parameters: greeting, runs",
    ]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_curl_example_runs_against_the_gateway(gateway: Gateway):
    done = run("bash", str(EXAMPLES / "curl.sh"), gateway.url)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["groups: team-a", "file: name,score"]


def test_the_python_client_example_runs_against_the_gateway(gateway: Gateway):
    done = run(sys.executable, str(EXAMPLES / "client.py"), gateway.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["groups: team-a", "file: name,score"]
