"""A hostile user's cases (issue 19, the harness side): no code runs from a results folder, a
checkpoint resumes only the run, code and data that made it, outputs never replace a record or a
node, quarantine never follows links, identities are bounded and normalised, and a broken plugin
fails alone. CLI cases run as subprocesses (``tests/clirun.py``) and check the exit status, that
stderr holds no traceback, and that no good record changed (hashes before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import torch

from benchmark.records import comparable
from benchmark.run import checkpoint
from benchmark.run.train import Trainer
from benchmark.spec.config import RunConfig, SweepConfig, Tuning
from tests.clirun import REPO, assert_no_traceback, assert_user_error, run_cli
from tests.runs_compare import sweep_jobs

FAST = {"epochs": 2, "batch_size": 256, "patience": 0}
SWEEP = ["--methods", "an", "--epochs", "1", "--batch-size", "256", "--no-leaderboard"]


def hashes(folder: Path) -> dict[str, str]:
    """Relative path → sha256 of every record file (what must not be lost or changed)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.json"))
        if p.is_file()
        and not p.is_symlink()
        and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
    }


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder of a few committed records (the leaderboard cases never get past the paths)."""
    out = tmp_path_factory.mktemp("records")
    (out / "digits").mkdir()
    for path in sorted((REPO / "results" / "digits").glob("an__*.json"))[:3]:
        shutil.copy(path, out / "digits" / path.name)
    return out


# -- 1. no code from data --------------------------------------------------------------------------
class Planted:
    """What an attacker leaves at a run's checkpoint path: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["torch.save", "pickle"])
def test_a_planted_pickle_at_a_checkpoint_path_runs_nothing(data_root: Path, tmp_path: Path, container: str) -> None:
    results, marker = tmp_path / "results", tmp_path / "pwned"
    argv = [*SWEEP, "--seeds", "40", "--results-dir", str(results), "--data-root", str(data_root)]
    (job,) = sweep_jobs(argv, results)
    ckpt = job.checkpoint_path
    ckpt.parent.mkdir(parents=True)
    if container == "torch.save":
        torch.save({"model": Planted(marker)}, ckpt)
    else:
        ckpt.write_bytes(pickle.dumps(Planted(marker)))
    proc = run_cli("run_all", argv, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert not marker.exists(), "code from the results folder ran"
    assert f"checkpoint {ckpt} cannot be read" in proc.stderr and "ignored" in proc.stderr
    assert "starting the run afresh" in proc.stderr
    (record,) = (results / "digits").glob("*.json")
    assert json.loads(record.read_text())["status"] == "done"
    assert not marker.exists()


# -- 3. checkpoints bound to what made them -----------------------------------------------------------
class Stop(Exception):
    pass


def _stop_after(epoch: int) -> Any:
    def observe(entry: dict[str, Any]) -> None:
        if entry["epoch"] == epoch + 1:  # while epoch+1 is evaluated: its checkpoint is not written
            raise Stop

    return observe


def _interrupted(cfg: RunConfig, ckpt: Path) -> None:
    with pytest.raises(Stop):
        Trainer(cfg, ckpt, observers=[_stop_after(1)]).run()
    assert json.loads(torch.load(ckpt, weights_only=True)["progress"])["epoch"] == 1


def test_a_checkpoint_of_other_code_is_not_resumed_and_the_rerun_equals_a_fresh_run(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The developer's loop: interrupted under the old loss, rerun under the new code. Resuming
    would carry the old loss's epoch 1 into the record; the rerun must be the fresh run's."""
    cfg = RunConfig(dataset="digits", method="an", seed=0, data_root=str(data_root), **FAST)
    fresh = Trainer(cfg).run()
    ckpt = tmp_path / "run.pt"
    from methods.an import AssumeNegative

    with monkeypatch.context() as old_code:  # the code before the edit: another loss, another digest
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        old_code.setattr(
            AssumeNegative,
            "loss_matrix",
            lambda self, logits, observed, *, index=None: (
                3.0 * bce(logits, (observed == 1).to(logits.dtype), reduction="none")
            ),
        )
        old_code.setattr(checkpoint, "code_identity", lambda: {"sha256": "0" * 64})
        _interrupted(cfg, ckpt)
    said: list[str] = []
    again = Trainer(cfg, ckpt, log=said.append).run()
    stale = [line for line in said if "checkpoint" in line]
    assert len(stale) == 1 and "is stale (its code digest is 0000000000000000" in stale[0], said
    assert "starting the run afresh" in stale[0] and not any("resumed" in line for line in said)
    assert comparable(again) == comparable(fresh)


@pytest.mark.parametrize("field", ["run_id", "data_digest"])
def test_a_checkpoint_of_another_run_or_other_data_is_deleted_not_resumed(
    data_root: Path, tmp_path: Path, field: str
) -> None:
    cfg = RunConfig(dataset="digits", method="an", seed=1, data_root=str(data_root), **FAST)
    ckpt = tmp_path / "run.pt"
    _interrupted(cfg, ckpt)
    saved = torch.load(ckpt, weights_only=True)
    saved["binding"][field] = "f" * 16
    torch.save(saved, ckpt)
    said: list[str] = []
    trainer = Trainer(cfg, ckpt, log=said.append)
    trainer.set_up()
    trainer.resume()
    assert trainer.state.epoch == 0 and not ckpt.exists()
    name = field.replace("_", " ")
    assert [line for line in said if "checkpoint" in line] == [
        f"[{cfg.label()}] checkpoint {ckpt} is stale (its {name} is ffffffffffffffff, this run's is "
        f"{getattr(trainer.binding, field)[:16]}); deleted, starting the run afresh"
    ]


def test_force_retrains_instead_of_resuming(data_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    args = [
        "--methods",
        "an",
        "--seeds",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "256",
        "--patience",
        "0",
        "--data-root",
        str(data_root),
        "--no-leaderboard",
    ]
    (job,) = sweep_jobs(args, results)
    job.checkpoint_path.parent.mkdir(parents=True)
    _interrupted(job.cfg, job.checkpoint_path)
    proc = run_cli("run_all", [*args, "--results-dir", str(results), "--force"], env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert "resumed" not in proc.stderr and "epoch 1:" in proc.stderr
    fresh = tmp_path / "fresh"  # the same command in a fresh folder, so threads and all are alike
    reference = run_cli("run_all", [*args, "--results-dir", str(fresh)], env={"OMP_NUM_THREADS": "1"})
    assert reference.returncode == 0, reference.stderr
    (made,) = (fresh / "digits").glob("*.json")
    assert comparable(json.loads(job.record_path.read_text())) == comparable(json.loads(made.read_text()))


# -- 5. safe writes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["record", "inside", "symlink", "fifo", "device", "directory"])
@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_leaderboard_out_never_replaces_a_record_or_a_node(records: Path, tmp_path: Path, kind: str, fmt: str) -> None:
    before = hashes(records)
    target = tmp_path / "private.txt"
    target.write_text("keep me\n")
    out = {
        "record": next((records / "digits").glob("*.json")),
        "inside": records / "digits" / "table.csv",
        "symlink": tmp_path / "link.csv",
        "fifo": tmp_path / "fifo",
        "device": Path("/dev/null"),
        "directory": tmp_path,
    }[kind]
    if kind == "symlink":
        out.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(out)
    needle = {
        "record": "inside",
        "inside": "inside",
        "symlink": "is a symbolic link",
        "fifo": "is a FIFO",
        "device": "is a character device",
        "directory": "is a folder",
    }[kind]
    proc = run_cli("leaderboard", ["--results-dir", str(records), "--format", fmt, "--out", str(out)], timeout=120)
    assert_user_error(proc, needle)
    assert hashes(records) == before and target.read_text() == "keep me\n"
    if kind == "symlink":
        assert out.is_symlink()
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(out).st_mode)


def test_quarantine_moves_a_link_as_a_link_and_keeps_a_copy_private(data_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    argv = [*SWEEP, "--seeds", "41", "42", "--results-dir", str(results), "--data-root", str(data_root)]
    linked, private = sweep_jobs(argv, results)
    linked.record_path.parent.mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a record, and private\n")
    secret.chmod(0o600)
    linked.record_path.symlink_to(secret)
    private.record_path.write_text("{ truncated")
    private.record_path.chmod(0o600)
    proc = run_cli("run_all", argv, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    kept = sorted((results / "_corrupt").rglob("*"))
    links = [p for p in kept if p.is_symlink()]
    files = [p for p in kept if p.is_file() and not p.is_symlink()]
    assert len(links) == 1 and os.readlink(links[0]) == str(secret), kept
    assert len(files) == 1 and files[0].read_text() == "{ truncated", kept
    assert stat.S_IMODE(os.lstat(files[0]).st_mode) == 0o600
    assert secret.read_text() == "not a record, and private\n" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "moved as a link" in proc.stderr
    for job in (linked, private):
        assert not job.record_path.is_symlink() and json.loads(job.record_path.read_text())["status"] == "done"


def test_generated_folders_are_ignored_by_git_and_the_measured_figures_tracked() -> None:
    import subprocess

    names = [f"results/{d}/x" for d in ("_corrupt", "_checkpoints", "_logs", "_leaderboard", "_cache")]
    ignored = subprocess.run(
        ["git", "check-ignore", *names, "results/_bench/cpu_fp32.json"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    assert ignored == names


# -- 6 and 7. identities, bounds, plugins ---------------------------------------------------------------
@pytest.mark.parametrize(
    "args, needles",
    [
        (["--seeds", str(2**32)], ["--seeds", "4294967296"]),
        (["--seeds", "-1"], ["--seeds"]),
        (["--image-size", "100000"], ["--image-size", "2048"]),
        (["--methods", "em_apl", "--hparam", f"T_w={10**400}"], ["T_w", "expected an integer"]),
        (["--tune", "100000"], ["runs, more than the limit of 10,000", "--max-runs"]),
        (
            ["--methods", "em", "--hparam", "alpha=" + ",".join(str(i / 1e4) for i in range(1, 3500))],
            ["up to 10,497 runs", "10,000"],
        ),
    ],
)
def test_out_of_bounds_values_are_refused_before_planning(records: Path, args: list[str], needles: list[str]) -> None:
    before = hashes(records)
    assert_user_error(run_cli("run_all", [*args, "--results-dir", str(records), "--dry-run"], timeout=120), *needles)
    assert hashes(records) == before


def test_max_runs_raises_the_limit() -> None:
    grid = {"alpha": [i / 1e4 for i in range(1, 3500)]}
    with pytest.raises(ValueError, match="10,497 runs"):
        SweepConfig(methods=["em"], grid=grid)
    assert SweepConfig(methods=["em"], grid=grid, max_runs=20_000).size() == 10_497


def test_a_sweep_file_boolean_is_not_a_number(records: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text('datasets = ["digits"]\nmethods = ["an"]\n[overrides]\nepochs = true\n')
    assert_user_error(
        run_cli("run_all", ["--sweep", str(sweep), "--results-dir", str(records), "--dry-run"]),
        "overrides.epochs",
        "true",
        "expected a number",
    )


def test_a_whole_number_and_its_float_are_one_run() -> None:
    one = RunConfig(dataset="digits", method="em", hparams={"alpha": 1})
    assert one.hparams == {"alpha": 1.0}
    assert one.run_id() == RunConfig(dataset="digits", method="em", hparams={"alpha": 1.0}).run_id()


def test_every_committed_record_keeps_its_run_id() -> None:
    fields = set(RunConfig.model_fields)
    for path in (REPO / "results").glob("[!_]*/*.json"):
        record = json.loads(path.read_text())
        cfg = RunConfig(**{k: v for k, v in record["config"].items() if k in fields})
        assert cfg.run_id() == record["run_id"], path


def test_a_study_records_the_trials_it_ran() -> None:
    """Asked for more trials than any space holds, the records say how many ran (``an`` declares no
    space: trial 0 only; ``splc``'s space is finite)."""
    sweep = SweepConfig(methods=["an", "em"], seeds=[0], tuning=Tuning(trials=3))
    assert {run.study["trials"] for run in sweep.planned() if run.study} == {3}
    big = SweepConfig(methods=["an"], seeds=[0], tuning=Tuning(trials=500))
    assert {run.study["trials"] for run in big.planned() if run.study} == {1}


def test_a_broken_plugin_fails_alone(records: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for module, entry, source in [
        ("broken_import", "boom = broken_import", "import no_such_module_here\n"),
        ("not_a_method", "thing = not_a_method:X", "X = 1\n"),
    ]:
        (site / f"{module}.py").write_text(source)
        info = site / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[spml_bench.methods]\n{entry}\n")
    env = {"PYTHONPATH": f"{REPO}{os.pathsep}{site}"}
    listed = run_cli("run_all", ["--list"], env=env)
    assert listed.returncode == 0 and "  em " in listed.stdout, listed.stderr
    assert_no_traceback(listed)
    broken = [line for line in listed.stdout.splitlines() if "broken:" in line]
    assert len(broken) == 2 and any("broken_import" in b and "'boom = broken_import'" in b for b in broken), broken
    assert any("not_a_method" in b and "names no Method subclass" in b for b in broken), broken
    status = run_cli("run_all", ["--methods", "an", "--results-dir", str(records), "--status"], env=env)
    assert status.returncode == 0 and "ModuleNotFoundError" in status.stderr, status.stderr
    assert_no_traceback(status)
