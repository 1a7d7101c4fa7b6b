"""The end-of-sweep summary (contract 5): the cells a sweep touched, on one screen, with the
published figure and Δ where there is one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmark.records.identity import config_run_id, record_name
from leaderboard.records import read_records
from leaderboard.summary import sweep_summary
from leaderboard.table import PAPER_ORDER, SINCE_PAPER, main_cells

FIXTURES = Path(__file__).resolve().parent / "data" / "records"
TEMPLATE = FIXTURES / "voc" / "an__1p__seed0__87500ce6e29d9442.json"


def _ids(pattern: str) -> list[str]:
    return [json.loads(p.read_text())["run_id"] for p in FIXTURES.glob(pattern)]


def test_only_the_cells_the_sweep_touched() -> None:
    text = sweep_summary(FIXTURES, _ids("voc/an__1p__seed[018]__*.json") + _ids("digits/asl__*.json"))
    lines = text.splitlines()
    assert lines[0] == "this sweep: 6 runs — 5 done, 1 diverged"
    rows = [line.split()[0] for line in lines if line and line.split()[0] in {"an", "asl", "em", "bce", "epr"}]
    assert rows == ["an", "asl"]
    an = next(line for line in lines if line.startswith("an "))
    # the whole cell (every seed in the folder), its published figure and the difference; no star: alone
    # in its column among the rows shown, it is compared with nothing
    assert " 86.17 ± 1.26 (3)  pub 85.89 Δ +0.28" in an and "*86.17" not in an
    asl = next(line for line in lines if line.startswith("asl "))
    assert " 62.75 ± 0.35 (2) +1 diverged" in asl


def test_the_star_is_the_pages_best_set_among_the_rows_shown() -> None:
    """One function for both: over every row, the star marks the page's bold cells; over a few rows,
    the best set of those rows."""
    records = read_records(FIXTURES)
    cells = main_cells(records)
    voc = cells[(cells["dataset"] == "voc") & (cells["variant"] == "") & (cells["labels"] == "1p")]
    text = sweep_summary(FIXTURES, records.frame["run_id"])
    for _, r in voc[voc["n"] >= 2].iterrows():
        line = next(x for x in text.splitlines() if x.startswith(f"{r['method']} ") and " 1p " in x)
        assert (f"*{r['mean']:.2f} ± {r['std']:.2f}" in line) == bool(r["bold"]), line
    assert voc["bold"].any() and not voc["bold"].all()
    # a sweep of em and zz_new on voc: em is the best set of these two rows (on the page an and epr join it)
    text = sweep_summary(FIXTURES, _ids("voc/em__1p__*.json") + _ids("voc/zz_new__1p__*.json"))
    assert "*86.27" in next(x for x in text.splitlines() if x.startswith("em "))
    assert "*" not in next(x for x in text.splitlines() if x.startswith("zz_new "))


def test_variants_trials_failures_and_left_out_cells_are_named() -> None:
    text = sweep_summary(FIXTURES, read_records(FIXTURES).frame["run_id"])
    assert "em (alpha=0.3)" in text and "left out ⚠" in text and "— (1 failed)" in text
    assert "6 of them tuning trials" in text
    assert "tune/finetune/digits/1p em: trial 2 (alpha=0.5): 61.25 (2) vs 63.50 [3/4 trials eligible]" in text
    assert "alpha=0.5 " not in text.split("tuned (chosen")[0]  # a trial is not a row of the defaults' table


def test_nothing_of_this_sweep_and_a_missing_folder_do_not_raise(tmp_path: Path) -> None:
    assert sweep_summary(FIXTURES, ["no-such-run"]).startswith("no record of this sweep's runs")
    assert sweep_summary(tmp_path / "missing", ["x"]).startswith("no record of this sweep's runs")


def test_a_full_sweep_of_every_row_on_four_datasets_fits_a_screen(tmp_path: Path) -> None:
    """23 methods × 4 real datasets × 3 seeds: at most 60 lines of at most 160 characters."""
    base = json.loads(TEMPLATE.read_text())
    ids = []
    for dataset in ("voc", "coco", "nuswide", "cub"):
        (tmp_path / dataset).mkdir()
        for i, method in enumerate([*PAPER_ORDER, *SINCE_PAPER, "my_plugin"]):
            labels = "full" if method == "bce" else "1p"
            for seed in (0, 1, 8):
                config = {**base["config"], "dataset": dataset, "method": method, "labels": labels, "seed": seed}
                rid = config_run_id(config)
                test_map = 50.0 + i + 0.1 * seed
                rec = {
                    **base,
                    "dataset": dataset,
                    "method": method,
                    "labels": labels,
                    "seed": seed,
                    "run_id": rid,
                    "test_map": test_map,
                    "per_class_ap": {c: test_map for c in base["per_class_ap"]},
                    "config": config,
                }
                (tmp_path / dataset / record_name(rec)).write_text(json.dumps(rec))
                ids.append(rid)
    text = sweep_summary(tmp_path, ids)
    lines = text.splitlines()
    assert len(lines) <= 60 and max(len(line) for line in lines) <= 160, (len(lines), max(len(line) for line in lines))
    assert sum(line.startswith("gr_loss ") for line in lines) == 2  # the datasets in two tables side by side
    assert "pub 73.17‡ Δ" in text  # gr_loss on COCO, a later paper's single number
    an = [line for line in lines if line.startswith("an ")]
    assert (
        "51.30 ± 0.44 (3)  pub 85.89 Δ -34.59 ⚠" in an[0] and "pub 64.92 Δ -13.62 ⚠" in an[0]
    )  # voc, coco: first table


def test_bad_files_elsewhere_in_the_folder_do_not_stop_it(tmp_path: Path) -> None:
    root = tmp_path / "results"
    shutil.copytree(FIXTURES, root)
    (root / "garbage.json").write_bytes(b"\x00\x01")
    assert "this sweep: 3 runs" in sweep_summary(root, _ids("voc/an__1p__seed[018]__*.json"))
