"""Equal-budget tuning (``--tune N``): the draws, their independence and validity, the study
tags, and a study run end to end through ``run_all.py``. Test-only methods declare the search
spaces (tests/tunable_methods.py), so this does not depend on what the real plugins declare."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import methods
import run_all
from benchmark.spec import tune
from benchmark.spec.config import SweepConfig, Tuning
from methods.base import Range
from tests.tunable_methods import TEST_METHODS, Tunable


@pytest.fixture(autouse=True)
def tunable(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in TEST_METHODS:
        monkeypatch.setitem(methods.registry(), cls.key, cls)


def study(method_keys: list[str], trials: int, seed: int = 0, **kw: object) -> SweepConfig:
    return SweepConfig(methods=method_keys, tuning=Tuning(trials=trials, seed=seed), **kw)


def trials_of(sweep: SweepConfig, method: str, dataset: str = "digits") -> list[tuple[int, dict]]:
    return [(t.index, t.hparams) for t in sweep.trials(dataset, method)]


# -- drawing one value ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "r,u,expected",
    [
        (Range(low=0, search=(0.0, 1.0)), 0.5, 0.5),
        (Range(low=0, search=(1e-3, 1.0), log=True), 0.5, 0.0316),  # the geometric mean, 3 significant digits
        (Range(low=0, search=(1e-3, 1.0), log=True), 0.0, 1e-3),
        (Range(low=0, search=(0.2, 0.7)), 0.999999, 0.7),
        (Range(low=1, integer=True, search=(1, 6)), 0.0, 1),
        (Range(low=1, integer=True, search=(1, 6)), 0.999999, 6),
        (Range(low=1, integer=True, search=(1, 100), log=True), 0.5, 10),
    ],
)
def test_a_value_is_drawn_at_its_quantile_on_the_declared_scale(r: Range, u: float, expected: float) -> None:
    got = tune.draw_value(r, u)
    assert got == expected and type(got) is (int if r.integer else float)


def test_whole_numbers_are_drawn_uniformly() -> None:
    r = Range(low=1, integer=True, search=(1, 6))
    assert [tune.draw_value(r, (i + 0.5) / 6) for i in range(6)] == [1, 2, 3, 4, 5, 6]


def test_the_seed_hash_is_stable_across_processes_and_versions() -> None:
    # pinned: a change here silently changes every study's configurations
    assert tune.stable_seed("spml-bench tune", 0, "em", 1, 0) == 0x68A7C87D073E3999
    assert tune.stable_seed("a", 1) == tune.stable_seed("a", 1) != tune.stable_seed("a", 2)


# -- trials -----------------------------------------------------------------------------------
def test_trial_zero_is_the_default_and_the_others_are_distinct_valid_draws() -> None:
    got = trials_of(study(["tunable_t"], 8), "tunable_t")
    assert [i for i, _ in got] == list(range(8))
    assert got[0][1] == {}
    drawn = [hp for _, hp in got[1:]]
    assert all(set(hp) == {"w", "k"} for hp in drawn)  # 'fixed' has no search interval, 'mode' is a string
    assert all(1e-3 <= hp["w"] <= 1.0 and isinstance(hp["w"], float) for hp in drawn)
    assert all(1 <= hp["k"] <= 6 and isinstance(hp["k"], int) for hp in drawn)
    assert len({json.dumps(hp, sort_keys=True) for hp in drawn}) == 7
    assert {"w": 0.1, "k": 2} not in drawn  # the default configuration is trial 0 only
    # log scale: about half of the draws below the geometric mean of the interval
    assert 1 <= sum(hp["w"] < math.sqrt(1e-3) for hp in drawn) <= 6


def test_the_draw_is_reproducible_and_depends_only_on_space_seed_and_method() -> None:
    alone = trials_of(study(["tunable_t"], 8), "tunable_t")
    assert trials_of(study(["scheduled_t", "tiny_t", "tunable_t"], 8), "tunable_t") == alone
    assert trials_of(study(["tunable_t", "an"], 8), "tunable_t") == alone
    assert trials_of(study(["tunable_t"], 4), "tunable_t") == alone[:4]  # a larger study extends a smaller one
    assert trials_of(study(["tunable_t"], 8, seed=1), "tunable_t") != alone
    # the same configurations on every dataset (only the defaults, trial 0, differ)
    assert trials_of(study(["tunable_t"], 8, datasets=["voc"]), "tunable_t", "voc") == alone


def test_draws_respect_cross_field_and_schedule_rules() -> None:
    sweep = study(["scheduled_t"], 8, overrides={"epochs": 6})
    drawn = [hp for _, hp in trials_of(sweep, "scheduled_t")[1:]]
    assert len(drawn) == 7
    assert all(hp["T_w"] < hp["T_t"] <= 6 for hp in drawn), drawn
    # and the runs built from them validate: every trial on the 3 selection and 3 report seeds, trial 0's report
    # runs being the main table's
    assert len(sweep.planned()) == 8 * 6


def test_a_space_with_no_valid_configuration_is_an_error_naming_the_method() -> None:
    def never(hp: dict) -> None:
        raise ValueError("T_w must be below T_t")

    with pytest.raises(
        tune.TuningError, match=r"method 'scheduled_t': no valid configuration for trial 1 .*T_w must be"
    ):
        tune.draw_trials("scheduled_t", "digits", 3, 0, check=never)


def test_a_small_space_gives_as_many_trials_as_it_holds() -> None:
    got = trials_of(study(["tiny_t"], 8), "tiny_t")
    assert sorted(hp.get("k", 1) for _, hp in got) == [1, 2, 3]


def test_a_method_without_search_space_gets_trial_zero_only() -> None:
    sweep = study(["an", "tunable_t"], 5)
    assert trials_of(sweep, "an") == [(0, {})]
    assert sweep.untuned_methods() == ["an"]
    assert sum(r.cfg.method == "an" for r in sweep.planned()) == 3  # trial 0 on each seed


def test_runs_are_tagged_and_trial_zero_is_the_default_sweeps_run() -> None:
    sweep = study(["tunable_t", "an"], 3, seeds=[0, 1])
    planned = sweep.planned()
    # tunable_t: 3 trials on the 3 selection and the 2 report seeds; an (nothing to tune): trial 0 on the report seeds
    assert len(planned) == 3 * 5 + 2
    tags = {(r.cfg.method, r.cfg.seed, r.study["trial"]) for r in planned}
    assert ("tunable_t", 1, 2) in tags and ("tunable_t", 100, 2) in tags and ("an", 0, 0) in tags
    tag = {"name": "tune", "trials": 3, "space_seed": 0, "select_seeds": [100, 101, 102]}
    assert all(r.study == {**tag, "trial": r.study["trial"]} for r in planned)
    default = {r.cfg.run_id() for r in SweepConfig(methods=["tunable_t", "an"], seeds=[0, 1]).planned()}
    assert {r.cfg.run_id() for r in planned if r.study["trial"] == 0 and r.cfg.seed < 100} == default
    # every other run is the study's own (its identity names the study): no other study shares it
    assert all(r.cfg.study == "tune3/space0/select100.101.102" for r in planned if r.cfg.run_id() not in default)


def test_tuning_cannot_be_combined_with_a_grid() -> None:
    with pytest.raises(ValueError, match="cannot be combined with a grid"):
        SweepConfig(methods=["tunable_t"], tuning=Tuning(trials=2), grid={"w": [0.1, 0.2]})


# -- end to end -------------------------------------------------------------------------------
def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "digits").glob("*.json"))]


def test_a_study_runs_resumes_and_grows_through_run_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "res"
    argv = [
        "--methods",
        "tunable_t",
        "an",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--results-dir",
        str(results),
        "--quiet",
        "--no-leaderboard",
    ]
    argv += ["--tune-seeds", "5"]
    assert run_all.main([*argv, "--tune", "3"]) == 0
    err = capsys.readouterr().err
    assert "tuning: 3 trials per method" in err and "trial 0 only (no search space declared) for an" in err
    assert "chosen on seeds 5, reported on seeds 0" in err
    recs = records(results)
    # tunable_t: 3 trials on seed 5 (selection) and seed 0 (report); an: its main run
    assert len(recs) == 7 and all(r["status"] == "done" for r in recs)
    by_trial = {(r["method"], r["study"]["trial"], r["seed"]): r for r in recs}
    assert set(by_trial) == {("tunable_t", t, s) for t in range(3) for s in (0, 5)} | {("an", 0, 0)}
    assert by_trial[("tunable_t", 0, 0)]["variant"] == {} and by_trial[("an", 0, 0)]["variant"] == {}
    assert by_trial[("tunable_t", 0, 0)]["config"]["study"] is None  # the main table's run
    assert by_trial[("tunable_t", 0, 5)]["config"]["study"] == "tune3/space0/select5"
    for i in (1, 2):
        rec = by_trial[("tunable_t", i, 0)]
        assert rec["study"] == {"name": "tune", "trials": 3, "trial": i, "space_seed": 0, "select_seeds": [5]}
        assert rec["variant"] == {
            k: v for k, v in rec["config"]["hparams"].items() if k in ("w", "k") and v != Tunable.defaults["*"][k]
        }
        assert rec["variant"]
    # ordinary records: a rerun skips them all; a larger study is a study of its own (its first trials are
    # drawn alike but run again, so no record of one study is read into another), sharing only the main runs
    assert run_all.main([*argv, "--tune", "3"]) == 0
    assert "0 runs to do (inline); left alone: 7 done" in capsys.readouterr().err
    assert run_all.main([*argv, "--tune", "4"]) == 0
    assert "7 runs to do (inline); left alone: 2 done" in capsys.readouterr().err
    new = [r for r in records(results) if r["study"]["trials"] == 4]
    assert sorted(r["study"]["trial"] for r in new) == [0, 1, 1, 2, 2, 3, 3]
    assert run_all.main([*argv, "--tune", "4", "--status"]) == 0
    assert any(line.split()[:3] == ["digits", "tunable_t", "8"] for line in capsys.readouterr().out.splitlines())


def test_a_job_that_dies_without_a_record_keeps_its_variant_and_study(tmp_path: Path) -> None:
    from benchmark.sweep.launch import record_job_failure
    from benchmark.sweep.plan import Job

    run = study(["tunable_t"], 3).planned()[9]  # trial 1, seed 0
    job = Job(run.cfg, tmp_path, study=run.study)
    record_job_failure(job, "JobEndedWithoutRecord", "killed", {"executor": "slurm"})
    rec = json.loads(job.record_path.read_text())
    assert rec["status"] == "failed" and rec["study"] == {**run.study, "trial": 1} and run.cfg.seed == 0
    assert rec["variant"] and rec["variant"] == {k: run.cfg.hparams[k] for k in rec["variant"]}


def test_the_tuning_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--methods", "tunable_t", "--results-dir", str(tmp_path)]
    assert run_all.main([*base, "--tune", "0"]) == 2
    assert "--tune must be at least 1" in capsys.readouterr().err
    assert run_all.main([*base, "--tune-seed", "3"]) == 2
    assert "--tune-seed needs --tune N" in capsys.readouterr().err
    assert run_all.main([*base, "--tune", "2", "--hparam", "w=0.2"]) == 2
    assert "--hparam cannot be combined with tuning" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))


def test_the_shipped_tuning_study_covers_the_papers_rows() -> None:
    from benchmark.spec.sweepfile import load_sweep

    sweep = load_sweep(Path(__file__).resolve().parents[1] / "sweeps" / "tune.toml")
    assert sweep.tuning == Tuning(trials=8, seed=0)
    assert set(sweep.method_keys()) <= set(methods.available())
    rows = {(r.cfg.method, r.cfg.labels) for r in sweep.planned()}
    assert ("bce", "full") in rows and ("em_apl", "1p") in rows and len({m for m, _ in rows}) == 14
    for method in sweep.method_keys():
        assert len(sweep.trials("digits", method)) == (8 if tune.search_space(method) else 1)


def test_the_study_tag_travels_with_the_job_to_another_process(tmp_path: Path) -> None:
    """``--executor local`` (and SLURM) pickle the job: its record, written by another process,
    still carries the study (a real method, which that process's registry knows)."""
    results = tmp_path / "results"
    assert (
        run_all.main(
            [
                "--methods",
                "an",
                "--tune",
                "2",
                "--tune-seed",
                "5",
                "--seeds",
                "0",
                "--epochs",
                "1",
                "--batch-size",
                "256",
                "--results-dir",
                str(results),
                "--executor",
                "local",
                "--max-parallel",
                "1",
                "--time",
                "10",
                "--quiet",
                "--no-leaderboard",
            ]
        )
        == 0
    )
    (rec,) = records(results)
    assert rec["launch"]["executor"] == "local" and rec["status"] == "done"
    # 'an' declares no search space: the study ran its trial 0 only, and its records say so
    assert rec["study"] == {"name": "tune", "trials": 1, "trial": 0, "space_seed": 5, "select_seeds": [100, 101, 102]}
    assert rec["variant"] == {}
