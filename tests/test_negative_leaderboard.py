"""``python -m leaderboard`` as a user (or a hostile folder) meets it, through the real command line:
every user error exits 2 with one line on stderr and no traceback, nothing is created where it should
not be, bad record files are named and skipped, no record is changed, Ctrl-C exits 130."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.records.identity import config_run_id, record_name
from tests.clirun import REPO, assert_no_traceback, assert_user_error, default_sigint, run_cli

FIXTURES = REPO / "tests" / "data" / "records"
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
not_as_root = pytest.mark.skipif(ROOT, reason="permissions do not bind root: an unreadable folder is readable to it")


def _digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` except the leaderboard's own output folder, by content."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "_leaderboard"
    }


#: the fixture files that are not valid records, and the cell mixing two precisions
NOT_RECORDS = ("notes.json", "runs_list.json", "*emptyfile*", "*truncated*", "*nonfinite*", "dw__*")


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """The fixture records, bad files included."""
    dst = tmp_path / "results"
    shutil.copytree(FIXTURES, dst)
    return dst


@pytest.fixture()
def clean(tmp_path: Path) -> Path:
    """The fixture records without their bad files: the command prints nothing but its answer."""
    dst = tmp_path / "clean"
    shutil.copytree(FIXTURES, dst, ignore=shutil.ignore_patterns(*NOT_RECORDS))
    return dst


# -- paths -----------------------------------------------------------------------------------------
def test_missing_results_dir_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    assert_user_error(run_cli("leaderboard", ["--results-dir", str(missing)]), str(missing), "does not exist")
    assert not missing.exists()


def test_default_results_dir_in_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    """From a folder without results/ (a fresh install): says so, creates nothing."""
    assert_user_error(run_cli("leaderboard", [], cwd=tmp_path), "results", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_results_dir_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "results"
    f.write_text("not a folder")
    assert_user_error(run_cli("leaderboard", ["--results-dir", str(f)]), str(f), "is a file, expected a folder")


@not_as_root
def test_unreadable_results_dir(results: Path) -> None:
    results.chmod(0)
    try:
        assert_user_error(run_cli("leaderboard", ["--results-dir", str(results)]), "cannot be read")
    finally:
        results.chmod(0o755)


@pytest.mark.parametrize("fmt", ["markdown", "csv", "runs"])
def test_out_into_a_missing_folder(clean: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "missing" / "board.out"
    assert_user_error(
        run_cli("leaderboard", ["--results-dir", str(clean), "--format", fmt, "--out", str(out)]),
        str(out.parent),
        "does not exist",
    )
    assert not out.parent.exists() and not (clean / "_leaderboard").exists()


def test_out_that_is_a_folder(clean: Path, tmp_path: Path) -> None:
    assert_user_error(
        run_cli("leaderboard", ["--results-dir", str(clean), "--format", "csv", "--out", str(tmp_path)]),
        str(tmp_path),
        "is a folder",
    )


@not_as_root
def test_out_into_an_unwritable_folder(clean: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for fmt in ("markdown", "json"):
            assert_user_error(
                run_cli("leaderboard", ["--results-dir", str(clean), "--format", fmt, "--out", str(locked / "x")]),
                "is not writable",
            )
    finally:
        locked.chmod(0o755)


# -- no records ------------------------------------------------------------------------------------
def test_folder_without_records(tmp_path: Path) -> None:
    empty = tmp_path / "results"
    empty.mkdir()
    for args in ([], ["--format", "csv"], ["--power"], ["--format", "runs"]):
        assert_user_error(run_cli("leaderboard", ["--results-dir", str(empty), *args]), str(empty), "no run records")
    assert list(empty.iterdir()) == []


def test_folder_with_only_invalid_files(tmp_path: Path) -> None:
    root = tmp_path / "results"
    root.mkdir()
    (root / "notes.json").write_text('{"todo": 1}')
    proc = run_cli("leaderboard", ["--results-dir", str(root)])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "warning:" in lines[0] and "notes.json" in lines[0]
    assert "no run records" in lines[1] and "1 invalid file, named above" in lines[1]


# -- bad arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, needle",
    [
        (["--format", "xlsx"], "invalid choice: 'xlsx'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--power", "--delta", "0"], "--delta is 0.0"),
        (["--power", "--delta", "nan"], "--delta is nan"),
        (["--delta", "one"], "invalid float value: 'one'"),
        (["--class", "no_such_class"], "no dataset"),
    ],
)
def test_bad_arguments(clean: Path, args: list[str], needle: str) -> None:
    assert_user_error(run_cli("leaderboard", ["--results-dir", str(clean), *args]), needle)


def test_power_needs_cells_with_two_runs(tmp_path: Path) -> None:
    root = tmp_path / "results"
    (root / "voc").mkdir(parents=True)
    shutil.copy(FIXTURES / "voc" / "ll_r__1p__seed0__3917780a32791314.json", root / "voc")
    assert_user_error(run_cli("leaderboard", ["--results-dir", str(root), "--power"]), "two runs or more")


# -- bad records: named, skipped, nothing changed -------------------------------------------------
def test_bad_records_are_named_once_each_and_the_rest_is_built(results: Path) -> None:
    before = _digest(results)
    proc = run_cli("leaderboard", ["--results-dir", str(results)])
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    warnings = [line for line in proc.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 6  # 5 files, 1 cell
    for name in (
        "notes.json",
        "runs_list.json",
        "0043emptyfile0.json",
        "0042truncated0.json",
        "0044nonfinite0.json",
        "cell finetune/1p/dw/voc",
    ):
        assert sum(name in w for w in warnings) == 1, name
    page = (results / "_leaderboard" / "README.md").read_text()
    assert "## Records left out (5 files, 1 cell)" in page and "| em       | 1p" in page
    assert _digest(results) == before  # no record lost or changed


def test_strict_refuses_bad_records(results: Path) -> None:
    proc = run_cli("leaderboard", ["--results-dir", str(results), "--format", "csv", "--strict"])
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("python -m leaderboard: error: --strict: 6 ")


def test_a_record_that_breaks_every_figure_assumption_still_builds(results: Path) -> None:
    """Valid but odd: no analysis, no history, no per-class AP, an unknown protocol and dataset."""
    rec = json.loads((FIXTURES / "voc" / "an__1p__seed0__87500ce6e29d9442.json").read_text())
    for k in ("analysis", "history", "per_class_ap", "thresholds"):
        rec.pop(k)
    rec.update(protocol="prompt", dataset="mystery")
    rec["config"].update(protocol="prompt", dataset="mystery")
    rec["run_id"] = config_run_id(rec["config"])  # as the harness would name it: else it is not a record
    (results / "mystery").mkdir()
    (results / "mystery" / record_name(rec)).write_text(json.dumps(rec))
    proc = run_cli("leaderboard", ["--results-dir", str(results)])
    assert proc.returncode == 0, proc.stderr
    assert "## Test mAP — prompt" in (results / "_leaderboard" / "README.md").read_text()


# -- the other entry point, pipes, Ctrl-C ----------------------------------------------------------
def test_spml_bench_leaderboard_answers_the_same(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    code = "import sys; from benchmark.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "leaderboard", "--results-dir", str(missing)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_user_error(proc, "does not exist")


def test_a_closed_pipe_is_not_an_error(results: Path) -> None:
    cmd = f"{sys.executable} -m leaderboard --results-dir {results} --format runs | head -c 10"
    proc = subprocess.run(
        cmd,
        shell=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    """SIGINT once the command is inside its own code (numpy loaded: its imports run inside main)."""
    root = tmp_path / "results"
    for i in range(60):  # enough cells that the build outlasts the signal
        for path in (FIXTURES / "voc").glob("[aeb]*__1p__seed[018]__*.json"):
            rec = json.loads(path.read_text())
            rec["dataset"] = f"set{i}"
            (root / f"set{i}").mkdir(parents=True, exist_ok=True)
            (root / f"set{i}" / path.name).write_text(json.dumps(rec))
    proc = subprocess.Popen(
        [sys.executable, "-m", "leaderboard", "--results-dir", str(root)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "numpy" in maps.read_text():
                break
        except OSError:
            pass
        time.sleep(0.01)
    else:
        if not maps.parent.exists():
            pytest.skip("no /proc here to see when the command has started")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().splitlines() == ["python -m leaderboard: interrupted"], err
    assert "Traceback" not in err
