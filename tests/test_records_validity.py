"""Reading records defensively: every way a file can fail to be a run record is named in one line,
never raised as a parser's exception; records are written as strict JSON; and a malformed record is
judged the same, with the same words, by the sweep (``--status``) and the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.records import (
    RecordInvalid,
    check_record,
    inspect_record,
    invalid_records,
    iter_records,
    read_record,
    write_record,
)
from benchmark.spec.config import RunConfig
from benchmark.sweep.plan import Job
from benchmark.sweep.status import sweep_state
from leaderboard.records import read_records


def record_problem(rec: object, expect: dict | None = None) -> str | None:
    try:
        check_record(rec, RecordInvalid, expect)
    except RecordInvalid as exc:
        return str(exc)
    return None


GOOD = {
    "method": "an",
    "dataset": "digits",
    "labels": "1p",
    "seed": 0,
    "run_id": "abc",
    "status": "done",
    "test_map": 50.0,
}


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "is empty (0 bytes)"),
        (b"  \n", "is empty"),
        (b'{"method": "an", "sta', "not valid JSON (truncated?)"),
        (b'{"a": 1} trailing', "not valid JSON"),
        (b'{"test_map": NaN}', "non-finite number NaN"),
        (b'{"test_map": -Infinity}', "non-finite number -Infinity"),
        (b"[" * 100_000, "nested too deeply"),
        ("caf\u00e9".encode("latin-1"), "is not UTF-8"),
    ],
)
def test_unreadable_files_are_named_with_the_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(data)
    with pytest.raises(RecordInvalid) as info:
        read_record(path)
    assert str(path) in str(info.value) and reason in str(info.value) and "\n" not in str(info.value)
    check = inspect_record(path)
    assert check.status == "corrupt" and reason in check.problem


def test_a_folder_named_like_a_record_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    assert inspect_record(tmp_path / "d.json").status == "corrupt"


@pytest.mark.parametrize(
    "rec,reason",
    [
        ([1, 2], "is a JSON array"),
        ("text", "is a JSON string"),
        (3, "is a JSON number"),
        ({**GOOD, "status": "finished"}, "field 'status' is \"finished\""),
        ({k: v for k, v in GOOD.items() if k != "status"}, "field 'status' is null"),
        ({**GOOD, "seed": "0"}, "field 'seed' is \"0\", expected an integer"),
        ({**GOOD, "seed": True}, "field 'seed' is true"),
        ({**GOOD, "method": ""}, "field 'method' is \"\""),
        ({**GOOD, "test_map": None}, "field 'test_map' is null, expected a finite number (a done run's test mAP)"),
        ({"note": 1}, "not a run record: no 'method' or 'status' field"),
        (
            {**GOOD, "status": "diverged", "val_map": float("nan")},
            "field 'val_map' is NaN, expected a finite number or null",
        ),
    ],
)
def test_shapes_that_are_not_records(rec: object, reason: str) -> None:
    problem = record_problem(rec)
    assert problem is not None and reason in problem


def test_a_record_must_be_its_runs() -> None:
    assert record_problem(GOOD, {"run_id": "abc", "seed": 0}) is None
    assert "field 'run_id' is \"xyz\"" in record_problem({**GOOD, "run_id": "xyz"}, {"run_id": "abc"})
    assert record_problem({**GOOD, "status": "diverged", "test_map": None}) is None
    assert record_problem({**GOOD, "status": "failed", "test_map": None}) is None
    # the NaN rule: a diverged run's numbers are written as null
    assert record_problem({**GOOD, "status": "diverged", "test_map": None, "val_map": None, "best_epoch": None}) is None


def test_records_are_written_as_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_record(
        path,
        {**GOOD, "history": [{"epoch": 1, "val_map": float("nan"), "loss": float("inf")}], "t": (1.0, float("-inf"))},
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["history"] == [{"epoch": 1, "val_map": None, "loss": None}]
    assert json.loads(text)["t"] == [1.0, None]
    assert inspect_record(path).status == "done"


def test_iterating_skips_what_invalid_records_names(tmp_path: Path) -> None:
    """``iter_records`` and ``invalid_records`` split the record files between them."""
    write_record(tmp_path / "digits" / "good.json", GOOD)
    (tmp_path / "digits" / "list.json").write_text("[]")
    (tmp_path / "notes.json").write_text('{"note": 1}')
    (tmp_path / "digits" / "cut.json").write_text('{"a"')
    (tmp_path / "_corrupt").mkdir()
    (tmp_path / "_corrupt" / "old.json").write_text("")  # folders starting with _ are not records
    (tmp_path / "digits" / ".tmp.json").write_text("")  # nor unfinished writes
    assert [p.name for p, _ in iter_records(tmp_path)] == ["good.json"]
    bad = invalid_records(tmp_path)
    assert [p.name for p, _ in bad] == ["cut.json", "list.json", "notes.json"]
    assert invalid_records(tmp_path, skip={tmp_path / "notes.json"})[-1][0].name == "list.json"


def _job(results: Path) -> Job:
    return Job(RunConfig(dataset="digits", method="bce", labels="1p", seed=0, epochs=1), results)


def _own(job: Job, **changes: object) -> dict:
    c = job.cfg
    return {
        "method": c.method,
        "dataset": c.dataset,
        "labels": c.labels,
        "seed": c.seed,
        "run_id": c.run_id(),
        "status": "done",
        "test_map": 50.0,
        **changes,
    }


MALFORMED = {
    "empty": lambda job: b"",
    "truncated": lambda job: json.dumps(_own(job)).encode()[:-9],
    "nan": lambda job: json.dumps(_own(job, test_map=float("nan"))).encode(),
    "diverged-infinity": lambda job: json.dumps(_own(job, status="diverged", val_map=float("inf"))).encode(),
    "not-utf8": lambda job: json.dumps(_own(job, method="caf\u00e9"), ensure_ascii=False).encode("latin-1"),
    "list": lambda job: b"[1, 2]",
    "status": lambda job: json.dumps(_own(job, status="running")).encode(),
    "done-without-test-map": lambda job: json.dumps(_own(job, test_map=None)).encode(),
    "bool-seed": lambda job: json.dumps(_own(job, seed=True)).encode(),
    "config": lambda job: json.dumps(_own(job, config=[1])).encode(),
    "study": lambda job: json.dumps(_own(job, study={"name": "t", "trials": 2, "trial": 2})).encode(),
    "history": lambda job: json.dumps(_own(job, history=[{"loss": 1.0}])).encode(),
    "analysis": lambda job: json.dumps(_own(job, analysis={"bins": 3, "pos_hist": [1], "neg_hist": [1] * 3})).encode(),
    "diverged-test-map": lambda job: json.dumps(_own(job, status="diverged", test_map="high")).encode(),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_the_sweep_and_the_leaderboard_reject_a_malformed_record_alike(tmp_path: Path, name: str) -> None:
    results = tmp_path / "results"
    job = _job(results)
    job.record_path.parent.mkdir(parents=True)
    job.record_path.write_bytes(MALFORMED[name](job))
    (state,) = sweep_state([job], results / "_logs")  # what the sweep and --status go by
    (invalid,) = read_records(results).invalid
    assert state.state == "corrupt" and invalid.full == str(job.record_path)
    assert state.detail == f"{job.record_path}: {invalid.problem}"
    assert invalid_records(results) == [(job.record_path, state.detail)]  # the sweep's warning for other files


def test_a_good_record_is_good_for_both(tmp_path: Path) -> None:
    results = tmp_path / "results"
    job = _job(results)
    write_record(
        job.record_path,
        _own(
            job,
            status="diverged",
            test_map=float("nan"),
            val_map=float("nan"),
            divergence={"rule": "non_finite_predictions", "reason": "NaN outputs"},
        ),
    )
    assert sweep_state([job], results / "_logs")[0].state == "diverged"
    records = read_records(results)
    assert not records.invalid and len(records.diverged) == 1
