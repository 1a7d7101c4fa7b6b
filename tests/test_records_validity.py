"""Reading records defensively: every way a file can fail to be a run record is named in one line,
never raised as a parser's exception; records are written as strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.records.store import (
    RecordReadError, inspect_record, invalid_records, iter_records, read_record, record_problem, write_record,
)

GOOD = {"method": "an", "dataset": "digits", "labels": "1p", "seed": 0, "run_id": "abc", "status": "done", "test_map": 50.0}


@pytest.mark.parametrize("data,reason", [
    (b"", "is empty (0 bytes)"),
    (b"  \n", "is empty"),
    (b'{"method": "an", "sta', "not valid JSON (truncated?)"),
    (b'{"a": 1} trailing', "not valid JSON"),
    (b'{"test_map": NaN}', "non-finite number NaN"),
    (b'{"test_map": -Infinity}', "non-finite number -Infinity"),
    (b"[" * 100_000, "nested too deeply"),
    ("caf\u00e9".encode("latin-1"), "is not UTF-8"),
])
def test_unreadable_files_are_named_with_the_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(data)
    with pytest.raises(RecordReadError) as info:
        read_record(path)
    assert str(path) in str(info.value) and reason in str(info.value) and "\n" not in str(info.value)
    check = inspect_record(path)
    assert check.status == "corrupt" and reason in check.problem


def test_a_folder_named_like_a_record_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    assert inspect_record(tmp_path / "d.json").status == "corrupt"


@pytest.mark.parametrize("rec,reason", [
    ([1, 2], "is a JSON list"),
    ("text", "is a JSON string"),
    (3, "is a JSON number"),
    ({**GOOD, "status": "finished"}, "field 'status' is \"finished\""),
    ({k: v for k, v in GOOD.items() if k != "status"}, "field 'status' is null"),
    ({**GOOD, "seed": "0"}, "field 'seed' is \"0\", expected an integer"),
    ({**GOOD, "seed": True}, "field 'seed' is true"),
    ({**GOOD, "method": ""}, "field 'method' is \"\""),
    ({**GOOD, "test_map": None}, "done record whose field 'test_map' is null"),
])
def test_shapes_that_are_not_records(rec: object, reason: str) -> None:
    problem = record_problem(rec)
    assert problem is not None and reason in problem


def test_a_record_must_be_its_runs() -> None:
    assert record_problem(GOOD, {"run_id": "abc", "seed": 0}) is None
    assert "field 'run_id' is \"xyz\"" in record_problem({**GOOD, "run_id": "xyz"}, {"run_id": "abc"})
    assert record_problem({**GOOD, "status": "diverged", "test_map": None}) is None
    assert record_problem({**GOOD, "status": "failed", "test_map": None}) is None


def test_records_are_written_as_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_record(path, {**GOOD, "history": [{"val_map": float("nan"), "loss": float("inf")}], "t": (1.0, float("-inf"))})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["history"] == [{"val_map": None, "loss": None}] and json.loads(text)["t"] == [1.0, None]
    assert inspect_record(path).status == "done"


def test_iterating_skips_what_invalid_records_names(tmp_path: Path) -> None:
    write_record(tmp_path / "digits" / "good.json", GOOD)
    (tmp_path / "digits" / "list.json").write_text("[]")
    (tmp_path / "notes.json").write_text('{"note": 1}')
    (tmp_path / "digits" / "cut.json").write_text('{"a"')
    (tmp_path / "_corrupt").mkdir()
    (tmp_path / "_corrupt" / "old.json").write_text("")  # folders starting with _ are not records
    (tmp_path / "digits" / ".tmp.json").write_text("")  # nor unfinished writes
    assert [p.name for p, _ in iter_records(tmp_path)] == ["good.json", "notes.json"]
    bad = invalid_records(tmp_path)
    assert [p.name for p, _ in bad] == ["cut.json", "list.json", "notes.json"]
    assert invalid_records(tmp_path, skip={tmp_path / "notes.json"})[-1][0].name == "list.json"
