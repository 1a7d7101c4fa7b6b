"""Reading records never stops at one bad file; variants and tuning studies are rows of their own;
every run loads as one row for a notebook (``runs_frame``, ``--format runs``)."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark.records import write_record
from benchmark.records.identity import REPEATED, config_run_id, record_name
from leaderboard.build import export, markdown
from leaderboard.records import RecordError, read_records, row_label, runs_frame, variant_label
from leaderboard.table import main_cells
from leaderboard.tuning import tuned_frame

FIXTURES = Path(__file__).resolve().parent / "data" / "records"
GOOD = FIXTURES / "voc" / "an__1p__seed0__87500ce6e29d9442.json"


def _record(**changes: object) -> dict:
    rec = json.loads(GOOD.read_text())
    rec.update(changes)
    return rec


def _as_run(rec: dict) -> dict[str, dict]:
    """``{path: record}`` of a made-up record as the harness would write it: its config repeating its
    identity fields, its run id the hash of its config, under its own file name (else it is invalid)."""
    rec = json.loads(json.dumps(rec))
    rec["config"].update({k: rec[k] for k in REPEATED if k in rec})
    rec["run_id"] = config_run_id(rec["config"])
    return {f"{rec['dataset']}/{record_name(rec)}": rec}


def _folder(tmp_path: Path, files: dict[str, object]) -> Path:
    """A results folder with one good record and the given files (bytes as is, anything else as JSON)."""
    root = tmp_path / "results"
    (root / "voc").mkdir(parents=True)
    shutil.copy(GOOD, root / "voc" / GOOD.name)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return root


BAD_FILES: dict[str, tuple[object, str]] = {
    "a_list.json": ([1, 2, 3], "a JSON array, not a run record"),
    "a_string.json": ("a run", "a JSON string, not a run record"),
    "notes.json": ({"todo": "rerun"}, "not a run record: no 'method' or 'status' field"),
    "voc/zero.json": (b"", "is empty (0 bytes)"),
    "voc/blank.json": (b"  \n", "is empty (3 bytes)"),
    "voc/truncated.json": (GOOD.read_bytes()[:300], "not valid JSON"),
    "voc/latin1.json": ('{"method": "caf\xe9"}'.encode("latin-1"), "not UTF-8 text"),
    "voc/nested.json": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "voc/no_test_map.json": ({k: v for k, v in _record().items() if k != "test_map"}, "field 'test_map' is null"),
    "voc/inf_val.json": (
        b'{"method": "an", "dataset": "voc", "labels": "1p", "seed": 5, "status": "done", "test_map": 80.0, '
        b'"val_map": Infinity}',
        "holds the non-finite number Infinity",
    ),
    "voc/nan_test.json": (
        json.dumps(_record(seed=6, test_map=float("nan"))).encode(),
        "holds the non-finite number NaN",
    ),
    "voc/no_seed.json": (
        {k: v for k, v in _record().items() if k != "seed"},
        "field 'seed' is null, expected an integer",
    ),
    "voc/bool_seed.json": (_record(seed=True), "field 'seed' is true, expected an integer"),
    "voc/status.json": (
        _record(status="running"),
        "field 'status' is \"running\", expected one of done, failed, diverged",
    ),
    "voc/variant.json": (_record(seed=7, variant="alpha=0.3"), "field 'variant' is \"alpha=0.3\""),
    "voc/study.json": (
        _record(seed=9, study={"name": "tune", "trials": 4, "trial": 4}),
        "field 'study.trial' is 4, expected an integer in [0, 3]",
    ),
    "voc/config.json": (_record(seed=10, config=[1]), "field 'config' is [1]"),
    "voc/hist.json": (_record(seed=11, history=[{"loss": 1}]), "field 'history'"),
    "voc/bins.json": (
        _record(seed=12, analysis={"bins": 5, "pos_hist": [1, 2], "neg_hist": [1] * 5}),
        "field 'analysis.pos_hist'",
    ),
}


def test_every_kind_of_bad_file_is_named_and_the_rest_is_read(tmp_path: Path) -> None:
    root = _folder(tmp_path, {name: content for name, (content, _) in BAD_FILES.items()})
    (root / "voc" / "a_folder.json").mkdir()
    records = read_records(root)
    problems = {x.path: x.problem for x in records.invalid}
    for name, (_, expected) in BAD_FILES.items():
        assert expected in problems[name], (name, problems.get(name))
    assert "not a regular file" in problems["voc/a_folder.json"]
    assert len(records.frame) == 1 and records.frame["test_map"].iloc[0] == 85.0  # the good record survives
    # one stderr line per file, naming it
    lines = records.warnings()
    assert len(lines) == len(BAD_FILES) + 1 and all(line.endswith("; left out") for line in lines)
    assert all(str(root) in line for line in lines)
    text = markdown(root)
    assert f"## Records left out ({len(BAD_FILES) + 1} files, 0 cells)" in text and "`voc/truncated.json`" in text
    with pytest.raises(RecordError, match=r"a_list\.json: is a JSON array"):
        read_records(root, strict=True)


def test_a_record_without_variant_is_the_main_row_and_a_variant_is_its_own(tmp_path: Path) -> None:
    old = {k: v for k, v in _record().items() if k not in ("variant", "study")}
    variant = _record(
        seed=0,
        run_id="v0",
        variant={"theta": 0.1, "alpha": 0.3},
        config={**_record()["config"], "hparams": {"alpha": 0.3, "theta": 0.1}},
    )
    root = _folder(tmp_path, {**_as_run({**old, "seed": 1}), **_as_run(variant)})
    records = read_records(root)
    assert not records.invalid and not records.bad_cells
    assert sorted(records.frame["variant"]) == ["", "", "alpha=0.3, theta=0.1"]
    cells = main_cells(records).set_index(["method", "variant"])
    assert cells.loc[("an", ""), "n"] == 2 and cells.loc[("an", "alpha=0.3, theta=0.1"), "n"] == 1
    assert "| an (alpha=0.3, theta=0.1) | 1p" in markdown(root)


def test_variant_labels() -> None:
    assert variant_label({}) == "" and row_label("em") == "em"
    assert (
        variant_label({"alpha": 0.3, "T_w": 5, "flag": True, "name": "x", "grid": [1, 2]})
        == "T_w=5, alpha=0.3, flag=true, grid=[1, 2], name=x"
    )
    assert variant_label({"lr": 1e-05}) == "lr=1e-05"
    assert row_label("em", "alpha=0.3") == "em (alpha=0.3)"


def test_two_configurations_of_one_variant_are_a_bad_cell_but_two_variants_are_not(tmp_path: Path) -> None:
    base = _record()
    a = _record(seed=1, run_id="a", variant={"alpha": 0.3}, config={**base["config"], "hparams": {"alpha": 0.3}})
    b = _record(
        seed=2, run_id="b", variant={"alpha": 0.3}, config={**base["config"], "hparams": {"alpha": 0.3}, "epochs": 3}
    )
    c = _record(seed=1, run_id="c", variant={"alpha": 0.5}, config={**base["config"], "hparams": {"alpha": 0.5}})
    records = read_records(_folder(tmp_path, {**_as_run(a), **_as_run(b), **_as_run(c)}))
    assert [x.name for x in records.bad_cells] == ["finetune/1p/an (alpha=0.3)/voc"]
    cells = main_cells(records).set_index("variant")
    assert cells.loc["alpha=0.5", "n"] == 1 and cells.loc["", "n"] == 1 and cells.loc["alpha=0.3", "n"] == 0


def test_two_records_of_one_seed_in_a_cell_are_a_bad_cell(tmp_path: Path) -> None:
    # another run of seed 0 in the same cell (the device is part of a run's id, not of its cell); a mere copy
    # under another name is not a record at all (test_records_verify)
    other = _record()
    other["config"] = {**other["config"], "device": "cuda:1"}
    records = read_records(_folder(tmp_path, _as_run(other)))
    assert len(records.bad_cells) == 1 and "more than one record for seed(s) [0]" in records.bad_cells[0].problem
    assert main_cells(records)["n"].tolist() == [0]


def test_mixed_precision_in_one_cell_is_reported_and_the_rest_built() -> None:
    records = read_records(FIXTURES)
    bad = {c.name: c for c in records.bad_cells}
    assert set(bad) == {"finetune/1p/dw/voc"}
    assert "amp: 'off' in voc/dw__1p__seed0__98466d883d3b4340.json vs 'bf16'" in bad["finetune/1p/dw/voc"].problem
    assert "| dw                | 1p       | — (left out ⚠)" in markdown(FIXTURES)


# -- tuning studies --------------------------------------------------------------------------------
def test_trials_stay_out_of_the_main_table_and_trial_0_counts_once() -> None:
    records = read_records(FIXTURES)
    cells = main_cells(records).set_index(["protocol", "labels", "method", "variant", "dataset"])
    assert ("finetune", "1p", "em", "alpha=0.5", "digits") not in cells.index  # a trial, not a variant row
    em = cells.loc[("finetune", "1p", "em", "", "digits")]
    assert em["n"] == 2 and em["seeds"] == (0, 1)  # seed 1 is tagged trial 0: counted once, as a default


def test_tuned_table_selects_by_validation_and_skips_incomplete_trials() -> None:
    tuned = tuned_frame(read_records(FIXTURES)).set_index("method")
    em = tuned.loc["em"]
    # trial 3 has the best validation mAP on seed 0, but its seed 1 diverged: not eligible
    assert (em["trials"], em["trials_seen"], em["eligible"], em["chosen_trial"]) == (4, 4, 3, 2)
    assert em["chosen_values"] == "alpha=0.5" and em["val_mean"] == pytest.approx(66.25)
    assert em["mean"] == pytest.approx(61.25) and em["default_mean"] == pytest.approx(63.5)
    assert em["delta"] == pytest.approx(-2.25)
    an = tuned.loc["an"]  # nothing drawn: its defaults are the only trial
    assert (an["chosen_trial"], an["chosen_values"], an["eligible"]) == (0, "defaults", 1)
    text = markdown(FIXTURES)
    assert "## Tuned (4 trials each): study `tune`, search-space seed 0, chosen and reported on the same" in text
    # won by 2.25 on validation over the runner-up, standard error of the paired difference 0.75
    assert "| 2: alpha=0.5           | 66.25     | +2.25 (0.75)  | 61.25 ± 0.35 (n=2) |" in text


def _study_folder(tmp_path: Path, trials: dict[int, list[tuple[int, float, float, str]]]) -> Path:
    files = {}
    base = _record()
    for t, runs in trials.items():
        for seed, val, test, status in runs:
            alpha = {0: 0.2, 1: 0.1, 2: 0.3}[t]  # distinct values: equal configs would be one run (one run id)
            variant = {} if t == 0 else {"alpha": alpha}
            rec = _record(
                seed=seed,
                val_map=val,
                test_map=test,
                status=status,
                variant=variant,
                per_class_ap={name: test for name in base["per_class_ap"]},  # test_map is their mean
                study={"name": "tune", "trials": 3, "trial": t, "space_seed": 7},
                config={**base["config"], "hparams": {"alpha": alpha}},
            )
            files.update(_as_run(rec))
    root = _folder(tmp_path, files)
    (root / "voc" / GOOD.name).unlink()
    return root


def test_ties_in_validation_go_to_the_lower_trial(tmp_path: Path) -> None:
    root = _study_folder(
        tmp_path,
        {
            0: [(0, 80.0, 70.0, "done"), (1, 82.0, 71.0, "done")],
            1: [(0, 82.0, 75.0, "done"), (1, 80.0, 76.0, "done")],
            2: [(0, 81.0, 60.0, "done"), (1, 81.0, 61.0, "done")],
        },
    )
    row = tuned_frame(read_records(root)).iloc[0]
    assert row["chosen_trial"] == 0 and row["chosen_values"] == "alpha=0.2" and row["delta"] == 0


def test_a_trial_missing_a_seed_is_not_eligible(tmp_path: Path) -> None:
    root = _study_folder(
        tmp_path,
        {
            0: [(0, 80.0, 70.0, "done"), (1, 80.0, 71.0, "done")],
            1: [(0, 90.0, 75.0, "done")],
            2: [(0, 85.0, 60.0, "done"), (1, 85.0, 61.0, "failed")],
        },
    )
    row = tuned_frame(read_records(root)).iloc[0]
    assert (row["eligible"], row["chosen_trial"]) == (1, 0)


# -- every run, one row ----------------------------------------------------------------------------
def test_runs_frame_has_one_row_per_record_with_every_hparam_and_config_field() -> None:
    records = read_records(FIXTURES)
    runs = runs_frame(FIXTURES)
    assert len(runs) == len(records.frame) == 39
    assert list(runs.columns[:7]) == ["method", "variant", "dataset", "labels", "protocol", "seed", "status"]
    assert {
        "hp.alpha",
        "cfg.epochs",
        "cfg.lr",
        "cfg.backbone",
        "cfg.amp",
        "val_map",
        "test_map",
        "best_epoch",
        "epochs_run",
        "wall_seconds",
        "images_per_second",
        "commit",
        "path",
    } <= set(runs.columns)
    em = runs[(runs["method"] == "em") & (runs["variant"] == "alpha=0.5")]
    assert len(em) == 2 and set(em["hp.alpha"]) == {0.5} and set(em["trial"]) == {2} and set(em["study"]) == {"tune"}
    diverged = runs[runs["status"] == "diverged"]
    assert set(diverged["divergence_rule"]) == {"constant_predictions", "non_finite_parameters"}
    assert diverged["test_map"].tolist() == [10.0, 5.0]  # as recorded, for inspection
    assert runs["seed"].dtype == "Int64" and str(runs["cfg.epochs"].dtype) == "Int64"
    dw = runs[runs["method"] == "dw"]
    assert dw["excluded"].str.startswith("mixes runs of different configurations").all()


def test_runs_csv_and_jsonl_round_trip() -> None:
    runs = runs_frame(FIXTURES)
    csv = pd.read_csv(io.StringIO(export(FIXTURES, "runs")))
    assert len(csv) == len(runs) and list(csv.columns) == list(runs.columns)
    assert csv["test_map"].sum() == pytest.approx(runs["test_map"].sum())
    lines = export(FIXTURES, "runs-jsonl").splitlines()
    assert len(lines) == len(runs)
    first = json.loads(lines[0])
    assert set(first) == set(runs.columns) and isinstance(first["seed"], int)
    assert all(
        v is None or not (isinstance(v, float) and math.isnan(v)) for line in lines for v in json.loads(line).values()
    )


def test_runs_frame_never_raises_for_bad_files(tmp_path: Path) -> None:
    root = _folder(tmp_path, {name: content for name, (content, _) in BAD_FILES.items()})
    assert len(runs_frame(root)) == 1


def test_the_docs_notebook_example_runs_as_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    usage = (Path(__file__).resolve().parent.parent / "docs" / "usage.md").read_text(encoding="utf-8")
    section = usage[re.search(r"Every run in a\s+notebook", usage).end() :]  # type: ignore[union-attr]
    code = section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 3)]
    assert len([line for line in code.strip().splitlines() if line.strip()]) == 3
    shutil.copytree(FIXTURES, tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/usage.md", "exec"), scope)  # exec: the documented example, as written
    assert len(scope["runs"]) == 39


def test_a_diverged_record_with_nan_numbers_is_valid_and_listed_apart(tmp_path: Path) -> None:
    root = _folder(tmp_path, {})
    ((name, rec),) = _as_run(
        _record(
            seed=3,
            status="diverged",
            test_map=None,
            val_map=None,
            divergence={"rule": "non_finite_predictions", "reason": "NaN outputs", "evidence": {"epoch": 1}},
        )
    ).items()
    # as the harness writes it: its NaN numbers as null
    write_record(root / name, {**rec, "test_map": float("nan"), "val_map": float("nan")})
    records = read_records(root)
    assert not records.invalid and len(records.diverged) == 1
    cell = main_cells(records).iloc[0]
    assert (cell["n"], cell["diverged"], cell["mean"]) == (1, 1, 85.0)
    assert "| non_finite_predictions | NaN outputs |" in markdown(root)
