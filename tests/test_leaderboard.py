"""The leaderboard, from a fixed set of hand-written records (``tests/data/records``).

The golden markdown is ``tests/golden/leaderboard_fixture.md``. After a deliberate change to the
leaderboard's layout, regenerate it with

    SPML_REGEN_GOLDEN=1 python -m pytest tests/test_leaderboard.py -k golden

then read the diff (``git diff tests/golden``) before committing it: the test fails on any
difference otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.records.identity import config_run_id, record_name
from leaderboard import published
from leaderboard.__main__ import main as cli
from leaderboard.build import export, markdown, write_leaderboard
from leaderboard.figures import gain_frame, plan, styles
from leaderboard.records import RecordError, read_records
from leaderboard.table import PAPER_ORDER, SINCE_PAPER, main_cells

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "records"
GOLDEN = REPO / "tests" / "golden" / "leaderboard_fixture.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- an independent recomputation, straight from the JSON files -------------------------------------
def _variant(rec: dict) -> str:
    return ", ".join(
        f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted((rec.get("variant") or {}).items())
    )


def direct_records() -> list[dict]:
    """Every fixture file that json can read as an object with a ``status`` (none of the leaderboard's code)."""
    out = []
    for path in FIXTURES.rglob("*.json"):
        if path.name.startswith(".") or any(p.startswith("_") for p in path.relative_to(FIXTURES).parts):
            continue
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(rec, dict) and "status" in rec:
            out.append(rec)
    return out


def direct_cells() -> pd.DataFrame:
    """Mean, ddof=1 std and count of test_map per cell of the done records with a finite test mAP,
    tuning trials (a study tag and a variant) and cells mixing two configs (amp) left out, read with
    json/pandas only."""
    rows = []
    for rec in direct_records():
        if rec.get("study") and rec.get("variant"):
            continue
        rows.append(
            {
                **{k: rec.get(k) for k in ("protocol", "labels", "method", "dataset", "seed", "status", "test_map")},
                "variant": _variant(rec),
                "amp": rec["config"]["amp"],
            }
        )
    df = pd.DataFrame(rows)
    done = df[(df["status"] == "done") & df["test_map"].apply(math.isfinite)]
    keys = ["protocol", "labels", "method", "variant", "dataset"]
    mixed = done.groupby(keys)["amp"].transform("nunique") > 1
    return done[~mixed].groupby(keys)["test_map"].agg(mean="mean", std=lambda s: s.std(ddof=1), n="count").reset_index()


def _cell_text(text: str, method: str, labels: str, column: int) -> str:
    """The text of one cell of the first markdown table row with this method and labels."""
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if len(parts) > column and parts[0] == method and parts[1] == labels:
            return parts[column]
    raise AssertionError(f"no row {method}/{labels}")


def _main_table(text: str, protocol: str = "finetune") -> str:
    """The markdown of the paper-regime main table of one protocol."""
    start = text.index(f"## Test mAP — {protocol}")
    start = text.index("| method", start)
    return text[start : text.index("\n\n", start)]


# -- golden ----------------------------------------------------------------------------------------
def test_markdown_matches_golden_file() -> None:
    text = markdown(FIXTURES)
    if os.environ.get("SPML_REGEN_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip(f"regenerated {GOLDEN}; review `git diff` and rerun without SPML_REGEN_GOLDEN")
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text == expected, "leaderboard markdown differs from the golden file (see this module's docstring)"


def test_markdown_is_deterministic_and_free_of_absolute_paths() -> None:
    a, b = markdown(FIXTURES), markdown(str(FIXTURES))
    assert a == b
    assert str(REPO) not in a and "/tmp" not in a


# -- the numbers -----------------------------------------------------------------------------------
def test_aggregation_equals_direct_pandas_computation() -> None:
    expected = direct_cells()
    ours = main_cells(read_records(FIXTURES))
    ours = ours[ours["n"] > 0]
    merged = expected.merge(
        ours,
        on=["protocol", "labels", "method", "variant", "dataset"],
        suffixes=("_direct", "_board"),
        how="outer",
        validate="one_to_one",
        indicator=True,
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (merged["n_direct"] == merged["n_board"]).all()
    assert merged["mean_direct"].to_numpy() == pytest.approx(merged["mean_board"].to_numpy(), abs=1e-12)
    single = merged["n_direct"] == 1
    assert merged.loc[single, "std_board"].isna().all()
    assert merged.loc[~single, "std_direct"].to_numpy() == pytest.approx(
        merged.loc[~single, "std_board"].to_numpy(), abs=1e-12
    )


def parse_main_tables(text: str) -> dict[tuple[str, str, str, str], str]:
    """(protocol, labels, row, dataset) → cell text, from every "Test mAP" table of the markdown."""
    cells = {}
    for section in text.split("\n## ")[1:]:
        m = re.match(r"Test mAP — (\w+)", section)
        if not m:
            continue
        for block in section.split("\n\n"):
            lines = [line for line in block.splitlines() if line.startswith("|")]
            if not lines or "published" in lines[0]:
                continue
            head = [h.strip() for h in lines[0].strip("|").split("|")]
            for line in lines[2:]:
                row = [c.strip() for c in line.strip("|").split("|")]
                if row[0].startswith("*"):  # a group header row
                    continue
                for col, name in enumerate(head[2:], start=2):
                    if " " not in name:  # a dataset column, not "<d> 95% CI" / "<d> paper" / "<d> Δ"
                        cells[(m[1], row[1], row[0], name)] = row[col]
    return cells


CELL_RE = re.compile(r"^\**(?P<mean>-?\d+\.\d\d)(?: ± (?P<std>\d+\.\d\d))? \(n=(?P<n>\d+)(?P<aside>, [^)]*)?\)\**$")


def test_markdown_cells_show_the_direct_numbers() -> None:
    """Every run cell of the main tables, parsed back from the markdown, equals the direct
    computation at the two decimals shown."""
    shown = parse_main_tables(markdown(FIXTURES))
    expected = direct_cells()
    for _, r in expected.iterrows():
        label = r["method"] if not r["variant"] else f"{r['method']} ({r['variant']})"
        m = CELL_RE.match(shown[(r["protocol"], r["labels"], label, r["dataset"])])
        assert m, r
        assert float(m["mean"]) == pytest.approx(round(r["mean"], 2), abs=1e-9)
        assert int(m["n"]) == r["n"]
        if r["n"] > 1:
            assert float(m["std"]) == pytest.approx(round(r["std"], 2), abs=1e-9)
        else:
            assert m["std"] is None
    numeric = {k for k, v in shown.items() if CELL_RE.match(v)}
    assert len(numeric) == len(expected)  # no cell shows a number the records do not give


def test_bold_marks_the_best_set_with_rank_intervals_and_outliers() -> None:
    table = _main_table(markdown(FIXTURES))
    # voc: epr (87.20 ± 0.28, n=2) is the best 1p row with a spread; no row is significantly above an
    # (86.17 ± 1.26, n=3) or em (86.27 ± 0.25, n=3) at 5%/3 (4 ranked rows); zz_new (84.25 ± 0.35) is below
    # em and epr; ll_r (88.80, n=1) has no spread, no rank, and is never bold
    assert _cell_text(table, "epr", "1p", 2) == "**87.20 ± 0.28 (n=2)**"
    assert _cell_text(table, "an", "1p", 2) == "**86.17 ± 1.26 (n=3)**"
    assert _cell_text(table, "em", "1p", 2) == "**86.27 ± 0.25 (n=3, 1 failed)**"
    assert _cell_text(table, "zz_new", "1p", 2) == "84.25 ± 0.35 (n=2)"
    ranks = [_cell_text(table, m, "1p", 4) for m in ("epr", "an", "em", "zz_new", "ll_r")]
    assert ranks == ["1–3", "1–4", "1–3", "3–4", "—"]
    assert _cell_text(table, "ll_r", "1p", 2) == "88.80 (n=1)"
    assert _cell_text(table, "bce", "full", 2) == "89.30 ± 0.42 (n=2)"  # the oracle is higher, never bold
    assert _cell_text(table, "em (alpha=0.3)", "1p", 7) == "65.00 ± 0.71 (n=2)"  # a variant is never bold
    assert _cell_text(table, "em (alpha=0.3)", "1p", 8) == "[58.65, 71.35]"
    # the 95% interval beside each cell; published figure and difference; outside 2 published σ marked
    assert _cell_text(table, "an", "1p", 3) == "[83.04, 89.29]"
    assert _cell_text(table, "an", "1p", 5) == "85.89 ± 0.38"
    assert _cell_text(table, "an", "1p", 6) == "+0.28"
    assert _cell_text(table, "em", "1p", 6) == "-2.82 ⚠"  # 86.27 vs 89.09 ± 0.17
    assert _cell_text(table, "ll_r", "1p", 5) == "89.20 ‡"  # a later paper's number, no σ
    assert _cell_text(table, "em (alpha=0.3)", "1p", 5) == "—"  # published at the authors' values only
    # digits has no published figure: no column for one
    assert "| digits 95% CI   |" in table.splitlines()[0] and "digits paper" not in table


def test_rows_follow_the_paper_order_then_since_the_paper_then_other_methods() -> None:
    table = _main_table(markdown(FIXTURES))
    rows = [(p[0], p[1]) for p in ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])]
    assert rows == [
        ("bce", "full"),
        ("bce", "1p_all_n"),
        ("an", "1p"),
        ("dw", "1p"),
        ("focal", "1p"),
        ("asl", "1p"),
        ("em", "1p"),
        ("em (alpha=0.3)", "1p"),
        ("*since the paper*", ""),
        ("epr", "1p"),
        ("ll_r", "1p"),
        ("*other methods*", ""),
        ("zz_new", "1p"),
    ]


def test_published_only_rows_leave_once_run() -> None:
    text = markdown(FIXTURES)
    start = text.index("#### Published only (not run here)")
    block = text[start : text.index("\n\n", text.index("| method", start))]
    listed = re.findall(r"^\| \*(\w+)\*", block, re.M)
    assert listed == ["ll_ct", "ll_cp", "boostlu_ll_r", "smile", "mime", "gr_loss", "vlpl", "aevlp"]  # not ll_r: it ran


def test_failed_and_diverged_records_are_counted_apart_and_never_averaged() -> None:
    records = read_records(FIXTURES)
    cells = main_cells(records).set_index(["protocol", "labels", "method", "variant", "dataset"])
    em_voc = cells.loc[("finetune", "1p", "em", "", "voc")]
    assert (em_voc["n"], em_voc["failed"], em_voc["seeds"]) == (3, 1, (0, 1, 8))
    assert em_voc["mean"] == pytest.approx((86.0 + 86.5 + 86.3) / 3)
    asl = cells.loc[("finetune", "1p", "asl", "", "digits")]
    assert (asl["n"], asl["diverged"], asl["seeds"]) == (2, 1, (0, 1))
    assert asl["mean"] == pytest.approx((62.5 + 63.0) / 2)  # the diverged seed's 10.0 is not in it
    only_failed = cells.loc[("finetune", "1p", "focal", "", "digits")]
    assert only_failed["n"] == 0 and math.isnan(only_failed["mean"]) and only_failed["failed"] == 1
    text = markdown(FIXTURES)
    assert "## Failed runs (2)" in text and "## Diverged runs (2)" in text
    assert "NonFiniteLossError: loss is nan at epoch 4" in text
    assert "CUDA out of memory \\| tried to allocate" in text  # the pipe does not break the table
    assert "| constant_predictions  | every test prediction equals 0.0 (std 0) at the best epoch |" in text
    table = _main_table(text)
    assert _cell_text(table, "focal", "1p", 7) == "— (1 failed)"
    assert _cell_text(table, "asl", "1p", 7) == "**62.75 ± 0.35 (n=2, 1 diverged)**"
    assert (
        "**records**: 39 valid (28 done and in the tables, 2 failed, 2 diverged — never averaged in); "
        "5 invalid files, 1 cell left out" in text
    )


def test_single_seed_cell_shows_n1_and_no_std() -> None:
    text = markdown(FIXTURES)
    cell = _cell_text(_main_table(text), "bce", "1p_all_n", 2)
    assert cell == "87.00 (n=1)" and "±" not in cell
    data = json.loads(export(FIXTURES, "json"))
    one = [c for c in data["cells"] if (c["method"], c["labels"], c["dataset"]) == ("bce", "1p_all_n", "voc")]
    assert one[0]["n"] == 1 and one[0]["std"] is None and one[0]["ci_low"] is None


def test_footer_states_std_convention_seeds_commit_and_count() -> None:
    text = markdown(FIXTURES)
    assert "sample standard deviation over seeds (pandas `std(ddof=1)`)" in text
    assert "model seeds 0, 1, 8; data seeds" in text and "unset (the protocol's fixed draw, 1200)." in text
    assert "`0123456789ab`: 36 records; `fedcba987654` (uncommitted changes): 3 records" in text


def test_scratch_and_unfinished_files_are_not_records() -> None:
    records = read_records(FIXTURES)
    paths = set(records.frame["path"]) | {x.path for x in records.invalid}
    assert not any(p.startswith("_") or "/." in p for p in paths)
    assert len(records.frame) == 39 and len(records.invalid) == 5


# -- other formats ---------------------------------------------------------------------------------
def test_csv_holds_the_cells_at_full_precision() -> None:
    df = pd.read_csv(io.StringIO(export(FIXTURES, "csv")), keep_default_na=False, na_values=[""])
    an = df[
        (df["method"] == "an") & (df["labels"] == "1p") & (df["dataset"] == "voc") & (df["protocol"] == "finetune")
    ].iloc[0]
    values = pd.Series([85.0, 86.0, 87.5])
    assert an["mean"] == pytest.approx(values.mean(), abs=1e-8)
    assert an["std"] == pytest.approx(values.std(ddof=1), abs=1e-8)
    lo, hi = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert (an["ci_low"], an["ci_high"]) == (pytest.approx(lo, abs=1e-8), pytest.approx(hi, abs=1e-8))
    assert an["n"] == 3 and an["seeds"] == "0 1 8" and an["published_mean"] == 85.89 and bool(an["bold"])
    assert bool(
        df[(df["method"] == "em") & (df["variant"].isna()) & (df["dataset"] == "voc") & (df["protocol"] == "finetune")][
            "outside_2sigma"
        ].iloc[0]
    )
    variant = df[(df["method"] == "em") & (df["variant"] == "alpha=0.3")].iloc[0]
    assert variant["n"] == 2 and variant["mean"] == pytest.approx(65.0)
    dw = df[(df["method"] == "dw") & (df["dataset"] == "voc")].iloc[0]
    assert dw["n"] == 0 and "mixes runs of different configurations" in dw["excluded"]


def test_json_and_latex_contain_the_numbers() -> None:
    data = json.loads(export(FIXTURES, "json"))
    meta = data["meta"]
    assert (meta["records"], meta["failed"], meta["diverged"], meta["invalid_files"], meta["cells_left_out"]) == (
        39,
        2,
        2,
        5,
        1,
    )
    assert {f["error"].split(":")[0] for f in data["failed_runs"]} == {"NonFiniteLossError", "RuntimeError"}
    assert {d["divergence"]["rule"] for d in data["diverged_runs"]} == {"constant_predictions", "non_finite_parameters"}
    assert {x["path"] for x in data["invalid_files"]} >= {"notes.json", "digits/runs_list.json"}
    by_key = {(c["protocol"], c["labels"], c["method"], c["variant"], c["dataset"]): c for c in data["cells"]}
    assert by_key[("linear", "1p", "em", "", "digits")]["mean"] == pytest.approx(51.5)
    assert [t["chosen_trial"] for t in data["tuned"] if t["method"] == "em"] == [2]
    latex = export(FIXTURES, "latex")
    assert latex.count("\\begin{tabular}") == latex.count("\\end{tabular}") >= 3
    assert "\\textbf{86.17 $\\pm$ 1.26}" in latex and "\\textbf{87.20 $\\pm$ 0.28}" in latex
    assert "\\textbf{86.27 $\\pm$ 0.25}$^\\dagger$" in latex and "88.80 &" in latex  # em: in the best set now
    assert "zz\\_new" in latex and "em (alpha=0.3)" in latex and "\\emph{since the paper}" in latex


def test_cli_formats_go_to_stdout_or_out(tmp_path: Path) -> None:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cli(["--results-dir", str(FIXTURES), "--format", "csv"]) == 0
    assert buf.getvalue() == export(FIXTURES, "csv")
    out = tmp_path / "t.tex"
    assert cli(["--results-dir", str(FIXTURES), "--format", "latex", "--out", str(out)]) == 0
    assert out.read_text() == export(FIXTURES, "latex")


# -- figures ---------------------------------------------------------------------------------------
def test_figures_are_written_linked_and_valid_png(tmp_path: Path) -> None:
    out = tmp_path / "board" / "README.md"
    text = write_leaderboard(FIXTURES, out, class_name="person")
    links = re.findall(r"\]\((figures/[^)]+\.png)\)", text)
    assert {Path(link).name.split("_")[0] for link in links} == {"density", "loss", "gain", "headline", "poi"}
    for link in links:
        data = (out.parent / link).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1024, link
    per_class = out.parent / "figures" / "density_voc_class-person.png"  # on demand, not linked
    assert per_class.read_bytes()[:8] == PNG_MAGIC and "class-person" not in text
    # the same records give the same bytes, and figures the records no longer support are removed
    before = {p.name: p.read_bytes() for p in (out.parent / "figures").glob("*.png")}
    (out.parent / "figures" / "gain_old_vs_an_voc.png").write_bytes(PNG_MAGIC)
    write_leaderboard(FIXTURES, out)
    after = {p.name: p.read_bytes() for p in (out.parent / "figures").glob("*.png")}
    assert after == before


def test_gain_figure_needs_both_methods() -> None:
    text = markdown(FIXTURES, gain_method="zz_new")
    assert "gain_zz_new_vs_an_voc.png" in text
    assert "needs `1p` runs of both `zz_new` and `an`" in text  # digits has no zz_new run


def test_gain_frame_has_the_standard_error_of_the_difference_over_seeds() -> None:
    records = read_records(FIXTURES)
    spec = next(s for s in plan(records) if s.kind == "gain" and s.dataset == "voc")
    g = gain_frame(records, spec).set_index("class")
    em = [
        json.loads(p.read_text())["per_class_ap"]["person"]
        for p in sorted((FIXTURES / "voc").glob("em__1p__seed[018]__*"))
    ]
    an = [
        json.loads(p.read_text())["per_class_ap"]["person"]
        for p in sorted((FIXTURES / "voc").glob("an__1p__seed[018]__*"))
    ]
    assert g.loc["person", "gain"] == pytest.approx(np.mean(em) - np.mean(an))
    assert g.loc["person", "se"] == pytest.approx(math.sqrt(np.var(em, ddof=1) / 3 + np.var(an, ddof=1) / 3))


def test_series_styles_stay_distinct_for_many_rows() -> None:
    rows = [(f"m{i:02d}", "1p", "") for i in range(40)]
    st = styles(rows)
    combos = {(s["color"], s["marker"], s["linestyle"]) for s in st.values()}
    assert len(combos) == 40
    same_colour = [r for r in rows if st[r]["color"] == st[rows[0]]["color"]]
    assert len({st[r]["linestyle"] for r in same_colour}) == len(same_colour)


# -- bad input -------------------------------------------------------------------------------------
def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "results"
    shutil.copytree(FIXTURES, dst)
    return dst


#: the fixture files that are not valid records, and the cell mixing two precisions
NOT_RECORDS = [
    "notes.json",
    "digits/runs_list.json",
    "digits/bce__full__seed1__0043emptyfile0.json",
    "voc/an__1p__seed3__0042truncated0.json",
    "voc/an__1p__seed4__0044nonfinite0.json",
    "voc/dw__1p__seed1__7a8537489abda324.json",
]


def _clean_copy(tmp_path: Path) -> Path:
    """The fixtures without their invalid files and bad cell: what the strict reader accepts."""
    root = _copy(tmp_path)
    for name in NOT_RECORDS:
        (root / name).unlink()
    assert not read_records(root, strict=True).invalid
    return root


def test_bad_record_is_named_and_left_out_or_raised_when_strict(tmp_path: Path) -> None:
    root = _clean_copy(tmp_path)
    path = root / "voc" / "an__1p__seed0__87500ce6e29d9442.json"
    rec = json.loads(path.read_text())
    rec["test_map"] = "high"
    path.write_text(json.dumps(rec))
    records = read_records(root)
    bad = [x for x in records.invalid if x.path == "voc/an__1p__seed0__87500ce6e29d9442.json"]
    assert bad and bad[0].problem == "field 'test_map' is \"high\", expected a finite number (a done run's test mAP)"
    assert (
        main_cells(records)
        .set_index(["method", "variant", "labels", "dataset", "protocol"])
        .loc[("an", "", "1p", "voc", "finetune"), "n"]
        == 2
    )  # the other seeds are still there
    with pytest.raises(RecordError, match=r"an__1p__seed0__87500ce6e29d9442\.json: field 'test_map' is \"high\""):
        read_records(root, strict=True)


def test_records_of_two_configurations_in_one_cell_are_left_out(tmp_path: Path) -> None:
    root = _clean_copy(tmp_path)
    path = root / "voc" / "an__1p__seed8__d6d755f576e3a091.json"
    rec = json.loads(path.read_text())
    rec["config"]["epochs"] = 3
    rec["run_id"] = config_run_id(rec["config"])  # a run of another configuration, as the harness names it
    path.unlink()
    (root / "voc" / record_name(rec)).write_text(json.dumps(rec))
    records = read_records(root)
    names = {c.name: c.problem for c in records.bad_cells}
    assert names["finetune/1p/an/voc"].startswith("mixes runs of different configurations (epochs: 10")
    cells = main_cells(records).set_index(["method", "variant", "labels", "dataset", "protocol"])
    assert cells.loc[("an", "", "1p", "voc", "finetune"), "n"] == 0
    assert cells.loc[("em", "", "1p", "voc", "finetune"), "n"] == 3  # the rest of the table is built
    with pytest.raises(RecordError, match=r"finetune/1p/an/voc: mixes runs of different configurations"):
        read_records(root, strict=True)


def test_empty_results_folder_gives_a_short_leaderboard(tmp_path: Path) -> None:
    text = markdown(tmp_path / "nothing")
    assert "No run records yet" in text and "## Published figures for datasets not run here" in text


# -- facts and dependency direction ----------------------------------------------------------------
def test_published_figures_are_the_files_the_protocol_names() -> None:
    """PROTOCOL.md states the SHA-256 of each published-figures file: the package data must be those bytes."""
    digests = dict(re.findall(r"^\| `(\w+\.csv)` \| `([0-9a-f]{64})` \|$", (REPO / "PROTOCOL.md").read_text(), re.M))
    assert set(digests) == {"paper_results.csv", "literature_results.csv"}, digests
    for name, digest in digests.items():
        assert hashlib.sha256((published.PUBLISHED_DIR / name).read_bytes()).hexdigest() == digest, name


def test_since_the_paper_group_is_the_literature_methods_and_epr_hill_splc() -> None:
    lit = set(published.literature_table()["method"])
    assert set(SINCE_PAPER) - lit == {"epr", "hill", "splc"}
    assert set(SINCE_PAPER) & set(PAPER_ORDER) == set()


def test_leaderboard_never_imports_torch_or_the_harness(tmp_path: Path) -> None:
    code = (
        "import sys; import leaderboard.build, leaderboard.__main__, leaderboard.summary; "
        "from leaderboard import figures; from leaderboard.records import read_records, runs_frame; "
        f"r = read_records({str(FIXTURES)!r}); leaderboard.build.markdown({str(FIXTURES)!r}); "
        f"runs_frame({str(FIXTURES)!r}); "
        f"leaderboard.summary.sweep_summary({str(FIXTURES)!r}, ['e065b52b4eb9fa72']); "
        f"figures.draw(r, [s for s in figures.plan(r) if s.kind == 'density'][:1], {str(tmp_path)!r}); "
        # the package root, the foundation and the record contract are torch-free: the rest is the harness
        "ok = lambda m: m == 'benchmark' or m.split('.')[:2] in (['benchmark', 'core'], ['benchmark', 'records']); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'benchmark', 'methods') and not ok(m)); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_other_results_folders_never_overwrite_the_committed_leaderboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leaderboard import figures
    from leaderboard.paths import HERE, default_out

    monkeypatch.setattr(figures, "draw", lambda records, specs, folder: [])  # drawing is tested above

    assert default_out(REPO / "results") == HERE / "README.md"
    root = _copy(tmp_path)
    committed = (HERE / "README.md").read_bytes()
    assert cli(["--results-dir", str(root)]) == 0
    assert (root / "_leaderboard" / "README.md").read_text() == markdown(root)
    assert (HERE / "README.md").read_bytes() == committed
    assert len(read_records(root).frame) == 39  # the leaderboard folder is not read as records
