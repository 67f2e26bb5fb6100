"""``groupstore files``: upload, download (progress bar, checksum), list, delete (both backends)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from groupstore import Group, GroupStore
from groupstore.cli.files import PROGRESS_MIN_BYTES
from tests.cli_helpers import Cli


@pytest.fixture
def cli(store: GroupStore) -> Cli:
    return Cli(store)


@pytest.fixture
def group(store, workflow, alice) -> Group:
    return store.groups.create_group(workflow.workflow_id, "team", [], {}, user_id=alice.user_id)


def test_upload_stores_the_file_and_prints_its_id(cli, store, group, tmp_path: Path):
    (tmp_path / "results.csv").write_bytes(b"a,b\n1,2\n")

    file_id = cli.ok(
        "files", "upload", group.group_id, str(tmp_path / "results.csv")
    ).stdout.strip()

    [uploaded] = store.groups.list_uploaded_files(group.group_id)
    assert (uploaded.file_id, uploaded.name, uploaded.size) == (file_id, "results.csv", 8)
    assert uploaded.mime_type == "text/csv"


def test_upload_under_another_name_and_from_stdin(cli, store, group, tmp_path: Path):
    (tmp_path / "x.bin").write_bytes(b"xyz")

    cli.ok("files", "upload", group.group_id, str(tmp_path / "x.bin"), "--name", "renamed.txt")
    cli.ok("files", "upload", group.group_id, "-", "--name", "piped.txt", input=b"from stdin")

    files = store.groups.list_uploaded_files(group.group_id)
    assert [(f.name, f.size) for f in files] == [("renamed.txt", 3), ("piped.txt", 10)]


def test_upload_from_stdin_needs_a_name(cli, store, group):
    result = cli("files", "upload", group.group_id, "-", input=b"data")

    assert result.exit_code == 2
    assert store.groups.list_uploaded_files(group.group_id) == []


def test_upload_to_an_unknown_group_is_one_line(cli, tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"a")

    result = cli("files", "upload", "nope", str(tmp_path / "a.txt"))

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "[UNKNOWN_GROUP]" in result.stderr


def test_a_large_upload_shows_a_progress_bar_a_small_one_not(cli, group, tmp_path: Path):
    (tmp_path / "big.bin").write_bytes(os.urandom(PROGRESS_MIN_BYTES + 1))
    (tmp_path / "small.bin").write_bytes(b"s")

    big = cli.ok("files", "upload", group.group_id, str(tmp_path / "big.bin"))
    small = cli.ok("files", "upload", group.group_id, str(tmp_path / "small.bin"))
    quiet = cli.ok(
        "--quiet", "files", "upload", group.group_id, str(tmp_path / "big.bin"), "--name", "q"
    )

    assert "uploading big.bin" in big.stderr and "1.0/1.0 MiB" in big.stderr
    assert "uploading" not in small.stderr
    assert quiet.stderr == ""


def test_download_writes_the_bytes_and_checks_them(cli, store, group, tmp_path: Path):
    data = os.urandom(PROGRESS_MIN_BYTES + 5)
    uploaded = store.groups.upload_file(group.group_id, data, "data.bin")
    target = tmp_path / "copy.bin"

    result = cli.ok("files", "download", group.group_id, uploaded.file_id, "-o", str(target))

    assert target.read_bytes() == data
    assert "downloading data.bin" in result.stderr


def test_download_to_stdout(cli, store, group):
    uploaded = store.groups.upload_file(group.group_id, b"hello bytes", "h.txt")

    result = cli.ok("files", "download", group.group_id, uploaded.file_id, "-o", "-")

    assert result.stdout_bytes == b"hello bytes"


def test_download_does_not_overwrite_without_force(cli, store, group, tmp_path: Path):
    uploaded = store.groups.upload_file(group.group_id, b"new", "h.txt")
    target = tmp_path / "h.txt"
    target.write_bytes(b"old")

    refused = cli("files", "download", group.group_id, uploaded.file_id, "-o", str(target))
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert target.read_bytes() == b"old"

    cli.ok("files", "download", group.group_id, uploaded.file_id, "-o", str(target), "--force")
    assert target.read_bytes() == b"new"


def test_download_of_a_file_of_another_group_is_unknown(
    cli, store, group, workflow, alice, tmp_path
):
    other = store.groups.create_group(workflow.workflow_id, "other", [], {}, user_id=alice.user_id)
    uploaded = store.groups.upload_file(other.group_id, b"x", "x.txt")

    result = cli("files", "download", group.group_id, uploaded.file_id, "-o", str(tmp_path / "x"))

    assert result.exit_code == 1 and "[UNKNOWN_FILE]" in result.stderr
    assert not (tmp_path / "x").exists()


def test_list_shows_files_in_upload_order_with_json(cli, store, group):
    one = store.groups.upload_file(group.group_id, b"1", "one.txt")
    two = store.groups.upload_file(group.group_id, b"22", "two.txt")

    listed = cli.json("files", "list", group.group_id)
    table = cli.ok("files", "list", group.group_id).stdout

    assert [(f["id"], f["name"], f["size"]) for f in listed] == [
        (one.file_id, "one.txt", 1),
        (two.file_id, "two.txt", 2),
    ]
    assert listed[0]["sha256"] == hashlib.sha256(b"1").hexdigest()
    assert "one.txt" in table and "two.txt" in table


def test_delete_removes_the_file(cli, store, group):
    uploaded = store.groups.upload_file(group.group_id, b"1", "one.txt")

    cli.ok("files", "delete", group.group_id, uploaded.file_id)

    assert store.groups.list_uploaded_files(group.group_id) == []
    assert cli("files", "delete", group.group_id, uploaded.file_id).exit_code == 1
