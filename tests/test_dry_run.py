"""``--dry-run``: the plan and the bill (GPU-hours, wall-clock) from the measured figures, with
nothing submitted or written; and the cost model's arithmetic, checked by hand."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from benchmark.bench.cost import table_configs
from benchmark.core.cli import DEFAULT_SEEDS
from benchmark.spec.config import RunConfig
from benchmark.sweep.cost import DATASETS, NoEstimate, Settings, estimate_jobs, load_figures, run_images
from leaderboard.table import PAPER_ORDER
from tests.clirun import assert_no_traceback, run_cli

GPU_SETTINGS = {"backbone": "resnet50", "image_size": 448, "amp": "bf16", "channels_last": True, "compile": False}


def _figure(folder: Path, name: str, batch: int, train: float, evaluate: float, **packed: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    settings = {**GPU_SETTINGS, "batch_size": batch}
    if packed:
        data = {
            "kind": "packing",
            "device": "cuda",
            "device_name": "Test GPU",
            "settings": settings,
            "train_images_per_s": {"1": train, **{k.replace("_", "+").lstrip("k"): v for k, v in packed.items()}},
            "eval_images_per_s": evaluate,
        }
    else:
        data = {
            "device": "cuda",
            "device_name": "Test GPU",
            "settings": settings,
            "ours_train_images_per_s": train,
            "ours_eval_images_per_s": evaluate,
        }
    (folder / name).write_text(json.dumps(data))


def _voc(seed: int, epochs: int = 2, method: str = "an") -> RunConfig:
    return RunConfig(dataset="voc", method=method, seed=seed, epochs=epochs, amp="bf16", channels_last=True)


# -- the arithmetic ---------------------------------------------------------------------------------
def test_one_run_per_gpu_costs_its_images_over_the_measured_rates(tmp_path: Path) -> None:
    _figure(tmp_path, "b8.json", 8, train=100.0, evaluate=400.0)
    figures, problems = load_figures([tmp_path])
    assert problems == [] and len(figures) == 1
    pool, test = DATASETS["voc"]
    trained, evaluated = 2 * 0.8 * pool, 2 * (0.2 * pool + test) + 0.8 * pool  # 2 epochs, then the analyses' pass
    assert run_images("voc", "an", epochs=2) == pytest.approx((trained, evaluated))
    one = trained / 100 + evaluated / 400
    e = estimate_jobs([[_voc(0)], [_voc(1)], [_voc(2)]], figures, concurrent_jobs=2)
    assert e.gpu_hours == pytest.approx(3 * one / 3600)
    assert e.wall_hours == pytest.approx(2 * one / 3600)  # 3 equal jobs on 2 GPUs
    assert e.gpus == 2 and e.bound and e.device_name == "Test GPU"


def test_a_pack_trains_at_the_measured_aggregate_and_evaluates_one_after_the_other(tmp_path: Path) -> None:
    _figure(tmp_path, "pack.json", 8, train=100.0, evaluate=400.0, k2=150.0, k4=200.0, k4_mps=240.0)
    figures, _ = load_figures([tmp_path])
    trained, evaluated = run_images("voc", "an", epochs=2)
    pack = [[_voc(s) for s in range(4)]]
    plain = estimate_jobs(pack, figures, runs_per_gpu=4)
    assert plain.gpu_hours == pytest.approx((4 * trained / 100 / (200 / 100) + 4 * evaluated / 400) / 3600)
    mps = estimate_jobs(pack, figures, runs_per_gpu=4, mps=True)
    assert mps.gpu_hours == pytest.approx((4 * trained / 100 / (240 / 100) + 4 * evaluated / 400) / 3600)
    # 3 runs per GPU: the largest measured pack up to 3 (2 runs), a conservative speed-up
    three = estimate_jobs([[_voc(s) for s in range(3)]], figures, runs_per_gpu=3)
    assert three.gpu_hours == pytest.approx((3 * trained / 100 / 1.5 + 3 * evaluated / 400) / 3600)
    assert any("1.50x" in line for line in three.packing)


def test_without_a_packed_figure_packing_is_assumed_to_gain_nothing(tmp_path: Path) -> None:
    _figure(tmp_path, "b8.json", 8, train=100.0, evaluate=400.0)
    figures, _ = load_figures([tmp_path])
    trained, evaluated = run_images("voc", "an", epochs=2)
    e = estimate_jobs([[_voc(0), _voc(1)]], figures, runs_per_gpu=2)
    assert e.gpu_hours == pytest.approx(2 * (trained / 100 + evaluated / 400) / 3600)
    assert "not measured" in e.packing[0]


def test_figures_are_chosen_to_bound_the_cost_from_above(tmp_path: Path) -> None:
    _figure(tmp_path, "b4.json", 4, train=50.0, evaluate=400.0)
    _figure(tmp_path, "b64.json", 64, train=900.0, evaluate=300.0)
    figures, _ = load_figures([tmp_path])
    e = estimate_jobs([[_voc(0)]], figures)  # batch 8: the batch-4 figure (slower), the lowest eval rate
    trained, evaluated = run_images("voc", "an", epochs=2)
    assert e.gpu_hours == pytest.approx((trained / 50 + evaluated / 300) / 3600) and e.bound
    fp32 = RunConfig(dataset="voc", method="an", seed=0, epochs=2)  # amp off: measured only in bf16
    e = estimate_jobs([[fp32]], figures)
    assert not e.bound and any("no bound" in c for c in e.caveats)
    only_big = [f for f in figures if f.batch_size == 64]
    e = estimate_jobs([[_voc(0)]], only_big)
    assert not e.bound and any("larger batches" in c for c in e.caveats)


def test_runs_without_a_fitting_figure_get_no_estimate(tmp_path: Path) -> None:
    _figure(tmp_path, "b8.json", 8, train=100.0, evaluate=400.0)
    figures, _ = load_figures([tmp_path])
    with pytest.raises(NoEstimate, match="resnet18 at 448"):
        estimate_jobs([[RunConfig(dataset="voc", method="an", backbone="resnet18")]], figures)
    with pytest.raises(NoEstimate, match="nominal size"):
        estimate_jobs([[RunConfig(dataset="digits", method="an", backbone="resnet50", image_size=448)]], figures)


def test_a_broken_figure_file_is_named_and_skipped(tmp_path: Path) -> None:
    _figure(tmp_path, "good.json", 8, train=100.0, evaluate=400.0)
    (tmp_path / "bad.json").write_text('{"settings": {"batch_size": 8}, "device": "cuda"}')
    (tmp_path / "torn.json").write_text('{"sett')
    (tmp_path / "other.json").write_text("[1, 2]")  # another kind of bench output: not a figure, not a problem
    figures, problems = load_figures([tmp_path])
    assert len(figures) == 1
    assert len(problems) == 2 and any("bad.json" in p for p in problems) and any("torn.json" in p for p in problems)


def test_the_repository_figures_price_the_whole_table() -> None:
    """The committed figures cover the table's four datasets at the protocol's batches."""
    import methods

    cfgs = table_configs()
    rows = sum(len(methods.get(key).regimes) for key in methods.available())
    assert len(cfgs) == rows * len(DATASETS) * len(DEFAULT_SEEDS)
    figures, problems = load_figures([Path(__file__).resolve().parent.parent / "results" / "_bench"])
    assert problems == []
    e = estimate_jobs([[c] for c in cfgs], figures)
    assert e.bound and 10 < e.gpu_hours < 1000
    assert set(e.gpu_hours_by_dataset) == set(DATASETS)
    assert Settings.of(cfgs[0]).backbone == "resnet50"


# -- the command ------------------------------------------------------------------------------------
def test_dry_run_prints_the_plan_and_the_bill_and_touches_nothing(tmp_path: Path) -> None:
    results, data = tmp_path / "results", tmp_path / "data"
    # no SLURM client on PATH: a dry run needs none
    env = {"PATH": os.path.dirname(sys.executable)}
    proc = run_cli(
        "run_all",
        [
            "--datasets",
            "voc",
            "coco",
            "--methods",
            *PAPER_ORDER,
            "--executor",
            "slurm",
            "--gpus",
            "1",
            "--runs-per-gpu",
            "4",
            "--mps",
            "--max-parallel",
            "8",
            "--amp",
            "bf16",
            "--channels-last",
            "--dry-run",
            "--results-dir",
            str(results),
            "--data-root",
            str(data),
        ],
        env=env,
    )
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "nothing submitted" in out and "90 runs to do" in out
    assert "24 array task(s)" in out and "4 run(s) per task under CUDA MPS" in out and "8 task(s) at once" in out
    assert "GPU-hours" in out and "wall-clock on 8 GPU(s)" in out and "upper bound" in out
    assert "h200_pack_b8_issue15.json" in out and "batch 8" in out and "batch 16" in out
    assert "without packing" in out
    assert "'voc' is not prepared" in out and "'coco' is not prepared" in out
    assert "the submission would be refused until these are fixed:" in out
    assert "the nodes must see at these same paths" in out
    assert not results.exists() and not data.exists(), "a dry run writes nothing"


def test_dry_run_of_cpu_runs_says_there_is_no_gpu_estimate(tmp_path: Path) -> None:
    proc = run_cli(
        "run_all",
        ["--methods", "an", "--seeds", "0", "--dry-run", "--device", "cpu", "--results-dir", str(tmp_path / "results")],
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 runs to do" in proc.stdout and "estimate: none" in proc.stdout
    assert not (tmp_path / "results").exists()


def test_dry_run_reads_the_results_folders_own_figures_first(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _figure(results / "_bench", "mine.json", 8, train=100.0, evaluate=400.0)
    proc = run_cli(
        "run_all",
        [
            "--datasets",
            "voc",
            "--methods",
            "an",
            "--seeds",
            "0",
            "--executor",
            "slurm",
            "--gpus",
            "1",
            "--amp",
            "bf16",
            "--channels-last",
            "--epochs",
            "10",
            "--dry-run",
            "--results-dir",
            str(results),
            "--data-root",
            str(tmp_path / "data"),
        ],
        env={"PATH": os.path.dirname(sys.executable)},
    )
    assert proc.returncode == 0, proc.stderr
    trained, evaluated = run_images("voc", "an", epochs=10)
    hours = (trained / 100 + evaluated / 400) / 3600
    assert f"{hours:.2f} GPU-hours" in proc.stdout and "mine.json (Test GPU, batch 8)" in proc.stdout
    assert sorted(p.name for p in results.iterdir()) == ["_bench"]


def test_gpus_price_gpu_runs_from_a_machine_without_one(tmp_path: Path) -> None:
    """``--gpus 1`` is a bill for GPU runs whatever the executor and this machine; the CPU case says how to get one."""
    for executor in ("inline", "local"):
        proc = run_cli(
            "run_all",
            [
                "--datasets",
                "voc",
                "--methods",
                "an",
                "--seeds",
                "0",
                "--executor",
                executor,
                "--gpus",
                "1",
                "--amp",
                "bf16",
                "--channels-last",
                "--dry-run",
                "--results-dir",
                str(tmp_path / "results"),
                "--data-root",
                str(tmp_path / "data"),
            ],
        )
        assert proc.returncode == 0, proc.stderr
        assert "GPU-hours" in proc.stdout and "estimate: none" not in proc.stdout, proc.stdout
        assert "measured figures from" in proc.stdout and ".json (NVIDIA" in proc.stdout
        assert "the sweep would be refused" in proc.stdout and "'voc' is not prepared" in proc.stdout
    cpu = run_cli(
        "run_all",
        [
            "--datasets",
            "voc",
            "--methods",
            "an",
            "--seeds",
            "0",
            "--device",
            "cpu",
            "--dry-run",
            "--results-dir",
            str(tmp_path / "results"),
            "--data-root",
            str(tmp_path / "data"),
        ],
    )
    assert "estimate: none" in cpu.stdout and "add --gpus N (or --device cuda)" in cpu.stdout
    assert not (tmp_path / "results").exists()


def test_a_slurm_dry_run_names_what_the_submission_would_refuse_and_what_the_nodes_run(tmp_path: Path) -> None:
    """The submission's own checks (``checks.submission_problems``): unprepared data and weights an
    offline node could not load (an empty weights cache here); and the jobs' environment and shared paths."""
    env = {
        "PATH": os.path.dirname(sys.executable),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
    }
    argv = [
        "--datasets",
        "voc",
        "--methods",
        "an",
        "--seeds",
        "0",
        "--executor",
        "slurm",
        "--gpus",
        "1",
        "--amp",
        "bf16",
        "--channels-last",
        "--slurm-setup",
        "source /shared/env/bin/activate",
        "--dry-run",
        "--results-dir",
        str(tmp_path / "results"),
        "--data-root",
        str(tmp_path / "data"),
    ]
    proc = run_cli("run_all", argv, env=env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "the submission would be refused until these are fixed:" in out
    assert "'voc' is not prepared" in out and "pretrained weights of 'resnet50.tv_in1k'" in out
    assert "each job runs python after: source /shared/env/bin/activate" in out
    assert f"results {(tmp_path / 'results').resolve()}" in out and f"data {(tmp_path / 'data').resolve()}" in out


def test_the_docs_recipe_is_one_command_priced_by_its_dry_run() -> None:
    """docs/cluster.md: the dry run is the submission plus --dry-run (same resources and precision),
    the environment on the nodes is a flag, and no interpreter path is hard-coded for the nodes."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "cluster.md").read_text()
    recipe = text[text.index("## The recipe") : text.index("## Executors")]
    lines = [line.split("  #")[0].strip() for line in recipe.splitlines() if line.startswith("spml-bench run")]
    dry, submit = lines[0], lines[1]
    assert dry == f"{submit} --dry-run", (dry, submit)
    for flag in ("--gpus 1", "--runs-per-gpu 4", "--mps", "--amp bf16", "--channels-last", "--slurm-setup"):
        assert flag in submit
    assert "shared" in recipe and "--slurm-python" in recipe
    for path in (root / "scripts" / "slurm").iterdir():
        assert "/work/venv" not in path.read_text(), path
