"""The embedded set's variants with real label statistics (benchmark.data.lookalike), their defaults,
the page's "Does the embedded set predict the real ranking?" section, and the label-statistics study."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

import methods
from benchmark.data import lookalike
from benchmark.records.layout import STUDIES
from benchmark.spec.defaults import training_defaults
from leaderboard import page_predict
from leaderboard.records import COLUMNS, Records, read_records

VOC, COCO = lookalike.RECIPES["digits-voc"], lookalike.RECIPES["digits-coco"]


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, np.ndarray]]:
    return {key: lookalike.build(r) for key, r in lookalike.RECIPES.items()}


def test_generators_are_deterministic(built: dict[str, dict[str, np.ndarray]]) -> None:
    again = lookalike.build(VOC)
    assert all(np.array_equal(again[k], built["digits-voc"][k]) for k in again)
    other = lookalike.build(dataclasses.replace(VOC, seed=1))
    assert not np.array_equal(other["pool_labels"], built["digits-voc"]["pool_labels"])


@pytest.mark.parametrize(
    ("key", "classes", "positives", "head", "tail"),
    [("digits-voc", 20, 1.45, 0.354, 0.026), ("digits-coco", 80, 2.9, 0.5, 0.002)],
)
def test_statistics_as_claimed(
    built: dict[str, dict[str, np.ndarray]], key: str, classes: int, positives: float, head: float, tail: float
) -> None:
    for part in ("pool", "test"):
        s = lookalike.label_statistics(built[key][f"{part}_labels"])
        assert s["classes"] == classes
        assert s["positives_per_image"] == pytest.approx(positives, rel=0.07)
        assert s["missing_share"] == pytest.approx((positives - 1) / (classes - 1), rel=0.2)
        assert s["head_share"] == pytest.approx(head, abs=0.06)
        assert s["tail_share"] == pytest.approx(tail, abs=0.005)
    images = built[key]["pool_images"]
    assert images.shape[-1] == lookalike.RECIPES[key].canvas and images.dtype == np.uint8


def test_cache_is_keyed_by_the_generator(tmp_path: Path) -> None:
    small = dataclasses.replace(VOC, styles=("plain",))
    assert lookalike.generator_key(small) != lookalike.generator_key(VOC)
    path = lookalike.cache_path(tmp_path, "digits-voc", VOC)
    assert lookalike.generator_key(VOC) in path.name
    first = lookalike.load_arrays(tmp_path, "digits-voc")
    assert path.exists()
    assert all(np.array_equal(first[k], v) for k, v in lookalike.load_arrays(tmp_path, "digits-voc").items())
    np.savez(lookalike.cache_path(tmp_path, "digits-voc", small), pool_images=np.zeros((3, 1, 24, 24), np.uint8))
    with pytest.raises(ValueError, match="delete the file"):
        lookalike.load_arrays(tmp_path, "digits-voc", small)


def test_variants_take_the_embedded_defaults() -> None:
    digits = training_defaults("digits")
    assert training_defaults("digits-voc") == digits
    assert training_defaults("digits-coco") == {**digits, "image_size": COCO.canvas}
    for key in methods.available():
        cls = methods.get(key)
        hp = cls.resolve_hparams("digits-voc", {})
        expected = cls.resolve_hparams("digits", {})
        for name in cls.label_statistics:
            expected[name] = cls.resolve_hparams("voc", {})[name]
        assert hp == expected, key
    # ROLE's k is the expected positives an image: the real set's, which the variant matches
    assert methods.get("role").resolve_hparams("digits-voc", {})["k"] == 1.5
    assert methods.get("epr").resolve_hparams("digits-coco", {})["k"] == 2.9


# -- the page section ----------------------------------------------------------------------------------
def _records(means: dict[str, list[float]], dataset: str = "digits") -> Records:
    rows = []
    for method, values in means.items():
        for seed, v in enumerate(values):
            row = dict.fromkeys(COLUMNS, "")
            row.update(protocol="finetune", labels="1p", method=method, dataset=dataset, seed=seed)
            row.update(status="done", test_map=v, role="main")
            row.update({"recipe": "common"} if "recipe" in COLUMNS else {})  # the axis being added (issue 21)
            rows.append(row)
    return Records(frame=pd.DataFrame(rows, columns=COLUMNS))


def test_tau_by_hand() -> None:
    # published COCO: an 64.92 < ls 67.15 < dw 67.59 < em 70.70; here an < dw < ls < em: of the
    # 6 pairs one (dw, ls) is discordant, τ = (5 - 1) / 6
    rec = _records({"an": [1.0, 1.2], "dw": [2.0, 2.2], "ls": [3.0, 3.2], "em": [4.0, 4.2]})
    frame = page_predict.predict_frame(rec)
    row = frame[(frame["rows"] == "paper") & (frame["dataset"] == "coco")].iloc[0]
    assert row["n"] == 4 and row["tau"] == pytest.approx(2 / 3)
    assert not row["held_out"]
    assert frame[(frame["rows"] == "paper") & (frame["dataset"] == "nuswide")]["held_out"].all()
    assert row["tau_low"] <= row["tau"] <= row["tau_high"]
    assert page_predict.predict_frame(rec).equals(frame)  # fixed-seeded
    text = "\n".join(page_predict.predict_section(rec))
    assert "Does the embedded set predict the real ranking?" in text and "0.67" in text and "†" in text
    assert page_predict.disagreements({m: np.array([v]) for m, v in zip(["an", "dw", "ls", "em"], range(4))}, "coco")


def test_vectorised_tau_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(50, 9)).astype(float)  # ties included
    y = rng.normal(size=9)
    ours = page_predict.tau_b(x, y)
    assert np.allclose(ours, [kendalltau(r, y)[0] for r in x])


def test_no_embedded_records_no_section() -> None:
    assert page_predict.predict_section(_records({"an": [1.0]}, dataset="voc")) == []


# -- the study ---------------------------------------------------------------------------------------
def test_label_stats_smallest(tmp_path: Path, capsys: pytest.CaptureFixture[str], data_root: Path) -> None:
    from benchmark.bench import label_stats

    out = tmp_path / "study.json"
    argv = ["--methods", "an", "--seeds", "0", "--steps", "digits", "--set", "epochs=1", "--json", str(out)]
    assert label_stats.main([*argv, "--data-root", str(data_root)]) == 0
    assert "digits" in capsys.readouterr().out and out.exists()
    with pytest.raises(SystemExit) as exc:
        label_stats.main(["--steps", "nope"])
    assert exc.value.code == 2


def test_resolution_check_of_a_variant(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmark.bench import resolution

    assert resolution.parse_args(["--dataset", "digits-coco"]).dataset == "digits-coco"
    assert resolution.main(["--dataset", "imagenet"]) == 2
    assert "valid datasets: digits" in capsys.readouterr().err


def test_capped_replay_is_the_run_trained_for_that_many_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data_root: Path
) -> None:
    """--caps reads a shorter run off a longer run's history: the replay at cap 2 must be the run
    that was trained for 2 epochs (same seed and batches), and the table must say so."""
    from benchmark.bench import resolution

    common = ["--methods", "an", "--seeds", "0", "--data-root", str(data_root)]
    assert (
        resolution.main(
            [*common, "--curves", "--set", "epochs=3", "--caps", "2", "3", "--json", str(tmp_path / "c.json")]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "2 epochs, patience 2" in printed and "3 epochs, no early stopping" in printed and "best epoch = cap" in printed
    )
    assert resolution.main([*common, "--set", "epochs=2", "--json", str(tmp_path / "two.json")]) == 0
    full, two = (json.loads((tmp_path / f).read_text())["runs"][0] for f in ("c.json", "two.json"))
    replayed = resolution.stop(full["history"], patience=2, cap=2)
    assert (replayed["test_map"], replayed["best_epoch"]) == (two["test_map"], two["best_epoch"])
    assert replayed["epochs_run"] == 2
    for bad in (["--caps", "2"], ["--curves", "--set", "epochs=3", "--caps", "4"]):
        assert resolution.main([*common, *bad]) == 2, bad


def test_a_variant_run_at_its_defaults_is_the_main_row() -> None:
    from benchmark.spec import variants
    from benchmark.spec.config import RunConfig

    for key in ("role", "em_apl", "ll_r", "gr_loss"):
        cfg = RunConfig(dataset="digits-voc", method=key)
        assert variants.variant(key, "digits-voc", cfg.resolve().hparams) == {}, key


#: the third candidate's clean rows (docs/predict.md): the paper's 12 and the two later rows its design never showed
CLEAN_WIDE = (*page_predict.published("paper").index, "ll_cp", "gr_loss")


def _docs_tau(row: pd.Series) -> str:
    """A ``predict_frame`` row's τ cell as docs/predict.md writes it (a typographic minus)."""
    return page_predict.tau_cell(row).replace("-", "−")


def _docs_cells(text: str, header: str, frame: pd.DataFrame, rows_key: str | None = None) -> int:
    """Checks each τ cell of the docs table that starts with ``header`` against ``frame``; returns the count."""
    table = text[text.index(header) :].split("\n\n")[0].splitlines()[2:]
    cells = 0
    for line in table:
        emb, rows, *columns = (c.strip() for c in line.strip("|").split("|"))
        for dataset, cell in zip(["voc", "coco", "nuswide", "cub"], columns, strict=True):
            row = frame.loc[(emb.strip("`"), rows_key or rows.split()[0], dataset)]
            assert re.sub(r"\s*†$", "", cell) == _docs_tau(row), (emb, rows, dataset)
            cells += 1
    return cells


def test_the_docs_tau_of_a_study_is_its_committed_records() -> None:
    """docs/predict.md's tables of the third candidate, cell by cell, from the records it names: over
    every row, and over its clean rows (the reference sentence too)."""
    repo = Path(__file__).resolve().parent.parent
    records = read_records(repo / "results" / STUDIES / "smallcnn-wide")
    assert set(records.frame["dataset"]) == {"digits", "digits-voc"} and len(records.frame) == 138
    text = (repo / "docs" / "predict.md").read_text()
    frame = page_predict.predict_frame(records).set_index(["embedded", "rows", "dataset"])
    assert _docs_cells(text, "| embedded, wide model |", frame) == 16
    clean = page_predict.predict_frame(records, CLEAN_WIDE).set_index(["embedded", "rows", "dataset"])
    assert set(clean.index.get_level_values("rows")) == {"paper", "all"}  # 2 later rows: too few for their own τ
    assert _docs_cells(text, "| embedded, wide model, clean rows |", clean, rows_key="all") == 8
    ref = page_predict.reference_frame(set(CLEAN_WIDE))
    ref = ref[ref["rows"] == "all"]
    sentence = text[text.index("The reference over the same 14 rows") :].split("\n\n")[0]
    names = {"voc": "VOC", "coco": "COCO", "nuswide": "NUS", "cub": "CUB"}
    for r in ref.itertuples():
        assert re.search(rf"({names[r.a]}–{names[r.b]}|{names[r.b]}–{names[r.a]}) {r.tau:.2f}\b", sentence), (r.a, r.b)


def test_predict_cli_prints_the_frame_and_refuses_unknown_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m leaderboard --predict [ROW ...]``: the τ of each embedded set with each published
    column, over the named rows; a row without a published figure is a usage error (exit 2, one line)."""
    from leaderboard.__main__ import main as cli

    study = Path(__file__).resolve().parent.parent / "results" / STUDIES / "smallcnn-wide"
    assert cli(["--results-dir", str(study), "--predict", *CLEAN_WIDE]) == 0
    out = capsys.readouterr().out
    row = (
        page_predict.predict_frame(read_records(study), CLEAN_WIDE)
        .query("embedded == 'digits' and rows == 'all' and dataset == 'coco'")
        .iloc[0]
    )
    assert re.search(rf"`digits` +\| all \(14\) +\| COCO 2014 +\| {re.escape(page_predict.tau_cell(row))}", out)
    assert "later" not in out  # LL-Cp and GR loss alone: two rows, no τ
    assert cli(["--results-dir", str(study), "--predict", "an", "entmin"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "['entmin'] have no published 1p figure" in err[0]


def test_the_docs_goal_table_is_the_records() -> None:
    """docs/predict.md's "Where the goal stands": each candidate's τ with COCO over its clean rows, from
    the committed records (the default's in results/, the wide model's in its study), and the
    published VOC–COCO τ over the same rows."""
    repo = Path(__file__).resolve().parent.parent
    text = (repo / "docs" / "predict.md").read_text()
    lines = text[text.index("| candidate | its clean rows |") :].split("\n\n")[0].splitlines()[2:]
    implemented = sorted(set(page_predict.published().index) & set(methods.available()))
    sources = [
        ("digits", repo / "results", implemented),
        ("digits", repo / "results" / STUDIES / "smallcnn-wide", CLEAN_WIDE),
        ("digits-voc", repo / "results" / STUDIES / "smallcnn-wide", CLEAN_WIDE),
    ]
    assert len(lines) == len(sources)
    for line, (emb, folder, rows) in zip(lines, sources, strict=True):
        *_, cell, reference = (c.strip() for c in line.strip("|").split("|"))
        frame = page_predict.predict_frame(read_records(folder), rows)
        row = frame[(frame["embedded"] == emb) & (frame["rows"] == "all") & (frame["dataset"] == "coco")].iloc[0]
        assert row.n == len(rows)
        assert cell == _docs_tau(row), line
        ref = page_predict.reference_frame(set(rows)).query("rows == 'all' and a == 'voc' and b == 'coco'")
        assert reference == f"{ref['tau'].iloc[0]:.2f}", line
