"""The leaderboard's statistics pinned against a direct scipy computation from the fixture records:
the 95% intervals, the best set in bold and the rank intervals, each method against AN (Welch and
Mann–Whitney p, Holm-adjusted, the bootstrap interval), the pooled seed std and the seeds needed
(tests/test_stats_rules.py: the rules on constructed cases, and their simulated error rates)."""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from leaderboard.build import markdown, power_text
from leaderboard.compare import poi_frame, power_frame, variance_frame
from leaderboard.records import read_records
from leaderboard.stats import poi_interval, pooled_std, power_two_sample, seeds_for_power, t_interval, welch_below
from leaderboard.table import main_cells

FIXTURES = Path(__file__).resolve().parent / "data" / "records"
KEYS = ["protocol", "labels", "method", "variant", "dataset"]


def seed_values() -> dict[tuple[str, ...], list[float]]:
    """Cell → the test mAP of its done runs, straight from the JSON (default-config rows of good cells)."""
    out: dict[tuple[str, ...], list[float]] = {}
    for path in sorted(FIXTURES.rglob("*.json")):
        if path.name.startswith(".") or "_checkpoints" in path.parts:
            continue
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("status") != "done" or not math.isfinite(rec.get("test_map", math.nan)):
            continue
        if rec.get("variant") or rec["method"] == "dw":  # variants are not tested for bold; dw/voc is left out
            continue
        key = (rec.get("protocol", "finetune"), rec["labels"], rec["method"], "", rec["dataset"])
        out.setdefault(key, []).append(float(rec["test_map"]))
    return out


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return main_cells(read_records(FIXTURES)).set_index(KEYS)


# -- intervals -------------------------------------------------------------------------------------
def test_cell_intervals_are_scipy_t_intervals(cells: pd.DataFrame) -> None:
    checked = 0
    for key, values in seed_values().items():
        c = cells.loc[key]
        if len(values) < 2:
            assert math.isnan(c["ci_low"]) and math.isnan(c["ci_high"])
            continue
        lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
        assert (c["ci_low"], c["ci_high"]) == (pytest.approx(lo, abs=1e-10), pytest.approx(hi, abs=1e-10))
        checked += 1
    assert checked >= 8


def test_page_shows_the_intervals_at_two_decimals() -> None:
    text = markdown(FIXTURES)
    values = seed_values()[("finetune", "1p", "an", "", "voc")]
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert f"| [{lo:.2f}, {hi:.2f}] |" in text


# -- bold: the 95% confidence set for the best, and the rank intervals ------------------------------
def test_bold_is_the_best_set_of_bonferroni_welch_tests(cells: pd.DataFrame) -> None:
    values = seed_values()
    columns: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for key in values:
        if key[1] == "1p":  # the competing rows of the paper's table (oracles are references)
            columns.setdefault((key[0], key[4]), []).append(key)
    tested = 0
    for keys in columns.values():
        ranked = [k for k in keys if len(values[k]) >= 2]
        for k in keys:
            if len(values[k]) < 2 or len(ranked) < 2:
                assert not cells.loc[k, "bold"] and cells.loc[k, "rank_low"] == 0, k  # one run: no rank, never bold
        if len(ranked) < 2:
            continue
        level = 0.05 / (len(ranked) - 1)
        below = {  # (i, j): row i significantly below row j
            (i, j): stats.ttest_ind(values[i], values[j], equal_var=False, alternative="less").pvalue < level
            for i in ranked
            for j in ranked
            if i != j
        }
        for i in ranked:
            low = 1 + sum(below[(i, j)] for j in ranked if j != i)
            high = len(ranked) - sum(below[(j, i)] for j in ranked if j != i)
            assert (cells.loc[i, "rank_low"], cells.loc[i, "rank_high"]) == (low, high), i
            assert bool(cells.loc[i, "bold"]) == (low == 1), i
            tested += 1
        best = max(ranked, key=lambda k: np.mean(values[k]))
        assert cells.loc[best, "best"] and cells.loc[best, "bold"]
    assert tested >= 6


def test_welch_edge_cases() -> None:
    a, b = [1.0, 2.0, 4.0], [3.0, 3.5, 6.0, 5.0]
    p = stats.ttest_ind(a, b, equal_var=False, alternative="less").pvalue
    assert welch_below(np.mean(a), np.std(a, ddof=1), 3, np.mean(b), np.std(b, ddof=1), 4) == pytest.approx(p)
    assert welch_below(1.0, 0.0, 3, 2.0, 0.0, 3) == 0.0  # no spread on either side: the difference is exact
    assert welch_below(2.0, 0.0, 3, 2.0, 0.0, 3) == 1.0
    assert math.isnan(welch_below(1.0, math.nan, 1, 2.0, 1.0, 3))
    one_side = [5.0, 5.0, 5.0]
    with warnings.catch_warnings():  # scipy warns that one sample has no spread: that is the case tested
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_ind(one_side, b, equal_var=False, alternative="less").pvalue
    assert welch_below(5.0, 0.0, 3, np.mean(b), np.std(b, ddof=1), 4) == pytest.approx(p)
    assert all(math.isnan(v) for v in t_interval(3.0, 1.0, 1))  # no interval from one run


# -- probability of improvement --------------------------------------------------------------------
def test_probability_of_improvement_is_the_mann_whitney_u_over_pairs() -> None:
    values = seed_values()
    poi = poi_frame(read_records(FIXTURES)).set_index(["protocol", "method", "dataset"])
    checked = 0
    for (protocol, labels, method, _, dataset), x in values.items():
        if labels != "1p" or method == "an" or (protocol, "1p", "an", "", dataset) not in values:
            continue
        y = values[(protocol, "1p", "an", "", dataset)]
        u = stats.mannwhitneyu(x, y, alternative="greater").statistic / (len(x) * len(y))
        assert poi.loc[(protocol, method, dataset), "poi"] == pytest.approx(u)
        checked += 1
    assert checked >= 5
    # over two datasets: the mean of the per-dataset probabilities
    em_all = poi.loc[("finetune", "em", "all"), "poi"]
    assert em_all == pytest.approx(
        (poi.loc[("finetune", "em", "voc"), "poi"] + poi.loc[("finetune", "em", "digits"), "poi"]) / 2
    )


def _exact_bootstrap(x: list[float], y: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Every equally likely resample of x and of y: the support and probabilities of P(X > Y)."""
    values = []
    for xs in itertools.product(x, repeat=len(x)):
        for ys in itertools.product(y, repeat=len(y)):
            a, b = np.array(xs)[:, None], np.array(ys)[None, :]
            values.append(float(np.mean((a > b) + 0.5 * (a == b))))
    support, counts = np.unique(values, return_counts=True)
    return support, counts / counts.sum()


def test_bootstrap_interval_matches_the_exact_resampling_distribution() -> None:
    x, y = [70.0, 72.5, 69.0], [68.0, 71.0, 66.5]
    est, lo, hi = poi_interval([x], [y], reps=20000)
    assert est == pytest.approx(stats.mannwhitneyu(x, y).statistic / 9)
    support, prob = _exact_bootstrap(x, y)
    cdf = np.cumsum(prob)
    # the percentile interval: lo is the smallest support point with P(≤ lo) ≥ 2.5%, hi the 97.5% one
    # (checked up to the Monte Carlo error of 20000 resamples)
    exact_lo = support[np.searchsorted(cdf, 0.025)]
    exact_hi = support[np.searchsorted(cdf, 0.975)]
    assert abs(cdf[np.searchsorted(support, exact_lo)] - 0.025) > 0.005  # not on a knife edge: the test is decisive
    assert (lo, hi) == (exact_lo, exact_hi)
    # the same records give the same interval (a fixed generator)
    assert poi_interval([x], [y]) == poi_interval([x], [y])


def test_stratified_bootstrap_resamples_within_each_dataset() -> None:
    """Two datasets where the method always wins on one and always loses on the other: every
    stratified resample keeps one dataset of each, so the mean is exactly 0.5."""
    est, lo, hi = poi_interval([[90.0, 91.0, 92.0], [10.0, 11.0, 12.0]], [[80.0, 81.0, 82.0], [20.0, 21.0, 22.0]])
    assert (est, lo, hi) == (0.5, 0.5, 0.5)


def test_against_an_exact_mann_whitney_holm_and_no_interval_below_five_runs() -> None:
    values = seed_values()
    poi = poi_frame(read_records(FIXTURES))
    voc = poi[(poi["protocol"] == "finetune") & (poi["dataset"] == "voc")].set_index("method")
    an = values[("finetune", "1p", "an", "", "voc")]
    for method, r in voc.iterrows():
        x = values[("finetune", "1p", method, "", "voc")]
        assert r["p_mw"] == pytest.approx(stats.mannwhitneyu(x, an, alternative="greater", method="exact").pvalue)
        assert r["diff"] == pytest.approx(np.mean(x) - np.mean(an))
        if len(x) >= 2:
            assert r["p_diff"] == pytest.approx(stats.ttest_ind(x, an, equal_var=False).pvalue)
        assert math.isnan(r["low"]) and (r["n"], r["n_baseline"]) == (len(x), 3)  # fewer than 5 runs: no interval
    # Holm over the methods of the dataset, by hand
    p = voc["p_mw"].tolist()
    order = np.argsort(p)
    adjusted = np.maximum.accumulate([min(1.0, (len(p) - r) * p[i]) for r, i in enumerate(order)])
    assert voc["p_mw_holm"].to_numpy()[order] == pytest.approx(adjusted)
    ll_r = voc.loc["ll_r"]
    assert ll_r["poi"] == 1.0 and ll_r["p_mw"] == pytest.approx(0.25) and math.isnan(ll_r["p_diff"])
    assert re.search(r"\| ll_r +\| 1 vs 3 +\| \+2\.63 +\| — +\| — +\| 1\.00 +\| 0\.2500 ", markdown(FIXTURES))


def test_the_bootstrap_interval_appears_from_five_runs_a_side() -> None:
    x, y = [70.0, 72.5, 69.0, 71.0, 73.0], [68.0, 71.0, 66.5, 69.5, 67.0]
    from leaderboard.compare import _interval

    assert not math.isnan(_interval([x], [y])[1]) and math.isnan(_interval([x[:4]], [y])[1])


# -- seeds for power -------------------------------------------------------------------------------
def _power(n: int, sigma: float, delta: float) -> float:
    """Two-sided two-sample t-test power, written out with scipy's noncentral t."""
    df = 2 * (n - 1)
    nc = delta / sigma * math.sqrt(n / 2)
    crit = stats.t.isf(0.025, df)
    return float(1 - stats.nct.cdf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


@pytest.mark.parametrize("sigma, delta", [(1.0, 1.0), (2.0, 1.0), (0.3, 1.0), (3.2, 1.0), (1.0, 0.5), (5.0, 2.0)])
def test_seeds_for_power_is_the_smallest_n_reaching_80_percent(sigma: float, delta: float) -> None:
    n = seeds_for_power(sigma, delta)
    assert _power(n, sigma, delta) >= 0.8 and (n == 2 or _power(n - 1, sigma, delta) < 0.8)
    assert power_two_sample(n, sigma, delta) == pytest.approx(_power(n, sigma, delta), abs=1e-12)


def test_seeds_for_power_matches_the_textbook_values() -> None:
    # Cohen's tables: d = 1 needs 17 per group, d = 0.5 needs 64 (two-sided 5%, 80% power)
    assert seeds_for_power(1.0, 1.0) == 17 and seeds_for_power(2.0, 1.0) == 64
    assert seeds_for_power(0.0, 1.0) == 2 and seeds_for_power(math.nan, 1.0) == 0
    try:
        from statsmodels.stats.power import TTestIndPower
    except ImportError:
        return
    assert seeds_for_power(1.5, 1.0) == math.ceil(TTestIndPower().solve_power(1 / 1.5, alpha=0.05, power=0.8))


def test_variance_table_pools_the_rows_of_each_dataset() -> None:
    records = read_records(FIXTURES)
    cells = main_cells(records)  # every cell with two runs or more, variants included
    cells = cells[cells["n"] >= 2]
    variance = variance_frame(records).set_index(["protocol", "dataset"])
    for (protocol, dataset), g in cells.groupby(["protocol", "dataset"]):
        dof = (g["n"] - 1).sum()
        sigma = math.sqrt(((g["n"] - 1) * g["std"] ** 2).sum() / dof)
        assert pooled_std(g["std"].tolist(), g["n"].tolist()) == (pytest.approx(sigma), dof)
        r = variance.loc[(protocol, dataset)]
        # the fixture's data seed is fixed: the spread is the model seed's alone
        assert r["total_std"] == pytest.approx(sigma) and r["model_std"] == pytest.approx(sigma)
        assert r["designs"] == f"model × {len(g)}" and math.isnan(r["data_std"])


def test_seeds_needed_per_comparison_with_the_best() -> None:
    values = seed_values()
    power = power_frame(read_records(FIXTURES))
    voc = power[power["dataset"] == "voc"].set_index("method")
    best = values[("finetune", "1p", "epr", "", "voc")]
    assert set(voc["best_method"]) == {"epr"} and set(voc.index) == {"an", "em", "zz_new"}
    alpha = 2 * 0.05 / 3  # the bold rule's level: one-sided 5%/(k − 1), k = 4 ranked rows
    for method, r in voc.iterrows():
        x = values[("finetune", "1p", method, "", "voc")]
        s1, s2 = np.std(x, ddof=1), np.std(best, ddof=1)
        assert r["seeds_1"] == seeds_for_power(s1, 1.0, alpha, 0.8, s2)
        assert r["seeds_1_low"] <= r["seeds_1"] <= r["seeds_1_high"]
        assert power_two_sample(min(len(x), len(best)), s1, r["resolves"], alpha, s2) == pytest.approx(0.8, abs=1e-6)
    text = power_text(FIXTURES, delta=1.5)
    assert "seeds for Δ = 1.5" in text and re.search(r"\| finetune\s+\| voc\s+\|", text)
    assert "model seed only" not in text and "| model × " in text
