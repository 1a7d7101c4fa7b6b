"""Negative cases through the real command lines (issue 10, the harness side): a user's mistake
exits 2 with one line and no traceback and writes nothing; a hostile results folder is named file
by file and survived; a diverged run is recorded as ``diverged`` with its evidence; a full disk
stops the sweep naming the path and what was not run; Ctrl-C exits 130 with one line. Every case
that has a results folder checks that its good records are neither lost nor changed (hashes
before and after).

The commands run as subprocesses (``tests/clirun.py``), the user-error ones all at once on a few
threads; the data and the good records are built once per module. Test-only methods (a ranged
one, an unbounded loss, a NaN loss) reach the subprocesses the way third-party methods do: a fake
installed distribution declaring them under the ``spml_bench.methods`` entry-point group.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import methods
import run_all
from benchmark.sweep import launch
from tests.clirun import COMMANDS, REPO, assert_no_traceback, assert_user_error, default_sigint, run_cli


#: every subprocess: one torch thread (the digits model is too small to share; spare threads only
#: spin on a busy CI machine), the data root built once
def env_for(data_root: Path, **extra: str) -> dict[str, str]:
    return {"SPML_DATA": str(data_root), "OMP_NUM_THREADS": "1", **extra}


# -- the results every case starts from -----------------------------------------------------------
SEEDS = [str(s) for s in range(8)]
FAST = ["--epochs", "1", "--batch-size", "256"]


def sweep_args(results: Path, data_root: Path, *extra: str, seeds: list[str] = SEEDS) -> list[str]:
    return [
        "--methods",
        "an",
        "--seeds",
        *seeds,
        *FAST,
        "--results-dir",
        str(results),
        "--data-root",
        str(data_root),
        "--quiet",
        "--no-leaderboard",
        *extra,
    ]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """Eight done records (method an, seeds 0-7), written by a real sweep; the data and the
    pretrained backbone are built on the way, once."""
    results = tmp_path_factory.mktemp("good")
    assert run_all.main(sweep_args(results, data_root)) == 0
    assert len(list((results / "digits").glob("*.json"))) == len(SEEDS)
    return results


def records_of(results: Path) -> dict[str, str]:
    """Relative path → sha256 of every record file (what must not be lost or changed)."""
    out = {}
    for path in sorted(results.rglob("*.json")):
        rel = path.relative_to(results)
        if path.is_file() and not any(part.startswith(("_", ".")) for part in rel.parts):
            out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_kept(before: dict[str, str], results: Path, changed: set[str] = frozenset()) -> None:
    """Every record of ``before`` is still there, byte for byte (``changed``: those replaced on purpose)."""
    after = records_of(results)
    for rel, digest in before.items():
        if rel in changed:
            continue
        assert rel in after, f"record lost: {rel}"
        assert after[rel] == digest, f"record changed: {rel}"


def _table_total(stdout: str) -> list[str]:
    """The status table's "all" row: done diverged failed corrupt running interrupted missing total."""
    (row,) = [ln.split() for ln in stdout.splitlines() if ln.startswith("all ")]
    return row[1:]


def copy_of(good: Path, dest: Path) -> Path:
    shutil.copytree(good, dest, ignore=shutil.ignore_patterns("_logs", "_leaderboard"))
    return dest


# -- test-only methods in a fake installed distribution --------------------------------------------
PLUGIN = '''
import torch
from methods.base import HParamError, Method, Range


class Ranged(Method):
    """AN with a declared range and a schedule rule on the run's epochs."""
    key = "neg_ranged"
    defaults = {"*": {"rate": 0.5, "start": 2}}
    ranges = {"rate": Range(0, 1, search=(0.1, 0.9)), "start": Range(1, integer=True)}

    @classmethod
    def check_hparams(cls, hp, *, epochs=None):
        super().check_hparams(hp, epochs=epochs)
        if epochs is not None and hp["start"] > epochs:
            raise HParamError(f"method 'neg_ranged' hyper-parameter 'start' is {hp['start']}; "
                              f"expected <= epochs ({epochs})")

    def loss_matrix(self, logits, observed, *, index=None):
        return torch.nn.functional.softplus(torch.where(observed == 1, -logits, logits))


class Unbounded(Method):
    """A loss that falls without bound, every hyper-parameter in its range: the effect of label
    smoothing with epsilon > 1, reached with valid values."""
    key = "neg_unbounded"
    defaults = {"*": {"scale": 1.0}}
    ranges = {"scale": Range(0, 10)}

    def loss_matrix(self, logits, observed, *, index=None):
        return -self.scale * logits


class NaNLoss(Method):
    key = "neg_nan"

    def loss_matrix(self, logits, observed, *, index=None):
        return logits * float("nan")
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PYTHONPATH on which the test-only methods are installed (see the module docstring)."""
    site = tmp_path_factory.mktemp("site")
    (site / "neg_plugins.py").write_text(PLUGIN)
    info = site / "neg_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: neg-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[spml_bench.methods]\nall = neg_plugins\n")
    return f"{REPO}{os.pathsep}{site}"


# -- user errors: exit 2, one line naming what is wrong, nothing written ---------------------------
@dataclass(frozen=True)
class Case:
    """One user error: the command, its arguments (``{results}``: a copy of the good results,
    ``{file}``: a plain file, ``{dir}``: an empty folder, ``{readonly}``: a read-only one) and what
    its one line must name. Most run in this process (``main(argv)``, as the command does);
    ``subprocess`` ones are the smoke tests of the real command lines. Unknown names and bad
    hyper-parameters are ``tests/test_run_all.py``'s, config values ``tests/test_config.py``'s."""

    category: str
    command: str
    args: tuple[str, ...]
    needles: tuple[str, ...]
    plugins: bool = False  # the test-only methods installed
    skip: str = ""  # why it cannot be tested here
    subprocess: bool = False


CUDA = torch.cuda.is_available()
NO_CUDA = "this machine has CUDA" if CUDA else ""
AS_ROOT = "root writes into read-only folders" if os.geteuid() == 0 else ""
SWEEP = ("--methods", "an", "--seeds", "0", "--results-dir", "{results}", "--quiet", "--no-leaderboard")

CASES: dict[str, Case] = {
    # config values (issue 10 item 4), named by their flag
    "lr-inf": Case("config", "run_all", (*SWEEP, "--lr", "inf"), ("--lr is inf", "finite number"), subprocess=True),
    "lr-negative": Case("config", "run_all", (*SWEEP, "--lr", "-1e-3"), ("--lr is -0.001", "greater than 0")),
    "lr-nan": Case("config", "run_all", (*SWEEP, "--lr", "nan"), ("--lr is nan", "finite number")),
    "epochs-zero": Case("config", "run_all", (*SWEEP, "--epochs", "0"), ("--epochs is 0", "greater than 0")),
    "seed-negative": Case(
        "config",
        "run_all",
        ("--seeds", "-1", "--results-dir", "{results}"),
        ("--seeds is -1", "greater than or equal to 0"),
    ),
    "device-name": Case(
        "config", "run_all", (*SWEEP, "--device", "gpu7"), ("device 'gpu7'", "auto, cpu, cuda, cuda:N")
    ),
    "device-cuda-absent": Case(
        "config", "run_all", (*SWEEP, "--device", "cuda"), ("device 'cuda'", "CUDA is not available"), skip=NO_CUDA
    ),
    "device-index": Case("config", "run_all", (*SWEEP, "--device", "cuda:9"), ("device 'cuda:9'",)),
    "backbone": Case(
        "config", "run_all", (*SWEEP, "--backbone", "resnet9000"), ("backbone 'resnet9000'", "timm model name")
    ),
    "hparam-nan": Case(
        "config", "run_all", (*SWEEP, "--methods", "em", "--hparam", "alpha=NaN"), ("alpha=NaN", "finite")
    ),
    "hparam-range": Case(
        "config",
        "run_all",
        (*SWEEP, "--methods", "neg_ranged", "--hparam", "rate=2"),
        ("method 'neg_ranged'", "'rate' is 2", "[0, 1]"),
        plugins=True,
    ),
    "hparam-schedule": Case(
        "config",
        "run_all",
        (*SWEEP, "--methods", "neg_ranged", "--hparam", "start=20"),
        ("'start' is 20", "epochs (7)"),
        plugins=True,
    ),
    "hparam-schedule-epochs": Case(
        "config",
        "run_all",
        (*SWEEP, "--methods", "neg_ranged", "--hparam", "start=3", "--epochs", "2"),
        ("'start' is 3", "epochs (2)"),
        plugins=True,
    ),
    # arguments
    "flag-type": Case("arguments", "run_all", (*SWEEP, "--epochs", "x"), ("--epochs", "invalid int value: 'x'")),
    "flag-unknown": Case(
        "arguments", "run_all", (*SWEEP, "--bogus"), ("unrecognized arguments: --bogus",), subprocess=True
    ),
    "gpus-negative": Case("arguments", "run_all", (*SWEEP, "--gpus", "-1"), ("--gpus must be at least 0",)),
    "max-parallel": Case(
        "arguments", "run_all", (*SWEEP, "--max-parallel", "0"), ("--max-parallel must be at least 1",)
    ),
    "no-wait-inline": Case("arguments", "run_all", (*SWEEP, "--no-wait"), ("--no-wait needs --executor slurm",)),
    "hparam-syntax": Case("arguments", "run_all", (*SWEEP, "--hparam", "=3"), ("--hparam expects NAME=VALUE",)),
    # paths (item 6)
    "results-dir-file": Case(
        "paths", "run_all", (*SWEEP[:4], "--results-dir", "{file}"), ("--results-dir", "is a file"), subprocess=True
    ),
    "results-dir-under-file": Case(
        "paths", "run_all", (*SWEEP[:4], "--results-dir", "{file}/sub"), ("cannot be made", "is a file")
    ),
    "results-dir-readonly": Case(
        "paths", "run_all", (*SWEEP[:4], "--results-dir", "{readonly}/r"), ("not writable",), skip=AS_ROOT
    ),
    "status-results-dir-file": Case("paths", "run_all", ("--status", "--results-dir", "{file}"), ("is a file",)),
    "status-results-dir-missing": Case(
        "paths", "run_all", ("--status", "--results-dir", "{dir}/nothing"), ("--results-dir", "does not exist")
    ),
    "log-dir-file": Case("paths", "run_all", (*SWEEP, "--log-dir", "{file}"), ("--log-dir", "is a file")),
    "data-root-file": Case("paths", "run_all", (*SWEEP, "--data-root", "{file}"), ("--data-root", "is a file")),
    # the other entry points (item 8)
    "spml-unknown-command": Case(
        "entry points", "spml-bench", ("frobnicate",), ("unknown command 'frobnicate'",), subprocess=True
    ),
    "spml-no-command": Case("entry points", "spml-bench", (), ("a command is required",)),
    "spml-run-lr": Case(
        "entry points",
        "spml-bench",
        ("run", *SWEEP, "--lr", "inf"),
        ("spml-bench run: error", "--lr is inf"),
        subprocess=True,
    ),
    "spml-status-device": Case(
        "entry points",
        "spml-bench",
        ("status", "--device", "gpu7", "--results-dir", "{results}"),
        ("spml-bench status: error", "device 'gpu7'"),
    ),
    # (the bench's other cases, in-process below)
    "bench-flag": Case("entry points", "bench", ("--bogus",), ("unrecognized arguments: --bogus",), subprocess=True),
    "bench-json-under-file": Case("paths", "bench", ("--json", "{file}/out.json"), ("--json", "is a file")),
}


def _prepare(name: str, case: Case, base: Path, good: Path, data_root: Path) -> tuple[list[str], Path]:
    folder = base / name
    folder.mkdir()
    results = copy_of(good, folder / "results")
    plain = folder / "plain.txt"
    plain.write_text("not a folder\n")
    (folder / "empty").mkdir()
    readonly = folder / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    fill = {"results": str(results), "file": str(plain), "dir": str(folder / "empty"), "readonly": str(readonly)}
    args = [a.format(**fill) for a in case.args]
    if case.command != "bench" and args and "--data-root" not in args and args[0] not in ("frobnicate",):
        args += ["--data-root", str(data_root)]
    return args, results


@pytest.fixture(scope="module")
def smoke_errors(good: Path, data_root: Path, plugin_path: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every ``subprocess`` case of ``CASES`` run at once on a few threads: name → (process, results
    folder, hashes before)."""
    base = tmp_path_factory.mktemp("user_errors")
    todo = {}
    for name, case in CASES.items():
        if case.subprocess and not case.skip:
            args, results = _prepare(name, case, base, good, data_root)
            todo[name] = (case, args, results, records_of(results))
    env_of = lambda case: env_for(data_root, **({"PYTHONPATH": plugin_path} if case.plugins else {}))  # noqa: E731
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {
            name: pool.submit(run_cli, case.command, args, env=env_of(case), timeout=240)
            for name, (case, args, _, _) in todo.items()
        }
    return {name: (futures[name].result(), todo[name][2], todo[name][3]) for name in todo}


def _in_process(case: Case, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``case``'s command's ``main(args)`` in this process, as its process would run it."""
    from benchmark.bench.compare import main as bench_main
    from benchmark.cli import main as spml_main

    mains = {"run_all": run_all.main, "spml-bench": spml_main, "bench": bench_main}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = mains[case.command](args)
        except SystemExit as exc:  # argparse's exit
            code = exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture()
def test_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only methods in this process's registry, as the fake distribution installs them."""
    namespace: dict = {}
    exec(compile(PLUGIN, "neg_plugins", "exec"), namespace)  # exec: the test's own plugin source
    plugins = {cls.key: cls for cls in (namespace["Ranged"], namespace["Unbounded"], namespace["NaNLoss"])}
    monkeypatch.setattr(methods, "_REGISTRY", {**methods.registry(), **plugins})


@pytest.mark.parametrize("name", list(CASES))
def test_a_user_error_is_one_line_exit_2_and_writes_nothing(
    name: str,
    good: Path,
    data_root: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[name]
    if case.skip:
        pytest.skip(case.skip)
    if case.subprocess:
        proc, results, before = request.getfixturevalue("smoke_errors")[name]
    else:
        if case.plugins:
            request.getfixturevalue("test_methods")
        monkeypatch.setenv("SPML_DATA", str(data_root))
        args, results = _prepare(name, case, tmp_path, good, data_root)
        before = records_of(results)
        proc = _in_process(case, args)
    assert_user_error(proc, *case.needles)
    assert_kept(before, results)
    assert records_of(results) == before, "a user error wrote a record"
    assert not (results / "_logs").exists(), "nothing was submitted, so no ledger"


BENCH_CASES = {
    "bench-device": (["--device", "gpu7"], ["device 'gpu7'"]),
    "bench-cuda-absent": (["--device", "cuda"], ["device 'cuda'", "CUDA is not available"]),
    "bench-device-index": (["--device", "cuda:9"], ["device 'cuda:9'"]),
    "bench-backbone": (["--backbone", "nope"], ["backbone 'nope'", "timm model name"]),
    "bench-images": (["--images", "0"], ["--images must be at least 1"]),
    "bench-workers": (["--workers", "-1"], ["--workers must be at least 0"]),
    "bench-json-dir": (["--json", "{dir}"], ["--json", "is a folder"]),
    "bench-workdir-file": (["--workdir", "{file}"], ["--workdir", "is a file"]),
}


@pytest.mark.parametrize("name", list(BENCH_CASES))
def test_the_bench_refuses_bad_flags_before_measuring(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m benchmark.bench``'s main, in this process (its flag checks run before anything is
    measured); the same code path as the subprocess cases above."""
    from benchmark.bench.compare import main

    if "cuda" in name and CUDA:
        pytest.skip(NO_CUDA)
    args, needles = BENCH_CASES[name]
    (tmp_path / "plain.txt").write_text("x")
    argv = [a.format(file=tmp_path / "plain.txt", dir=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m benchmark.bench: error: "), err
    for needle in needles:
        assert needle in lines[0], err
    assert [p.name for p in tmp_path.iterdir()] == ["plain.txt"], "nothing measured, nothing written"


def test_deterministic_switches_exist(good: Path, data_root: Path, tmp_path: Path) -> None:
    results = copy_of(good, tmp_path / "r")
    for flag in ("--deterministic", "--no-deterministic"):
        proc = run_cli("run_all", [*sweep_args(results, data_root), flag, "--status"], env=env_for(data_root))
        assert proc.returncode == 0, proc.stderr
        assert_no_traceback(proc)
    # a switch that changes the numbers makes another run: all eight are missing under it
    assert proc.stdout.splitlines()[-1].split()[-2:] == ["8", "8"], proc.stdout


# -- hostile results folders (item 5) --------------------------------------------------------------
STRAY = {
    "digits/a_list.json": b"[1, 2, 3]\n",
    "digits/a_string.json": b'"just a string"\n',
    "notes.json": b'{"note": "these are my runs"}\n',
    "digits/nan_field.json": b'{"method": "an", "dataset": "digits", "labels": "1p", "seed": 0, '
    b'"status": "done", "test_map": NaN}\n',
    "digits/no_status.json": b'{"method": "an", "dataset": "digits", "labels": "1p", "seed": 0}\n',
    "digits/truncated.json": b'{"method": "an", "dataset": "dig',
    "digits/empty.json": b"",
    "digits/deep.json": b"[" * 200_000,
    "digits/latin1.json": '{"method": "caf\u00e9"}'.encode("latin-1"),
}


def _add_stray(results: Path) -> None:
    for rel, data in STRAY.items():
        (results / rel).write_bytes(data)
    (results / "digits" / "folder.json").mkdir()  # a folder named like a record


@pytest.mark.slow
def test_status_and_sweep_name_every_invalid_file_and_carry_on(good: Path, data_root: Path, tmp_path: Path) -> None:
    results = copy_of(good, tmp_path / "results")
    _add_stray(results)
    before = records_of(results)
    env = env_for(data_root)
    for extra in (["--status"], []):
        proc = run_cli("run_all", sweep_args(results, data_root, *extra), env=env)
        assert proc.returncode == 0, proc.stderr
        assert_no_traceback(proc)
        for rel in [*STRAY, "digits/folder.json"]:
            named = [line for line in proc.stderr.splitlines() if str(results / rel) in line]
            assert len(named) == 1 and "not a run record, ignored" in named[0], (rel, proc.stderr)
        assert "nested too deeply" in proc.stderr and "non-finite number NaN" in proc.stderr
        assert "is empty (0 bytes)" in proc.stderr and "truncated?" in proc.stderr and "a JSON array" in proc.stderr
    assert "0 runs to do (inline); left alone: 8 done" in proc.stderr
    assert proc.stdout.startswith("this sweep: 8 runs — 8 done\n"), proc.stdout
    assert_kept(before, results)
    assert records_of(results) == before


def _corrupt(results: Path) -> dict[str, tuple[bytes, str]]:
    """Each run's record but the last one's spoilt in its own way: seed → (bytes, what --status says)."""
    paths = {int(p.name.split("__seed")[1].split("__")[0]): p for p in (results / "digits").glob("*.json")}
    good_rec = json.loads(paths[7].read_text())
    other = json.dumps({**good_rec, "seed": 0}).encode()
    nan = json.dumps({**good_rec, "seed": 1}).replace(f'"test_map": {good_rec["test_map"]}', '"test_map": NaN').encode()
    assert b"NaN" in nan
    no_status = json.dumps({k: v for k, v in {**good_rec, "seed": 2}.items() if k != "status"}).encode()
    spoilt = {
        0: (paths[0].read_bytes()[:1000], "not valid JSON (truncated?)"),
        1: (nan, "non-finite number NaN"),
        2: (no_status, "field 'status' is null"),
        3: (b"", "is empty (0 bytes)"),
        4: (b"[" * 200_000, "nested too deeply"),
        5: (b'["a", "list"]', "is a JSON array"),
        6: (other, "field 'run_id'"),  # seed 7's record copied over seed 6's
    }
    for seed, (data, _) in spoilt.items():
        paths[seed].write_bytes(data)
    return {str(paths[s]): v for s, v in spoilt.items()}


@pytest.mark.slow
def test_corrupt_records_are_shown_corrupt_and_replaced_naming_each(
    good: Path, data_root: Path, tmp_path: Path
) -> None:
    results = copy_of(good, tmp_path / "results")
    spoilt = _corrupt(results)
    before = records_of(results)
    env = env_for(data_root)
    proc = run_cli("run_all", sweep_args(results, data_root, "--status"), env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert _table_total(proc.stdout) == ["1", "0", "0", "7", "0", "0", "0", "8"], proc.stdout
    for path, (_, reason) in spoilt.items():
        line = [ln for ln in proc.stdout.splitlines() if path in ln]
        assert len(line) == 1 and reason in line[0], (path, reason, proc.stdout)

    proc = run_cli("run_all", sweep_args(results, data_root), env=env)
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert "7 runs to do (inline); left alone: 1 done" in proc.stderr
    for path, (data, reason) in spoilt.items():
        line = [
            ln
            for ln in proc.stderr.splitlines()
            if ln.startswith("run_all.py: replacing a corrupt record") and path in ln
        ]
        assert len(line) == 1 and reason in line[0] and "a copy is kept at" in line[0], (path, proc.stderr)
        copy = Path(line[0].split("a copy is kept at ")[1])
        assert copy.read_bytes() == data and "_corrupt" in copy.parts
        assert json.loads(Path(path).read_text())["status"] == "done"
    assert_kept(before, results, changed={str(Path(p).relative_to(results)) for p in spoilt})


@pytest.mark.slow
def test_an_unreadable_checkpoint_is_set_aside_and_the_run_starts_afresh(
    good: Path, data_root: Path, tmp_path: Path
) -> None:
    from benchmark.run.train import checkpoint_path
    from benchmark.spec.config import RunConfig

    results = copy_of(good, tmp_path / "results")
    before = records_of(results)
    ckpt = checkpoint_path(
        results,
        RunConfig(
            dataset="digits", method="an", seed=30, data_seed=30, epochs=1, batch_size=256, data_root=str(data_root)
        ),
    )
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"PK\x03\x04 not a checkpoint")
    argv = [a for a in sweep_args(results, data_root, seeds=["30"]) if a != "--quiet"]
    status = run_cli("run_all", [*argv, "--status"], env=env_for(data_root))
    assert _table_total(status.stdout) == ["0", "0", "0", "0", "0", "1", "0", "1"], status.stdout
    proc = run_cli("run_all", argv, env=env_for(data_root))
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert f"checkpoint {ckpt} cannot be read" in proc.stderr and "starting the run afresh" in proc.stderr
    assert ckpt.with_name(ckpt.name + ".unreadable").exists() and not ckpt.exists()
    (new,) = set(records_of(results)) - set(before)
    assert json.loads((results / new).read_text())["status"] == "done"
    assert_kept(before, results)


def test_a_leaderboard_error_is_one_line_not_a_traceback(good: Path, data_root: Path, tmp_path: Path) -> None:
    results = copy_of(good, tmp_path / "results")
    (results / "_leaderboard").write_text("a file where the leaderboard's folder goes\n")
    before = records_of(results)
    argv = [a for a in sweep_args(results, data_root) if a != "--no-leaderboard"]
    proc = run_cli("run_all", argv, env=env_for(data_root))
    assert proc.returncode == 1
    assert_no_traceback(proc)
    lines = [ln for ln in proc.stderr.splitlines() if "leaderboard was not rebuilt" in ln]
    assert len(lines) == 1 and "_leaderboard" in lines[0], proc.stderr
    assert_kept(before, results)


# -- diverged runs (item 2) -------------------------------------------------------------------------
@pytest.mark.slow
def test_diverged_runs_are_recorded_shown_left_alone_and_retried(
    good: Path, data_root: Path, tmp_path: Path, plugin_path: str
) -> None:
    results = copy_of(good, tmp_path / "results")
    before = records_of(results)
    env = env_for(data_root, PYTHONPATH=plugin_path)
    base = [
        "--seeds",
        "0",
        "--epochs",
        "2",
        "--results-dir",
        str(results),
        "--data-root",
        str(data_root),
        "--quiet",
        "--no-leaderboard",
    ]
    # a learning rate that blows the network up: every image gets one score per class
    blown = run_cli("run_all", ["--methods", "an", "--lr", "1e6", *base], env=env)
    # in-range hyper-parameters, yet a loss that falls below its bound; a NaN loss
    plugins = ["--methods", "neg_unbounded", "neg_nan", *base]
    broken = run_cli("run_all", plugins, env=env)
    for proc, n in ((blown, 1), (broken, 2)):
        assert proc.returncode == 1, proc.stderr
        assert_no_traceback(proc)
        assert f"0 done, {n} diverged, 0 failed" in proc.stderr and proc.stderr.count("] DIVERGED in ") == n, (
            proc.stderr
        )
    new = [json.loads((results / rel).read_text()) for rel in records_of(results) if rel not in before]
    assert {r["method"]: r["divergence"]["rule"] for r in new} == {
        "an": "constant_predictions",
        "neg_unbounded": "loss_below_bound",
        "neg_nan": "non_finite_loss",
    }
    assert all(r["status"] == "diverged" and r["divergence"]["evidence"] and r["divergence"]["reason"] for r in new)

    status = run_cli("run_all", [*plugins, "--status"], env=env)
    assert status.returncode == 0 and _table_total(status.stdout) == ["0", "2", "0", "0", "0", "0", "0", "2"], (
        status.stdout
    )
    assert "diverged runs (2" in status.stdout and "loss is nan at epoch 1, batch 0" in status.stdout
    again = run_cli("run_all", plugins, env=env)
    assert again.returncode == 0 and "0 runs to do (inline); left alone: 2 diverged" in again.stderr, again.stderr
    retry = run_cli("run_all", [*plugins, "--retry-failed"], env=env)
    assert retry.returncode == 1 and "2 runs to do (inline)" in retry.stderr, retry.stderr
    assert_kept(before, results)


# -- a full disk (item 6) ---------------------------------------------------------------------------
def test_a_record_that_cannot_be_written_stops_the_sweep_naming_it(
    good: Path, data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC from the record writer, even for a failed run: the sweep stops at once, says which
    record and which runs were not run; the records already there are untouched."""
    results = copy_of(good, tmp_path / "results")
    before = records_of(results)

    def full(path: Path, record: dict) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(launch, "write_record", full)
    code = run_all.main(sweep_args(results, data_root, seeds=["10", "11", "12"]))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    stop = [ln for ln in err.splitlines() if ln.startswith("run_all.py: error: cannot write the record")]
    assert len(stop) == 1 and "No space left on device" in stop[0] and "an__1p__seed10__" in stop[0], err
    assert "not run (3): digits/an/1p/seed10/data10, digits/an/1p/seed11/data11, digits/an/1p/seed12/data12" in err
    assert_kept(before, results)
    assert records_of(results) == before


def test_a_file_size_limit_stops_the_sweep_through_the_real_cli(good: Path, data_root: Path, tmp_path: Path) -> None:
    """A real write failure in a real process (no mock): RLIMIT_FSIZE below a checkpoint's size.
    The first run's checkpoint cannot be written; its failed record (small) is, and the sweep
    stops there rather than failing every later run the same way."""
    results = copy_of(good, tmp_path / "results")
    before = records_of(results)
    limit = 64 * 1024  # a failed record is a few kB; the smallest checkpoint is several times this

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0", **env_for(data_root)}
    proc = subprocess.run(
        [*COMMANDS["run_all"], *sweep_args(results, data_root, seeds=["10", "11"])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap,
    )
    assert proc.returncode == 1, proc.stderr
    assert_no_traceback(proc)
    assert "digits/an/1p/seed10/data10 failed for lack of storage" in proc.stderr and "File too large" in proc.stderr, (
        proc.stderr
    )
    assert "not run (1): digits/an/1p/seed11/data11" in proc.stderr
    (failed,) = [p for p in (results / "digits").glob("*seed10__*.json")]
    rec = json.loads(failed.read_text())
    assert rec["status"] == "failed" and rec["error"]["errno_name"] == "EFBIG"
    assert_kept(before, results)


# -- Ctrl-C (item 8) --------------------------------------------------------------------------------
def _interrupt(
    command: str, args: list[str], marker: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Start ``command``, wait for ``marker`` on its stderr (or stdout), send SIGINT, collect."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0", **env}
    proc = subprocess.Popen(
        [*COMMANDS[command], *args],
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )
    seen: list[str] = []
    deadline = time.time() + timeout
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                proc.send_signal(signal.SIGINT)
                break
            assert time.time() < deadline, "".join(seen)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + (rest or "")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, out)


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_exits_130_in_one_line_and_resumes(good: Path, data_root: Path, tmp_path: Path) -> None:
    results = copy_of(good, tmp_path / "results")
    before = records_of(results)
    args = [
        "--methods",
        "an",
        "--seeds",
        "20",
        "--epochs",
        "40",
        "--patience",
        "0",
        "--batch-size",
        "256",
        "--results-dir",
        str(results),
        "--data-root",
        str(data_root),
        "--no-leaderboard",
    ]
    # at "epoch 2:" epoch 1's checkpoint is on disk (it is written before epoch 2 starts)
    proc = _interrupt("run_all", args, "epoch 2:", env_for(data_root))
    assert proc.returncode == 130, proc.stdout
    assert_no_traceback(proc)
    tail = [ln for ln in proc.stdout.splitlines() if "interrupted" in ln]
    assert tail == ["run_all.py: interrupted; rerun to resume"], proc.stdout
    assert records_of(results) == before, "an interrupted run writes no record"
    status = run_cli("spml-bench", ["status", *args], env=env_for(data_root))
    assert _table_total(status.stdout) == ["0", "0", "0", "0", "0", "1", "0", "1"], status.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "command,args,marker,prog",
    [
        (
            "spml-bench",
            ["run", "--methods", "an", "--seeds", "21", "--epochs", "40", "--patience", "0", "--no-leaderboard"],
            "epoch 1:",
            "spml-bench run",
        ),
        (
            "bench",
            [
                "--images",
                "64",
                "--ref-images",
                "64",
                "--eval-images",
                "64",
                "--image-size",
                "32",
                "--batch-size",
                "16",
                "--workers",
                "0",
            ],
            "device ",
            "python -m benchmark.bench",
        ),
    ],
)
def test_ctrl_c_in_the_other_entry_points_is_one_line(
    command: str, args: list[str], marker: str, prog: str, data_root: Path, good: Path, tmp_path: Path
) -> None:
    extra = (
        ["--results-dir", str(tmp_path / "r"), "--data-root", str(data_root)]
        if command == "spml-bench"
        else ["--workdir", str(tmp_path / "w")]
    )
    proc = _interrupt(command, [*args, *extra], marker, env_for(data_root))
    assert proc.returncode == 130, proc.stdout
    assert_no_traceback(proc)
    assert [ln for ln in proc.stdout.splitlines() if "interrupted" in ln] == [f"{prog}: interrupted; rerun to resume"]


def test_the_case_table_covers_every_category() -> None:
    """The report counts cases by category from this table; keep it honest."""
    counts: dict[str, int] = {}
    for case in CASES.values():
        counts[case.category] = counts.get(case.category, 0) + 1
    assert set(counts) == {"config", "arguments", "paths", "entry points"}, counts
    print(json.dumps(counts))
