"""What a sweep shows a person: on stderr one line per run start, epoch and run end (no progress
bar, no carriage return when stderr is a file, as in every SLURM log); on stdout a summary of the
sweep's cells and the leaderboard's path (the whole table only on request); each run's epochs as a
CSV beside its record while it runs (a resumed run appends without repeating an epoch); TensorBoard
events on request, and a one-line error when TensorBoard is not installed."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import run_all
from benchmark.records import epochs_csv_path, read_record
from benchmark.run import epochlog, train
from benchmark.spec.config import RunConfig
from benchmark.sweep import launch
from benchmark.sweep.launch import Progress, run_and_record
from benchmark.sweep.plan import Job
from tests.clirun import COMMANDS, REPO

FAST = ["--epochs", "2", "--batch-size", "256", "--patience", "0"]


def _cfg(data_root: Path, **kw: Any) -> RunConfig:
    base = {
        "dataset": "digits",
        "method": "an",
        "seed": 0,
        "epochs": 2,
        "batch_size": 256,
        "patience": 0,
        "data_root": str(data_root),
    }
    return RunConfig(**{**base, **kw})


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def logged_sweep(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict[str, Any]:
    """Two runs through ``spml-bench run`` with stderr redirected to a file, as under SLURM."""
    folder = tmp_path_factory.mktemp("sweep")
    err_path = folder / "slurm-123.err"
    with open(err_path, "w") as err:
        proc = subprocess.run(
            [
                *COMMANDS["spml-bench"],
                "run",
                "--methods",
                "an",
                "em",
                "--seeds",
                "0",
                *FAST,
                "--results-dir",
                "results",
            ],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0", "SPML_DATA": str(data_root)},
            timeout=600,
        )
    return {"proc": proc, "folder": folder, "err": err_path.read_text(), "stdout": proc.stdout}


def test_a_log_file_gets_one_line_per_run_start_epoch_and_end(logged_sweep: dict[str, Any]) -> None:
    proc, err = logged_sweep["proc"], logged_sweep["err"]
    assert proc.returncode == 0, err[-3000:]
    assert "\r" not in err and "\x1b" not in err  # no progress bar, no terminal control
    for label in ("digits/an/1p/seed0/data0", "digits/em/1p/seed0/data0"):
        lines = [line for line in err.splitlines() if line.startswith(f"[{label}] ")]
        kinds = [re.sub(r"^\[[^]]+\] (\w+).*", r"\1", line) for line in lines]
        assert kinds == ["started", "epoch", "epoch", "done"], lines
        assert re.fullmatch(rf"\[{label}\] done: test mAP \d+\.\d\d in \d+\.\ds \([12]/2 ended\)", lines[-1])
    # every line names its run, except the sweep's own first and last
    unlabelled = [line for line in err.splitlines() if line and not line.startswith("[digits/")]
    assert len(unlabelled) == 2 and unlabelled[0].startswith("2 runs to do") and "sweep finished" in unlabelled[1]


def test_stdout_ends_with_a_summary_of_the_sweep_and_the_leaderboard_path(logged_sweep: dict[str, Any]) -> None:
    out, folder = logged_sweep["stdout"], logged_sweep["folder"]
    lines = out.strip().splitlines()
    assert len(lines) <= 24, out  # a screen
    assert lines[-1] == "full leaderboard: results/_leaderboard/README.md"
    assert (folder / "results" / "_leaderboard" / "README.md").is_file()
    body = "\n".join(lines[:-1])
    for method in ("an", "em"):
        assert re.search(rf"\b{method}\b.*\b1p\b.*\d+\.\d\d", body), body
    assert "## " not in out  # the leaderboard's markdown is not printed


def test_the_whole_leaderboard_only_on_request(
    logged_sweep: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    results = logged_sweep["folder"] / "results"
    argv = ["--methods", "an", "em", "--seeds", "0", *FAST, "--results-dir", str(results)]
    assert run_all.main([*argv, "--print-leaderboard"]) == 0  # every run done: nothing reruns
    out = capsys.readouterr().out
    assert out.count("\n") > 24 and "| an " in out and "full leaderboard:" not in out


def test_epochs_are_logged_as_csv_beside_the_record_with_the_records_numbers(logged_sweep: dict[str, Any]) -> None:
    record_paths = sorted((logged_sweep["folder"] / "results" / "digits").glob("*.json"))
    assert len(record_paths) == 2  # an and em at seed 0: the loop below checks both runs' CSVs
    for record_path in record_paths:
        record = read_record(record_path)
        rows = _csv_rows(epochs_csv_path(record_path))
        assert list(rows[0]) == list(epochlog.COLUMNS)
        assert len(rows) == record["epochs_run"] == len(record["history"])
        for row, entry in zip(rows, record["history"]):
            for key in epochlog.COLUMNS:  # str(float) round-trips: the CSV holds the record's numbers exactly
                assert float(row[key]) == entry[key], key
        assert float(rows[0]["lr"]) == record["config"]["lr"]


def test_a_resumed_run_appends_its_epochs_without_repeating_one(tmp_path: Path, data_root: Path) -> None:
    """The run dies after epoch 2's CSV row is written but before epoch 2's checkpoint (the
    observers run first); started again, it resumes after epoch 1 and replays epoch 2."""
    cfg = _cfg(data_root, epochs=3)
    job = Job(cfg, tmp_path / "results")
    csv_path = epochs_csv_path(job.record_path)

    def die_at_epoch_2(entry: dict[str, Any]) -> None:
        if entry["epoch"] == 2:
            raise RuntimeError("killed")

    failed = train.run(cfg, job.results_dir, observers=[epochlog.EpochCSV(csv_path), die_at_epoch_2])
    assert failed["status"] == "failed" and train.checkpoint_path(job.results_dir, cfg).exists()
    assert [r["epoch"] for r in _csv_rows(csv_path)] == ["1", "2"]

    record = run_and_record(cfg, job.results_dir)
    assert record["status"] == "done" and read_record(job.record_path) == record
    rows = _csv_rows(csv_path)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [float(r["val_map"]) for r in rows] == [h["val_map"] for h in record["history"]]


@pytest.mark.parametrize(
    "existing,epoch,kept",
    [
        ("", 1, []),  # an empty file (died before the header)
        ("epoch,train_loss\n", 1, []),
        ("epoch,train_loss\n1,0.5\n2,0.4\n", 3, ["1", "2"]),  # the usual append
        ("epoch,train_loss\n1,0.5\n2,0.4\n3,0.3\n", 2, ["1"]),  # a replayed epoch
        ("epoch,train_loss\n1,0.5\n2,0.4\n", 1, []),  # the same config run afresh
        ("epoch,train_loss\n1,0.5\n2,0.", 2, ["1"]),  # a torn last line
    ],
)
def test_the_csv_drops_replayed_epochs(tmp_path: Path, existing: str, epoch: int, kept: list[str]) -> None:
    path = tmp_path / "r.epochs.csv"
    path.write_text(existing)
    epochlog.EpochCSV(path)({"epoch": epoch, "train_loss": 0.25})
    rows = _csv_rows(path)
    assert [r["epoch"] for r in rows] == [*kept, str(epoch)]
    assert list(rows[0]) == list(epochlog.COLUMNS) and rows[-1]["train_loss"] == "0.25"


# -- the progress display -------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


SUMMARY = {"label": "digits/an/1p/seed0", "status": "done", "test_map": 71.234, "error": None, "path": "x"}


def test_a_terminal_gets_a_progress_bar_and_a_file_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    for stream, bar in ((_Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        progress = Progress(2, verbose=True)
        progress.started("digits/an/1p/seed0")
        progress.write("[digits/an/1p/seed0] epoch 1: ...")
        progress.finished(SUMMARY, 1.25)
        progress.close()
        text = stream.getvalue()
        assert (progress.bar is not None) is bar
        assert ("\r" in text) is bar, text
        assert "[digits/an/1p/seed0] started (run 1 of 2)" in text
        assert "[digits/an/1p/seed0] done: test mAP 71.23 in 1.2s (1/2 ended)" in text


def test_quiet_shows_only_runs_that_did_not_end_done(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    progress = Progress(3, verbose=False)
    for summary in (
        SUMMARY,
        {**SUMMARY, "status": "failed", "error": "loss is nan"},
        {**SUMMARY, "status": "diverged", "error": None, "reason": "constant predictions"},
    ):
        progress.started(summary["label"])
        progress.finished(summary)
    assert stream.getvalue().splitlines() == [
        "[digits/an/1p/seed0] FAILED: loss is nan (2/3 ended)",
        "[digits/an/1p/seed0] DIVERGED: constant predictions (3/3 ended)",
    ]


def test_a_job_log_says_when_its_run_starts_and_ends(tmp_path: Path, data_root: Path) -> None:
    """Under SLURM or the local executor a run's lines go to its job's own log (``run_job``)."""
    lines: list[str] = []
    launch.run_job(Job(_cfg(data_root, epochs=1), tmp_path), log=lines.append)
    assert [line.split()[1] for line in lines] == ["started", "epoch", "done:"]


# -- TensorBoard ----------------------------------------------------------------------------------
def test_tensorboard_asked_for_but_not_installed_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(epochlog, "tensorboard_installed", lambda: False)
    assert (
        run_all.main(
            [
                "--methods",
                "an",
                "--seeds",
                "0",
                "--results-dir",
                str(tmp_path / "r"),
                "--tensorboard",
                str(tmp_path / "tb"),
            ]
        )
        == 2
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "--tensorboard needs the tensorboard package" in err[0]
    assert 'pip install "spml-bench[tensorboard]"' in err[0]
    assert not (tmp_path / "r").exists() and not (tmp_path / "tb").exists()


def test_tensorboard_logs_the_same_scalars(tmp_path: Path, data_root: Path) -> None:
    pytest.importorskip("tensorboard", reason="the optional extra: pip install '.[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg(data_root)
    record = run_and_record(cfg, tmp_path / "results", tensorboard_dir=tmp_path / "tb")
    job = Job(cfg, tmp_path / "results")
    acc = EventAccumulator(str(epochlog.tensorboard_run_dir(tmp_path / "tb", job.record_path)))
    acc.Reload()
    for tag, key in epochlog.SCALARS.items():
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [h["epoch"] for h in record["history"]]
        assert [e.value for e in events] == pytest.approx([h[key] for h in record["history"]], rel=1e-6)


# -- labels, hints and the figures' legibility ------------------------------------------------------
def test_every_log_label_names_the_runs_variant(data_root: Path) -> None:
    """A grid's two runs never print the same label: the variant (hyper-parameters off the default) is in it."""
    default = _cfg(data_root, method="em")
    grid = [_cfg(data_root, method="em", hparams={"alpha": a}) for a in (0.3, 0.5)]
    assert default.label() == "digits/em/1p/seed0"
    assert [c.label() for c in grid] == ["digits/em (alpha=0.3)/1p/seed0", "digits/em (alpha=0.5)/1p/seed0"]
    line = launch.end_line({"label": grid[0].label(), "status": "done", "test_map": 80.0})
    assert line.startswith("[digits/em (alpha=0.3)/1p/seed0] done")


def test_an_inline_sweep_suggests_the_local_executor_with_the_measured_speedup(data_root: Path) -> None:
    jobs = [Job(_cfg(data_root, seed=s, device="cpu"), Path("r")) for s in range(4)]
    tip = launch.local_suggestion(jobs, cpus=2)
    assert tip is not None and "--executor local" in tip and "x faster" in tip and "local_parallel_cpu_" in tip
    assert launch.local_suggestion(jobs, cpus=1) is None, "one core: nothing to gain"
    assert launch.local_suggestion(jobs[:3], cpus=2) is None, "a few runs: not worth a line"


def test_outside_the_repository_a_sweep_without_records_says_where_the_shipped_ones_are(tmp_path: Path) -> None:
    from benchmark.core.provenance import CODE_ROOT
    from benchmark.spec.config import SweepConfig
    from benchmark.sweep.status import RunState, shipped_records_hint

    shipped = CODE_ROOT / "results"
    jobs = [Job(run.cfg, tmp_path / "results") for run in SweepConfig().planned()]
    if not any(Job(j.cfg, shipped).record_path.exists() for j in jobs):
        pytest.skip(f"no shipped records of the default sweep under {shipped}")
    hint = shipped_records_hint([RunState(j, "missing") for j in jobs], tmp_path / "results")
    assert hint is not None and str(shipped) in hint and f"--results-dir {shipped}" in hint
    assert "\n" not in hint
    assert (
        shipped_records_hint(
            [RunState(jobs[0], "done"), *[RunState(j, "missing") for j in jobs[1:]]], tmp_path / "results"
        )
        is None
    ), "a folder with records of its own needs no hint"
    assert shipped_records_hint([RunState(Job(j.cfg, shipped), "missing") for j in jobs], shipped) is None


def test_the_loss_figure_stays_legible_with_25_series() -> None:
    """Small multiples: at most PER_PANEL series a panel, no colour twice within a panel, AN in every
    panel, every row kept in the table's order."""
    from leaderboard.figures import PER_PANEL, panel_groups, panel_styles

    rows = [("an", "1p", ""), *[(f"m{i:02d}", "1p", "") for i in range(24)]]
    groups = panel_groups(rows)
    assert all(0 < len(g) <= PER_PANEL for g in groups) and len(groups) == 4
    assert [r for g in groups for r in g] == sorted(rows[1:]), "every series once, AN drawn as the reference"
    for g in groups:
        assert len({st["color"] for st in panel_styles(g).values()}) == len(g)


def test_the_committed_loss_figure_has_no_cut_text() -> None:
    """Drawn from the committed records: every text of the figure lies inside its canvas."""
    from leaderboard import figures
    from leaderboard.records import read_records

    records = read_records(REPO / "results")
    spec = next(s for s in figures.plan(records) if s.kind == "loss" and s.dataset == "digits")
    fig = figures.DRAW["loss"](records, spec)
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # why: the figure module draws headless too

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    drawn = fig.get_tightbbox(canvas.get_renderer())  # every drawn artist, in inches
    width, height = fig.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, (
        f"text outside the canvas: {drawn} vs {width}x{height} in"
    )
