"""Records that check themselves (benchmark.records.identity): the leaderboard and --status refuse a record
whose content contradicts its run id, its file name, its variant, its metrics or its seal; cells of
different code digests or data digests are conflicts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmark.records import inspect_record, read_record, record_files, write_record
from benchmark.records.identity import config_run_id, is_sealed, record_name, record_problem, seal
from leaderboard.build import markdown
from leaderboard.records import read_records

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "results"
ONE = next(p for p in sorted((COMMITTED / "digits").glob("an__1p__seed0__*.json")))


def _results(tmp_path: Path, *records: tuple[str, dict]) -> Path:
    root = tmp_path / "results"
    for name, rec in records:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
    return root


def _good() -> dict:
    """A committed record without its seal, so each edit below meets the check it is about (a sealed
    record's edit is caught by the seal first: tested on its own)."""
    rec = json.loads(ONE.read_text())
    rec.pop("digest", None)
    return rec


def _invalid(root: Path) -> dict[str, str]:
    return {x.path: x.problem for x in read_records(root).invalid}


def test_the_committed_records_keep_their_run_ids_and_pass() -> None:
    for path in record_files(COMMITTED):
        rec = read_record(path)
        assert config_run_id(rec["config"]) == rec["run_id"], path
        assert record_problem(rec, path) is None, path
    assert not read_records(COMMITTED).invalid


@pytest.mark.parametrize("value", [99, 150, -40])
def test_an_edited_test_map_is_invalid(tmp_path: Path, value: float) -> None:
    rec = {**_good(), "test_map": value}
    root = _results(tmp_path, (f"digits/{ONE.name}", rec))
    problem = _invalid(root)[f"digits/{ONE.name}"]
    assert "outside [0, 100]" in problem if not 0 <= value <= 100 else "not the mean of its per_class_ap" in problem
    assert read_records(root).frame.empty  # never averaged


def test_an_ap_outside_0_100_is_invalid(tmp_path: Path) -> None:
    rec = _good()
    first = next(iter(rec["per_class_ap"]))
    rec["per_class_ap"][first] = 120.0
    assert (
        "per_class_ap has an AP outside [0, 100]"
        in _invalid(_results(tmp_path, (f"digits/{ONE.name}", rec)))[f"digits/{ONE.name}"]
    )


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda r: r.update(method="em"), 'field \'method\' is "em" but its config says "an"'),
        (lambda r: r.update(dataset="voc"), 'field \'dataset\' is "voc" but its config says "digits"'),
        (lambda r: (r.update(method="em"), r["config"].update(method="em")), "is not the hash of its config"),
        (lambda r: (r.update(dataset="voc"), r["config"].update(dataset="voc")), "is not the hash of its config"),
        (lambda r: r["config"].update(epochs=99), "is not the hash of its config"),
    ],
    ids=["method", "dataset", "method-and-config", "dataset-and-config", "config"],
)
def test_identity_edited_inside_a_record_is_invalid(
    tmp_path: Path, edit: Callable[[dict], object], needle: str
) -> None:
    rec = _good()
    edit(rec)
    root = _results(tmp_path, (f"digits/{ONE.name}", rec))
    assert needle in _invalid(root)[f"digits/{ONE.name}"]


def test_a_copy_under_another_seed_or_folder_is_invalid(tmp_path: Path) -> None:
    rec = _good()
    other_seed = ONE.name.replace("__seed0__", "__seed5__")
    root = _results(tmp_path, (f"digits/{ONE.name}", rec), (f"digits/{other_seed}", rec), (f"voc/{ONE.name}", rec))
    invalid = _invalid(root)
    assert "a renamed or copied record" in invalid[f"digits/{other_seed}"]
    assert "a record of dataset 'digits' in folder 'voc'" in invalid[f"voc/{ONE.name}"]
    assert f"digits/{ONE.name}" not in invalid and len(read_records(root).frame) == 1
    # and the seed edited inside the copy too: its config (so its run id) says otherwise
    moved = {**rec, "seed": 5}
    assert "field 'seed' is 5 but its config says 0" in record_problem(moved, Path("digits") / other_seed)


def test_a_variant_tag_that_disagrees_with_the_hparams_is_invalid(tmp_path: Path) -> None:
    source = next(p for p in sorted((COMMITTED / "digits").glob("em__1p__seed0__*.json")))
    rec = json.loads(source.read_text())
    rec.pop("digest", None)  # unsealed, so the edit meets the variant check rather than the seal
    name = next(iter(rec["config"]["hparams"]))
    rec["variant"] = {name: "something else"}
    key = f"digits/{source.name}"
    assert "variant says" in _invalid(_results(tmp_path, (key, rec)))[key]
    rec["variant"] = {"not_a_hparam": 1}
    assert "lack" in _invalid(_results(tmp_path / "b", (key, rec)))[key]


def test_a_sealed_record_edited_is_invalid_and_an_unsealed_one_is_checked_on_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "results"
    path = root / "digits" / ONE.name
    write_record(path, _good())
    written = json.loads(path.read_text())
    assert is_sealed(written) and written["digest"] == seal(written)
    assert not _invalid(root)
    written["wall_seconds"] = 1.0  # a field no other check covers
    path.write_text(json.dumps(written))
    assert "does not match its digest" in _invalid(root)[f"digits/{ONE.name}"]
    assert not is_sealed(_good()) and record_problem(_good(), ONE) is None  # the committed records: unsealed


def test_status_sees_a_tampered_record_as_corrupt(tmp_path: Path) -> None:
    from benchmark.spec.config import RunConfig
    from benchmark.sweep.plan import Job

    rec = _good()
    job = Job(RunConfig(**rec["config"]), tmp_path)
    job.record_path.parent.mkdir(parents=True)
    job.record_path.write_text(json.dumps({**rec, "test_map": 99.0}))
    check = job.check()
    assert check.status == "corrupt" and "not the mean of its per_class_ap" in check.problem
    job.record_path.write_text(json.dumps(rec))
    assert job.check().status == "done"
    assert inspect_record(job.record_path).status == "done"


def _with(rec: dict, code: str | None = None, data: str | None = None, seed: int | None = None) -> tuple[str, dict]:
    rec = json.loads(json.dumps(rec))
    if seed is not None:
        rec["seed"] = rec["config"]["seed"] = seed
        rec["run_id"] = config_run_id(rec["config"])
    if code is not None:
        rec["provenance"]["code"]["sha256"] = code
    if data is not None:
        rec["data"]["digest"] = data
    return f"{rec['dataset']}/{record_name(rec)}", rec


def test_mixed_code_digests_are_a_conflict_unless_pooled(tmp_path: Path) -> None:
    root = _results(tmp_path, _with(_good(), code="a" * 64), _with(_good(), code="b" * 64, seed=1))
    records = read_records(root)
    assert [c.name for c in records.bad_cells] == ["finetune/1p/an/digits"]
    assert "mixes runs of different code" in records.bad_cells[0].problem
    assert "--allow-mixed-code" in records.bad_cells[0].problem
    pooled = read_records(root, allow_mixed_code=True)
    assert not pooled.bad_cells and len(pooled.done) == 2
    assert list(pooled.mixed_code) == ["finetune/1p/an/digits"]
    text = markdown(root)  # the default: a conflict
    assert "Cells pooled across code versions" not in text
    from leaderboard.build import export

    page = export(root, "markdown", allow_mixed_code=True)
    assert "## Cells pooled across code versions" in page and "`finetune/1p/an/digits`" in page
    an_row = next(line for line in page.splitlines() if line.startswith("| an "))
    assert "mixed code" in an_row  # marked in the cell itself, not only in a section below
    assert "mixed code" not in next(line for line in text.splitlines() if line.startswith("| an "))


def test_runs_on_different_preparations_never_share_a_cell(tmp_path: Path) -> None:
    root = _results(
        tmp_path, _with(_good(), data="1" * 64), _with(_good(), data="2" * 64, seed=1), _with(_good(), seed=2)
    )  # the third has no digest (an older record): not compared
    records = read_records(root, allow_mixed_code=True)
    assert len(records.bad_cells) == 1 and "different preparations of the data" in records.bad_cells[0].problem
    same = _results(
        tmp_path / "same",
        _with(_good(), data="1" * 64),
        _with(_good(), data="1" * 64, seed=1),
        _with(_good(), data="1" * 64, seed=2),
    )
    assert not read_records(same).bad_cells


def test_the_cli_flag_is_accepted(tmp_path: Path) -> None:
    from leaderboard.__main__ import main

    root = _results(tmp_path, _with(_good(), code="a" * 64), _with(_good(), code="b" * 64, seed=1))
    assert main(["--results-dir", str(root), "--format", "csv", "--allow-mixed-code", "--strict"]) == 0
    assert main(["--results-dir", str(root), "--format", "csv", "--strict"]) == 2
    shutil.rmtree(root)
