"""The recipe axis (issue 21): ``--recipe authors`` trains each method on its authors' recipe — the
head's lr multiplier and weight decay as parameter groups, the named stopping rules, the one-cycle
schedule, torchvision augmentations — as a run of its own identity, on the embedded set and on a
VOC-layout fixture; the common recipe keeps every run id; the page sets both recipes side by side."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

import methods
import run_all
from benchmark.records import comparable
from benchmark.records.identity import config_run_id
from benchmark.run.loop import augmenter, stops
from benchmark.run.models import build_model
from benchmark.run.train import Trainer, recipe_groups
from benchmark.spec.config import RunConfig
from benchmark.spec.recipes import recipe_defaults, settings
from leaderboard.page_recipes import ranking_line, recipes_section
from leaderboard.records import Records, read_records
from leaderboard.stats import welch_interval
from methods.base import COMMON, Recipe
from tests.test_method_hooks_in_loop import Interrupted, stop_at

REPO = Path(__file__).resolve().parent.parent
#: the methods whose authors trained otherwise than the common protocol (issue 21)
LATER = {"ll_r", "ll_ct", "ll_cp", "boostlu_ll_r", "gr_loss", "hill", "splc"}
FAST: dict[str, Any] = {"epochs": 2, "batch_size": 256}


def test_common_keeps_every_run_id_and_authors_is_a_run_of_its_own() -> None:
    records = [json.loads(p.read_text()) for p in sorted((REPO / "results" / "digits").glob("*.json"))]
    common = [rec for rec in records if rec["config"].get("recipe", "common") == "common"]
    assert len(common) >= 40 and all(rec["config"]["recipe"] == "authors" for rec in records if rec not in common)
    for rec in common:
        assert config_run_id(rec["config"]) == rec["run_id"]
        # the common recipe leaves the run id as it was before runs had a recipe
        bare = {k: v for k, v in rec["config"].items() if k != "recipe"}
        assert config_run_id(bare) == rec["run_id"]
    for key in methods.available():
        common = RunConfig(dataset="digits", method=key)
        assert RunConfig(dataset="digits", method=key, recipe="common").run_id() == common.run_id()
        authors = RunConfig(dataset="digits", method=key, recipe="authors")
        if key in LATER:
            assert authors.run_id() != common.run_id() and authors.resolve().recipe == "authors"
            assert "[authors]" in authors.label()
        else:  # its authors' recipe is the common protocol: the same run
            assert methods.get(key).recipe.is_common() and authors.run_id() == common.run_id()
            assert authors.label() == common.label()


def test_recipe_values_and_their_embedded_scale() -> None:
    ll = RunConfig(dataset="voc", method="ll_r", recipe="authors").resolve()
    assert (ll.batch_size, ll.lr, ll.epochs, ll.patience) == (16, 1e-5, 10, 0)
    gr = RunConfig(dataset="digits", method="gr_loss", recipe="authors").resolve()
    assert (gr.batch_size, gr.lr, gr.epochs) == (32, 3e-3, 6)  # 64·8/16, 3e-3·1, round(7·8/10)
    hill = settings("hill", "digits", "finetune", "authors")
    assert hill["cycle_epochs"] == 56 and hill["augment"] == ["cutout", "randaugment"]
    assert recipe_defaults("hill", "digits", "finetune", "authors") == {
        "batch_size": 512,
        "lr": 3e-2,
        "epochs": 22,
        "patience": 0,
    }
    for key in LATER:  # every value of a later recipe names its source
        rec = methods.get(key).recipe
        given = [f for f in ("batch_size", "lr", "epochs", "stop") if getattr(rec, f) is not None]
        assert set(given) <= set(rec.sources), key
    # an explicit setting still wins over the recipe's
    assert RunConfig(dataset="digits", method="ll_r", recipe="authors", epochs=3).resolve().epochs == 3


def test_stopping_rules() -> None:
    assert Recipe(stop="patience:2").stop_rule() == ("patience", 2.0)
    assert Recipe(stop="none").stop_rule() == ("none", 0.0)
    assert Recipe(stop="drop>3").stop_rule() == ("drop", 3.0)
    assert COMMON.stop_rule() is None
    for bad in ("drop", "patience:x", "none:1", "early"):
        with pytest.raises(ValueError, match="expected 'patience:K', 'none' or 'drop>D'"):
            Recipe(stop=bad)
    assert not stops(("patience", 2), 1, 90.0, 80.0) and stops(("patience", 2), 2, 90.0, 80.0)
    assert not stops(("patience", 0), 9, 90.0, 10.0)
    assert not stops(("none", 0), 9, 90.0, 10.0)
    assert not stops(("drop", 3), 5, 90.0, 87.0) and stops(("drop", 3), 1, 90.0, 86.99)
    assert not stops(("drop", 3), 1, 90.0, math.nan)


def test_stopping_rule_in_the_loop(data_root: Path) -> None:
    # LL-R's recipe stops only on a drop of more than 3 points: no early stop on these 3 epochs
    rec = Trainer(RunConfig(dataset="digits", method="ll_r", recipe="authors", data_root=str(data_root), **FAST)).run()
    assert rec["epochs_run"] == 2 and rec["recipe"]["stop"] == "drop>3"
    vals = [h["val_map"] for h in rec["history"]]
    assert all(max(vals[: i + 1]) - v <= 3 for i, v in enumerate(vals[:-1]))


def test_parameter_groups_head_multiplier_and_weight_decay() -> None:
    model = build_model("smallcnn", 5, in_chans=1)
    common = recipe_groups(model, 1e-3, settings("an", "digits", "finetune", "common"))
    assert len(common) == 1 and common[0]["lr"] == 1e-3 and "weight_decay" not in common[0]
    groups = recipe_groups(model, 1e-3, settings("ll_r", "digits", "finetune", "authors"))
    head = {id(p) for p in model.head.parameters()}
    for g in groups:
        in_head = {id(p) in head for p in g["params"]}
        assert len(in_head) == 1 and g["lr"] == pytest.approx(1e-2 if in_head.pop() else 1e-3)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    decayed = recipe_groups(model, 1e-3, settings("hill", "digits", "finetune", "authors"))
    for g in decayed:
        assert g["weight_decay"] == (1e-4 if g["params"][0].ndim > 1 else 0.0)
        assert {p.ndim > 1 for p in g["params"]} == {g["params"][0].ndim > 1}


def test_one_cycle_scheduler_and_resume(data_root: Path, tmp_path: Path) -> None:
    def cfg() -> RunConfig:
        return RunConfig(
            dataset="digits", method="hill", recipe="authors", data_root=str(data_root), epochs=3, batch_size=256
        )

    whole = Trainer(cfg(), tmp_path / "whole.pt")
    reference = whole.run()
    lrs = [h["lr"] for h in reference["history"]]
    # the warm-up of a 56-epoch cycle (pct_start 0.2) at epoch 3: the lr rises towards the peak
    assert lrs == sorted(lrs) and lrs[0] < lrs[-1] < 3e-2
    sched = whole.scheduler
    assert sched is not None and sched.total_steps == 56 * math.ceil(reference["num_train"] / 256)
    cut = Trainer(cfg(), tmp_path / "cut.pt", observers=[stop_at(3)])
    with pytest.raises(Interrupted):
        cut.run()
    assert comparable(Trainer(cfg(), tmp_path / "cut.pt").run()) == comparable(reference)


def test_augmentations_are_deterministic_and_leave_the_global_rng() -> None:
    x = torch.randint(0, 256, (6, 1, 24, 24), dtype=torch.uint8)
    state = torch.get_rng_state()
    a = augmenter(("cutout", "randaugment"), torch.Generator().manual_seed(3))(x)
    b = augmenter(("cutout", "randaugment"), torch.Generator().manual_seed(3))(x)
    c = augmenter(("cutout", "randaugment"), torch.Generator().manual_seed(4))(x)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    # drawn per image: the erased square is not at one place for the whole batch
    erased = [tuple((img == 0).nonzero()[0].tolist()) for img in augmenter(("cutout",), torch.Generator())(x + 1)]
    assert len(set(erased)) > 1


def test_same_seed_same_run_on_cpu(data_root: Path) -> None:
    def run() -> dict[str, Any]:
        return Trainer(
            RunConfig(dataset="digits", method="splc", recipe="authors", data_root=str(data_root), **FAST)
        ).run()

    assert comparable(run()) == comparable(run())


@pytest.mark.slow
def test_authors_recipe_runs_for_every_method_and_the_page_shows_both(data_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "r"
    argv = ["--seeds", "0", "--epochs", "2", "--batch-size", "256", "--quiet", "--no-leaderboard"]
    argv += ["--data-root", str(data_root), "--results-dir", str(results)]
    for key in methods.available():  # each at its tiny test configuration
        tiny = [a for k, v in methods.get(key).test_config.items() for a in ("--hparam", f"{k}={json.dumps(v)}")]
        # authors: the common-recipe methods run as their common run; the later ones also on the common recipe
        for recipe in ("authors", "common") if key in LATER else ("authors",):
            assert run_all.main([*argv, "--methods", key, *tiny, "--recipe", recipe]) == 0, (key, recipe)
    records = read_records(results)
    frame = records.frame
    assert set(frame["status"]) <= {"done", "diverged"}
    assert set(frame["method"]) == set(methods.available())
    authors = frame[frame["recipe"] == "authors"]
    assert set(authors["method"]) == LATER and authors["variant"].str.startswith("recipe=authors").all()
    assert not records.bad_cells and (records.table["recipe"] == "common").all()
    page = "\n".join(recipes_section(records))
    assert "## The authors' recipes beside the common protocol" in page and "Kendall τ" in page
    for key in LATER:  # the rows at the default configuration (a test_config makes a variant)
        assert (f"| {key} " in page) == (not methods.get(key).test_config), key


@pytest.mark.slow
def test_authors_recipe_on_a_voc_layout_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.data.prepare import prepare
    from tests.fixtures_official import write_voc

    write_voc(tmp_path / "raw")
    prepare("voc", tmp_path / "raw", tmp_path / "data" / "voc")
    monkeypatch.setenv("SPML_DATA", str(tmp_path / "data"))
    results = tmp_path / "results"
    args = ["--datasets", "voc", "--backbone", "resnet18", "--no-pretrained", "--image-size", "32"]
    args += ["--epochs", "2", "--seeds", "0", "--methods", "ll_r", "hill", "gr_loss", "an", "--recipe", "authors"]
    assert run_all.main([*args, "--results-dir", str(results), "--quiet", "--no-leaderboard"]) == 0
    recs = {r["method"]: r for r in (json.loads(p.read_text()) for p in (results / "voc").glob("*.json"))}
    assert set(recs) == {"ll_r", "hill", "gr_loss", "an"}
    for key, rec in recs.items():
        assert rec["status"] == "done", rec.get("error")
        assert rec["config"]["recipe"] == ("common" if key == "an" else "authors")
    assert recs["ll_r"]["config"]["batch_size"] == 16 and recs["gr_loss"]["config"]["batch_size"] == 8
    assert recs["hill"]["recipe"]["scheduler"] == "onecycle" and recs["hill"]["config"]["lr"] == 1e-4


def _frame(rows: list[tuple[str, str, list[float]]]) -> Records:
    cols = {"role": "main", "excluded": "", "status": "done", "protocol": "finetune", "labels": "1p"}
    data = [
        {
            **cols,
            "dataset": "digits",
            "method": m,
            "recipe": r,
            "variant": "" if r == "common" else "recipe=authors",
            "test_map": v,
        }
        for m, r, vs in rows
        for v in vs
    ]
    return Records(frame=pd.DataFrame(data))


def test_page_section_from_constructed_records() -> None:
    records = _frame(
        [
            ("an", "common", [80.0, 81.0, 82.0]),
            ("ll_r", "common", [79.0, 80.0, 81.0]),
            ("ll_r", "authors", [84.0, 85.0, 86.5]),
            ("hill", "common", [83.0, 83.5, 84.0]),
            ("hill", "authors", [70.0, 71.0, 72.0]),
        ]
    )
    page = "\n".join(recipes_section(records))
    lines = page.splitlines()
    ll = next(line for line in lines if line.startswith("| ll_r"))
    low, high = welch_interval(85.1666666, 1.2583057, 3, 80.0, 1.0, 3)
    assert "+5.17" in ll and f"[{low:.2f}, {high:.2f}]" in ll
    assert "| an " in page and "Kendall τ = -1.00 over 3 rows" in page and "ll_r 3→1, hill 1→3" in page
    assert recipes_section(_frame([("an", "common", [80.0, 81.0])])) == []
    assert "does not change" in ranking_line({("a", "1p"): 2.0, ("b", "1p"): 1.0}, {("a", "1p"): 3.0, ("b", "1p"): 1.0})
