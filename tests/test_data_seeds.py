"""The data seed (the validation split and the observed labels) as a run axis beside the model seed, the
seed designs of a sweep, cells that never pool the fixed draw with data seeds, and tuning studies that
choose on seeds S, report on fresh seeds T and never share a run with another study (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli.run import parse_args
from benchmark.cli.sweep_args import sweep_from_args
from benchmark.data.protocol import DATA_SEED, draw_seed, observe, split_train_val
from benchmark.records.identity import config_run_id
from benchmark.spec.config import RunConfig, SweepConfig, Tuning
from leaderboard.records import read_records
from leaderboard.table import main_cells
from leaderboard.tuning import tuned_frame
from tests.test_leaderboard_records import GOOD, _as_run, _folder, _record

LABELS = np.random.RandomState(0).randint(0, 2, size=(50, 6))


# -- the draw ----------------------------------------------------------------------------------------
def test_no_data_seed_is_the_protocols_fixed_draw_bit_for_bit() -> None:
    assert draw_seed(None) == DATA_SEED == 1200
    np.testing.assert_array_equal(observe(LABELS, "1p", seed=draw_seed(None)), observe(LABELS, "1p"))
    for a, b in zip(split_train_val(50, seed=draw_seed(None)), split_train_val(50)):
        np.testing.assert_array_equal(a, b)


def test_a_data_seed_draws_its_own_split_and_positives() -> None:
    draws = [observe(LABELS, "1p", seed=draw_seed(d)) for d in (None, 0, 1)]
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[1], draws[2])
    assert all((d == 1).sum(1).max() == 1 for d in draws)  # still one observed positive per image
    assert not np.array_equal(split_train_val(50, seed=draw_seed(0))[1], split_train_val(50)[1])
    assert draw_seed(1200) != draw_seed(None)  # data seed 1200 is not the fixed draw either


def test_a_run_reads_its_data_seed(tmp_path: Path) -> None:
    from benchmark.run.rundata import prepare_data

    kw = {"dataset": "digits", "method": "an", "data_root": str(tmp_path)}
    fixed, seeded = prepare_data(RunConfig(**kw)), prepare_data(RunConfig(**kw, data_seed=3))
    assert not np.array_equal(fixed.observed.numpy(), seeded.observed.numpy())
    assert fixed.data_digest == seeded.data_digest  # the same prepared data, another draw of it


# -- identity ----------------------------------------------------------------------------------------
def test_the_fixed_draw_keeps_the_committed_run_ids_and_a_data_seed_is_a_run_of_its_own() -> None:
    rec = json.loads(GOOD.read_text())  # written before data seeds and studies were fields
    assert config_run_id(rec["config"]) == config_run_id({**rec["config"], "data_seed": None, "study": None})
    assert config_run_id(rec["config"]) == rec["run_id"] != config_run_id({**rec["config"], "data_seed": 0})
    dump = RunConfig(dataset="digits", method="an").resolve().model_dump()
    older = {k: v for k, v in dump.items() if k not in ("data_seed", "study")}
    assert dump["data_seed"] is None and RunConfig(dataset="digits", method="an").run_id() == config_run_id(older)
    assert RunConfig(dataset="digits", method="an", seed=1, data_seed=2).label() == "digits/an/1p/seed1/data2"


# -- seed designs ------------------------------------------------------------------------------------
def pairs(sweep: SweepConfig) -> list[tuple[str, int, int | None]]:
    return [(r.dataset, r.seed, r.data_seed) for r in sweep.runs()]


def test_the_embedded_set_pairs_seeds_by_default_and_the_real_sets_keep_the_fixed_draw() -> None:
    assert pairs(SweepConfig(methods=["an"])) == [("digits", s, s) for s in (0, 1, 8)]
    assert pairs(SweepConfig(methods=["an"], datasets=["voc"])) == [("voc", s, None) for s in (0, 1, 8)]
    assert pairs(SweepConfig(methods=["an"], seed_design="fixed")) == [("digits", s, None) for s in (0, 1, 8)]
    assert pairs(SweepConfig(methods=["an"], datasets=["voc"], data_seeds=[4, 5, 6]))[0] == ("voc", 0, 4)


def test_crossed_runs_every_pair_and_paired_one_per_model_seed() -> None:
    crossed = SweepConfig(methods=["an"], seeds=[0, 1, 2], data_seeds=[0, 1, 2], seed_design="crossed")
    assert sorted(pairs(crossed)) == [("digits", s, d) for s in range(3) for d in range(3)]
    assert crossed.size() == 9
    paired = SweepConfig(methods=["an"], seeds=[0, 1], data_seeds=[7, 9], seed_design="paired")
    assert pairs(paired) == [("digits", 0, 7), ("digits", 1, 9)]


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"seeds": [0, 1], "data_seeds": [0]}, "the paired design takes one data seed per model seed"),
        ({"data_seeds": [0, 1, 8], "seed_design": "fixed"}, "the 'fixed' seed design"),
        ({"seeds": [0, 1], "data_seeds": [3, 3], "seed_design": "crossed"}, "repeats a seed"),
        ({"seeds": [0, 100], "tuning": Tuning(trials=2)}, "share a seed with the report seeds"),
    ],
)
def test_inconsistent_seed_axes_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SweepConfig(methods=["an"], **fields)


def test_the_flags_and_a_sweep_file_set_the_seed_axes(tmp_path: Path) -> None:
    args = parse_args(["--methods", "an", "--seeds", "0", "1", "--data-seeds", "5", "6", "--seed-design", "crossed"])
    assert len(sweep_from_args(args).runs()) == 4
    args = parse_args(["--methods", "an", "--seeds", "0", "1", "--data-seeds", "5"])
    with pytest.raises(
        ValueError, match="data_seeds: the paired design takes one data seed per model seed \\(2\\), got 1"
    ):
        sweep_from_args(args)
    path = tmp_path / "s.toml"
    path.write_text('methods = ["an"]\nseeds = [0]\ndata_seeds = [3]\n[tuning]\ntrials = 2\nselect_seeds = [9]\n')
    sweep = sweep_from_args(parse_args(["--sweep", str(path)]))
    assert pairs(sweep) == [("digits", 0, 3)] and sweep.tuning is not None and sweep.tuning.select_seeds == [9]
    sweep = sweep_from_args(parse_args(["--sweep", str(path), "--tune", "3", "--tune-seeds", "7", "8"]))
    assert sweep.tuning == Tuning(trials=3, select_seeds=[7, 8])


# -- cells ---------------------------------------------------------------------------------------------
def run(seed: int, data_seed: int | None, **changes: object) -> dict[str, dict]:
    base = _record()
    return _as_run(_record(seed=seed, **changes, config={**base["config"], "data_seed": data_seed}))


def test_a_cell_pools_data_seeds_but_never_with_the_fixed_draw(tmp_path: Path) -> None:
    crossed = {k: v for s in (0, 1) for d in (0, 1) for k, v in run(s, d).items()}
    root = _folder(tmp_path / "a", crossed)
    (root / "voc" / GOOD.name).unlink()
    records = read_records(root)
    assert not records.bad_cells and main_cells(records)["n"].tolist() == [4]
    assert sorted(records.frame["data_seed"]) == [0, 0, 1, 1]
    mixed = read_records(_folder(tmp_path / "b", run(1, 0)))  # beside GOOD, a run of the fixed draw
    (bad,) = mixed.bad_cells
    assert "data_seed: 'the fixed draw' in voc/" in bad.problem and "'data seeds' in voc/" in bad.problem
    assert main_cells(mixed)["n"].tolist() == [0]


# -- tuning: select on S, report on T, one study's runs only -------------------------------------------
def study_run(study: str, trial: int, seed: int, val: float, test: float, picks: list[int]) -> dict[str, dict]:
    base = _record()
    alpha = {0: 0.2, 1: 0.1, 2: 0.3}[trial]
    own = study if trial or seed in picks else None  # trial 0 on the report seeds: the main table's run
    rec = _record(
        seed=seed,
        val_map=val,
        test_map=test,
        variant={"alpha": alpha} if trial else {},
        per_class_ap={name: test for name in base["per_class_ap"]},
        study={"name": "tune", "trials": 2, "trial": trial, "space_seed": 0, "select_seeds": picks},
        config={**base["config"], "hparams": {"alpha": alpha}, "study": own},
    )
    return _as_run(rec)


def test_the_choice_is_made_on_S_and_its_test_map_read_on_T(tmp_path: Path) -> None:
    files: dict[str, dict] = {}
    # trial 1 wins on the selection seeds 5 and 6 by 2.0 (SE 0), and is then read on fresh seeds 0 and 1
    for seed, v0, v1 in ((5, 80.0, 82.0), (6, 81.0, 83.0)):
        files |= study_run("A", 0, seed, v0, 99.0, [5, 6]) | study_run("A", 1, seed, v1, 99.0, [5, 6])
    for seed, t0, t1 in ((0, 70.0, 71.0), (1, 72.0, 75.0)):
        files |= study_run("A", 0, seed, 0.0, t0, [5, 6]) | study_run("A", 1, seed, 0.0, t1, [5, 6])
    root = _folder(tmp_path, files)
    (root / "voc" / GOOD.name).unlink()
    records = read_records(root)
    assert not records.bad_cells and not records.invalid
    row = tuned_frame(records).iloc[0]
    assert (row["select_seeds"], row["report_seeds"], row["chosen_trial"]) == ("5,6", "0,1", 1)
    assert row["val_mean"] == pytest.approx(82.5) and (row["margin"], row["margin_se"]) == pytest.approx((2.0, 0.0))
    assert (row["mean"], row["n"], row["default_mean"]) == pytest.approx((73.0, 2, 71.0))  # never the 99s of S
    # the main table holds the defaults on T only: the study's selection runs stay out of it
    assert main_cells(records)["n"].tolist() == [2]


def test_a_study_holds_only_its_own_runs(tmp_path: Path) -> None:
    files: dict[str, dict] = {}
    for study, picks, win in (("A", [5], 1), ("B", [6], 0)):
        for trial in (0, 1):
            files |= study_run(study, trial, picks[0], 80.0 + (trial == win), 0.0, picks)
            files |= study_run(study, trial, 0, 0.0, 70.0 + trial, picks)
    root = _folder(tmp_path, files)
    (root / "voc" / GOOD.name).unlink()
    tuned = tuned_frame(read_records(root)).set_index("select_seeds")
    assert tuned.loc["5", "chosen_trial"] == 1 and tuned.loc["6", "chosen_trial"] == 0
    assert tuned.loc["5", "trials_seen"] == tuned.loc["6", "trials_seen"] == 2
