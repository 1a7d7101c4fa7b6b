"""Grids (``--hparam NAME=V1,V2``), sweep files (``--sweep FILE.toml``) and the ``variant`` of each
run: what a study expands to, that the shipped files mean what they say, and that a bad file is
one line naming the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

import run_all
from benchmark.cli.run import parse_args
from benchmark.cli.sweep_args import parse_grid, parse_hparam, sweep_from_args
from benchmark.spec.config import SweepConfig
from benchmark.spec.sweepfile import SweepFileError, load_sweep
from benchmark.spec.variants import variant
from tests.clirun import assert_user_error, run_cli

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"


def cli_sweep(*argv: str) -> SweepConfig:
    return sweep_from_args(parse_args(list(argv)))


def variants(sweep: SweepConfig) -> list[dict]:
    seen: list[dict] = []
    for run in sweep.runs():
        v = variant(run.method, run.dataset, run.resolve().hparams)
        if v not in seen:
            seen.append(v)
    return seen


# -- --hparam values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "item,key,values",
    [
        ("alpha=0.3", "alpha", [0.3]),
        ("alpha=0.05,0.1,0.2", "alpha", [0.05, 0.1, 0.2]),
        ("alpha=[0.05,0.1,0.2]", "alpha", [0.05, 0.1, 0.2]),
        ("alpha=[0.05, 0.1]", "alpha", [0.05, 0.1]),
        ("mode=hard,soft", "mode", ["hard", "soft"]),
        ("mode=hard", "mode", ["hard"]),
        ('name="a,b"', "name", ["a,b"]),  # a string holding a comma: a JSON string
        ("sizes=[[1,2]]", "sizes", [[1, 2]]),  # a list-valued hyper-parameter: a list inside a list
        ("sizes=[1,2],[3,4]", "sizes", [[1, 2], [3, 4]]),
        ("flag=true,false", "flag", [True, False]),
        ("T_w=2,3", "T_w", [2, 3]),
    ],
)
def test_hparam_values_follow_the_documented_rule(item: str, key: str, values: list) -> None:
    assert parse_hparam(item) == (key, values)


@pytest.mark.parametrize(
    "items,message",
    [
        (["alpha"], "--hparam expects NAME=VALUE"),
        (["=0.1"], "--hparam expects NAME=VALUE"),
        (["alpha="], "an empty value"),
        (["alpha=0.1,,0.2"], "an empty value"),
        (["alpha=[]"], "an empty list of values"),
        (["alpha=0.1", "alpha=0.2"], "--hparam alpha is given twice"),
    ],
)
def test_bad_hparam_values_are_refused(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_grid(items)


# -- grids --------------------------------------------------------------------------------------
def test_a_list_of_values_is_one_variant_each_the_default_being_the_main_row() -> None:
    sweep = cli_sweep("--methods", "em", "--hparam", "alpha=0.05,0.1,0.2")
    assert variants(sweep) == [{"alpha": 0.05}, {}, {"alpha": 0.2}]  # 0.1 is EM's default on digits
    assert len(sweep.runs()) == 3 * 3
    assert variants(cli_sweep("--methods", "em", "--hparam", "alpha=[0.05,0.1,0.2]")) == variants(sweep)


def test_several_hparam_flags_give_their_product() -> None:
    sweep = cli_sweep(
        "--methods", "em_apl", "--seeds", "0", "--hparam", "alpha=0.05,0.2", "--hparam", "beta=0.1,0.3,0.5"
    )
    got = [(r.hparams["alpha"], r.hparams["beta"]) for r in sweep.runs()]
    assert got == [(a, b) for a in (0.05, 0.2) for b in (0.1, 0.3, 0.5)]


def test_a_run_given_twice_is_run_once() -> None:
    assert len(cli_sweep("--methods", "em", "--hparam", "alpha=0.1,0.1").runs()) == 3
    # a whole number for a float default is the same number, hence the default run, not a variant
    whole = cli_sweep("--methods", "em_apl", "--seeds", "0", "--hparam", "beta=1").runs()
    assert whole[0].hparams["beta"] == 1.0 and isinstance(whole[0].hparams["beta"], float)


def test_the_variant_is_what_differs_from_the_datasets_defaults() -> None:
    assert variant("em", "digits", {"alpha": 0.1}) == {}
    assert variant("em", "voc", {"alpha": 0.1}) == {"alpha": 0.1}  # VOC's default is 0.2
    assert variant("em", "voc", {"alpha": 0.2}) == {}
    hp = {"alpha": 0.1, "beta": 0.2, "T_w": 4, "T_t": 10, "theta": 0.5}  # digits: the published fallback
    assert variant("em_apl", "digits", hp) == {"theta": 0.5}
    assert variant("an", "digits", {}) == {}
    # the variant and the run id agree: 1 and 1.0 hash differently, so they are different variants
    assert variant("em", "digits", {"alpha": 1}) == {"alpha": 1}


# -- sweep files ----------------------------------------------------------------------------------
def test_the_paper_table_file_is_the_default_sweep_run_for_run() -> None:
    default = cli_sweep().planned()
    from_file = cli_sweep("--sweep", str(SWEEPS / "paper_table.toml")).planned()
    assert [r.cfg.run_id() for r in from_file] == [r.cfg.run_id() for r in default]
    assert [r.cfg.model_dump() for r in from_file] == [r.cfg.model_dump() for r in default]
    assert all(r.study is None for r in from_file)
    # flags beside the file reach every run the same way as without it
    assert [r.run_id() for r in cli_sweep("--sweep", str(SWEEPS / "paper_table.toml"), "--lr", "0.005").runs()] == [
        r.run_id() for r in cli_sweep("--lr", "0.005").runs()
    ]


def test_the_em_alpha_file_is_a_grid_of_em_whose_default_value_is_the_main_row() -> None:
    sweep = load_sweep(SWEEPS / "em_alpha.toml")
    assert sweep.method_keys() == ["em"]
    assert variants(sweep) == [{"alpha": a} if a != 0.1 else {} for a in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)]
    default_em = {r.run_id() for r in SweepConfig(methods=["em"]).runs()}
    assert default_em <= {r.run_id() for r in sweep.runs()}


def test_every_shipped_sweep_file_loads() -> None:
    files = sorted(SWEEPS.glob("*.toml"))
    assert {f.name for f in files} >= {"paper_table.toml", "em_alpha.toml", "tune.toml"}
    for f in files:
        assert load_sweep(f).runs(), f


def test_flags_beside_a_sweep_file_override_it(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('methods = ["em"]\nseeds = [0, 1]\n[overrides]\nepochs = 5\nhparams = {alpha = 0.3}\n[grid]\n')
    sweep = cli_sweep("--sweep", str(path))
    assert [(r.seed, r.epochs, r.hparams) for r in sweep.runs()] == [(0, 5, {"alpha": 0.3}), (1, 5, {"alpha": 0.3})]
    sweep = cli_sweep("--sweep", str(path), "--seeds", "8", "--epochs", "2", "--hparam", "alpha=0.05,0.5")
    assert [(r.seed, r.epochs, r.hparams["alpha"]) for r in sweep.runs()] == [(8, 2, 0.05), (8, 2, 0.5)]
    assert cli_sweep("--sweep", str(path), "--methods", "em_apl").method_keys() == ["em_apl"]
    assert cli_sweep("--sweep", str(path), "--data-root", "/x").overrides["data_root"] == "/x"


BAD_FILES = [
    ("seed = [0]\n", "unknown field 'seed'; expected one of datasets, methods, seeds"),
    ('seeds = ["a"]\n', "field 'seeds.0' is 'a': expected a valid integer"),
    ("seeds = []\n", "field 'seeds' is []: expected at least 1 value(s)"),
    ("methods = []\n", "field 'methods' is []: expected at least 1 value(s)"),
    ('methods = ["magic"]\n', "field 'methods': unknown method 'magic'; valid methods: "),
    ('datasets = ["imagenet"]\n', "field 'datasets': unknown dataset 'imagenet'"),
    ('labels = ["2p"]\n', "field 'labels': unknown label regime '2p'"),
    ('methods = ["em"]\n[grid]\nalpah = [0.1]\n', "field 'grid.alpah': method 'em' has no hyper-parameter 'alpah'"),
    ('methods = ["em"]\n[grid]\nalpha = []\n', "field 'grid': hyper-parameter 'alpha' has an empty list of values"),
    ('methods = ["em"]\n[grid]\nalpha = 0.1\n', "field 'grid.alpha' is 0.1: expected a valid list"),
    (
        'methods = ["em"]\n[grid]\nalpha = ["high"]\n',
        "field 'grid.alpha': method 'em' hyper-parameter 'alpha' must be float",
    ),
    ("[overrides]\nlearning_rate = 0.1\n", "field 'overrides': 'learning_rate' is not a run setting; expected one of"),
    ("[overrides]\nseed = 3\n", "'seed' is a sweep axis, not an override; set 'seeds' of the sweep instead"),
    ("[overrides]\nepochs = 0\n", "field 'overrides.epochs' is 0: expected greater than 0"),
    ("[tuning]\ntrials = 0\n", "field 'tuning.trials' is 0: expected greater than or equal to 1"),
    ("[tuning]\ntrails = 8\n", "unknown field 'tuning.trails'; expected one of trials, seed"),
    ("[tuning]\ntrials = 2\n[grid]\nalpha = [0.1]\n", "tuning draws the hyper-parameters"),
    ("seeds = [0, 1\n", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD_FILES, ids=[m[:40] for _, m in BAD_FILES])
def test_a_bad_sweep_file_is_one_line_naming_the_file_and_the_field(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepFileError) as info:
        load_sweep(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value) and "\n" not in str(info.value)
    # and through the command: exit 2, the same line, nothing written
    assert run_all.main(["--sweep", str(path), "--results-dir", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"run_all.py: error: {info.value}"
    assert not (tmp_path / "res").exists()


def test_a_missing_or_unreadable_sweep_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SweepFileError, match=f"{tmp_path / 'nope.toml'}: no such sweep file"):
        load_sweep(tmp_path / "nope.toml")
    with pytest.raises(SweepFileError, match="is a directory"):
        load_sweep(tmp_path)


def test_the_real_command_reports_a_bad_sweep_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('methods = ["em"]\n[grid]\nalpha = ["high"]\n')
    proc = run_cli("run_all", ["--sweep", str(path), "--results-dir", str(tmp_path / "res")])
    assert_user_error(proc, str(path), "grid.alpha", "must be float")
    proc = run_cli("run_all", ["--sweep", str(tmp_path / "missing.toml"), "--results-dir", str(tmp_path / "res")])
    assert_user_error(proc, "missing.toml", "no such sweep file")
    assert not (tmp_path / "res").exists()
