"""The load tests' checks catch what they are there for (no server needed)."""

from __future__ import annotations

import math

from tests.load.checks import candidates, check_files
from tests.load.workload import Ledger, Op, Upload


def write(value: object, start: float, end: float = math.inf, outcome: str = "ok") -> Op:
    return Op("add_member", 0, start, end, outcome, value=value)


def test_the_last_acknowledged_write_decides_a_register() -> None:
    assert candidates([write(True, 0, 1), write(False, 2, 3)], initial=False) == {False}


def test_acknowledged_writes_that_overlap_may_either_win() -> None:
    assert candidates([write("a", 0, 2), write("b", 1, 3)], initial="x") == {"a", "b"}


def test_an_unknown_write_may_land_after_a_later_acknowledged_one() -> None:
    writes = [write(True, 0, outcome="unknown"), write(False, 5, 6)]
    assert candidates(writes, initial=False) == {True, False}


def test_rejected_writes_change_nothing_and_no_write_keeps_the_initial_value() -> None:
    assert candidates([write(True, 0, 1, outcome="rejected")], initial=False) == {False}
    assert candidates([], initial="x") == {"x"}


def upload(ledger: Ledger, name: str, outcome: str = "ok", file_id: str | None = "f1") -> Upload:
    record = Upload(Op("upload", 0, 0.0, 1.0, outcome), "g", name, 3, "abc", file_id)
    ledger.uploads[name] = record
    return record


def listed(name: str, file_id: str = "f1", sha256: str = "abc") -> dict[str, dict[str, object]]:
    return {file_id: {"id": file_id, "name": name, "size": 3, "sha256": sha256, "group": "g"}}


def test_an_acknowledged_upload_missing_from_the_listing_is_a_lost_write() -> None:
    ledger = Ledger()
    upload(ledger, "a.bin")
    check_files({}, ledger)
    assert ledger.violations == ["acknowledged upload a.bin (f1) is lost"]


def test_an_acknowledged_upload_that_is_listed_whole_passes() -> None:
    ledger = Ledger()
    upload(ledger, "a.bin")
    check_files(listed("a.bin"), ledger)
    assert ledger.violations == []


def test_an_acknowledged_delete_that_is_still_listed_is_caught() -> None:
    ledger = Ledger()
    upload(ledger, "a.bin")
    ledger.deletes["f1"].append(Op("delete", 0, 2.0, 3.0, "ok"))
    check_files(listed("a.bin"), ledger)
    assert ledger.violations == ["acknowledged delete of a.bin (f1): still listed"]


def test_a_file_after_an_unknown_delete_may_be_there_or_not() -> None:
    for files in ({}, listed("a.bin")):
        ledger = Ledger()
        upload(ledger, "a.bin")
        ledger.deletes["f1"].append(Op("delete", 0, 2.0, outcome="unavailable"))
        check_files(files, ledger)
        assert ledger.violations == []


def test_an_unknown_upload_may_be_listed_but_only_whole() -> None:
    ledger = Ledger()
    upload(ledger, "a.bin", outcome="unknown", file_id=None)
    check_files(listed("a.bin", sha256="abc"), ledger)
    assert ledger.violations == []
    check_files(listed("a.bin", sha256="other"), ledger)
    assert len(ledger.violations) == 1 and "was sent as" in ledger.violations[0]


def test_listed_files_nobody_uploaded_and_rejected_uploads_that_are_listed_are_caught() -> None:
    ledger = Ledger()
    check_files(listed("ghost.bin"), ledger)
    assert ledger.violations == ["listed file ghost.bin was never uploaded"]
    ledger = Ledger()
    upload(ledger, "a.bin", outcome="rejected", file_id=None)
    check_files(listed("a.bin"), ledger)
    assert ledger.violations == ["rejected upload a.bin (None) is listed"]
