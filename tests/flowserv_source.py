"""A flowserv deployment filled by flowserv-core itself, through its service API.

``make_deployment(directory, groups=20, files=100)`` builds flowserv's SQLite
database and file volume under ``directory`` with ``LocalAPIFactory``: users
(one of them inactive), two workflows, groups with members and engine
configs, and uploaded files of several kinds and sizes. Some groups carry what
flowserv allows and groupstore does not: a name taken by a rename, a file name
with ``/``, an owner removed from the members. Used by the import tests and by
``bench/bench_import_flowserv.py``. Needs the ``flowserv`` extra.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE = """\
workflow:
    files:
        inputs:
        - $[[names]]
    steps: []
parameters:
    - name: names
      label: 'Input file'
      dtype: file
      target: data/names.txt
    - name: sleeptime
      dtype: int
      defaultValue: 10
    - name: greeting
      dtype: string
      defaultValue: Hello
"""
PASSWORDS = {"alice": " alice-pw ", "bob": "bob-pw", "carol": "carol-pw"}
"""flowserv strips a password at registration, not at login: alice logs in with ``alice-pw``."""
BIG = 300 * 1024  # more than one GridFS chunk (255 KiB)


@dataclass
class FlowservDeployment:
    """Where the deployment is and what flowserv said it holds."""

    db_url: str
    volume: Path
    user_ids: dict[str, str]
    workflow_ids: list[str]
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    """group id -> flowserv's group handle (after all changes)."""
    files: dict[str, bytes] = field(default_factory=dict)
    """file id -> the bytes uploaded."""
    quirks: dict[str, str] = field(default_factory=dict)
    """what flowserv allowed and groupstore does not: quirk -> the group or file id."""


def content(group: int, number: int, big: bool) -> bytes:
    if big:
        return bytes(range(256)) * (BIG // 256)
    return f'{{"group": {group}, "file": {number}}}\n'.encode() * (1 + number * 7)


def make_deployment(directory: Path, groups: int = 20, files: int = 100) -> FlowservDeployment:
    """Fill a flowserv deployment in ``directory`` through flowserv's own service API."""
    with warnings.catch_warnings():  # flowserv's dependencies use deprecated APIs
        warnings.simplefilter("ignore", DeprecationWarning)
        return _fill(directory, groups, files)


def _fill(directory: Path, groups: int, files: int) -> FlowservDeployment:
    from flowserv.config import Config
    from flowserv.model.database import DB
    from flowserv.service.local import LocalAPIFactory
    from flowserv.volume.base import IOBuffer
    from flowserv.volume.fs import FStore

    directory.mkdir(parents=True, exist_ok=True)
    template = directory / "template"
    template.mkdir(exist_ok=True)
    (template / "benchmark.yaml").write_text(TEMPLATE)
    volume = directory / "volume"
    db_url = f"sqlite:///{directory / 'flowserv.db'}"
    env = Config().basedir(str(volume)).volume(FStore(basedir=str(volume))).auth()
    factory = LocalAPIFactory(env=env, db=DB(connect_url=db_url).init())
    with factory() as api:
        users = {
            name: api.users().register_user(name, password)["id"]
            for name, password in PASSWORDS.items()
        }
        api.users().register_user("dave", "dave-pw", verify=True)  # never activated
        workflow_ids = [
            api.workflows().create_workflow(
                source=str(template), name=f"hello {n}", specfile="benchmark.yaml"
            )["id"]
            for n in (1, 2)
        ]
    deployment = FlowservDeployment(db_url, volume, users, workflow_ids)
    owners = [users["alice"], users["bob"]]
    per_group = [files // groups + (1 if g < files % groups else 0) for g in range(groups)]
    for g in range(groups):
        owner = owners[g % 2]
        with factory(user_id=owner) as api:
            handle = api.groups().create_group(
                workflow_ids[g % 2],
                f"group {g}",
                members=[users["carol"]] if g % 3 == 0 else None,
                engine_config={"workers": g} if g % 4 == 1 else None,
                identifier=f"G{g:03d}" if g % 5 == 0 else None,
            )
            for n in range(per_group[g]):
                data = content(g, n, big=g == 1 and n == 0)
                name = ("a.json", "b.txt", "c.csv", "noext", "d.tar.gz")[n % 5]
                uploaded = api.uploads().upload_file(
                    handle["id"], IOBuffer(io.BytesIO(data)), f"{n}-{name}"
                )
                deployment.files[uploaded["id"]] = data
    with factory() as api:
        listing = api.groups().list_groups()["groups"]
    ids = [group["id"] for group in listing]
    if groups >= 4:
        _add_quirks(factory, deployment, ids, users)
    with factory() as api:
        deployment.groups = {gid: api.groups().get_group(gid) for gid in ids}
    return deployment


def _add_quirks(
    factory: object, deployment: FlowservDeployment, ids: list[str], users: dict[str, str]
) -> None:
    """What flowserv allows and groupstore does not (the import adapts, and says so)."""
    from flowserv.volume.base import IOBuffer

    alice = users["alice"]
    with factory(user_id=alice) as api:  # type: ignore[operator]
        # flowserv checks names only on create: group 2 takes group 0's name (same workflow).
        api.groups().update_group(ids[2], name="group 0")
        deployment.quirks["renamed_group"] = ids[2]
        # A file name with a path in it.
        uploaded = api.uploads().upload_file(ids[2], IOBuffer(io.BytesIO(b"nested")), "sub/f.txt")
        deployment.files[uploaded["id"]] = b"nested"
        deployment.quirks["renamed_file"] = uploaded["id"]
        # The owner (alice) leaves group 0: carol is its only member.
        api.groups().update_group(ids[0], members=[users["carol"]])
        deployment.quirks["owner_removed"] = ids[0]
    with factory(user_id=users["bob"]) as api:  # type: ignore[operator]
        # Bob empties group 3 (his): nobody is a member.
        api.groups().update_group(ids[3], members=[])
        deployment.quirks["no_members"] = ids[3]
