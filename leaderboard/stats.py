"""The statistics the leaderboard states beside its numbers, over a handful of seeds.

- ``t_interval``: the 95% confidence interval of a cell's mean, Student's t over its seeds
  (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n); none for one run.
- ``welch_below``: one-sided Welch t-test (unequal variances, Welch–Satterthwaite degrees of
  freedom) of "this row's mean is below that row's".
  ``welch_interval`` the Welch t interval of the difference of two means (the recipe gap).
- ``best_set``: the 95% confidence set for the best row and each row's rank interval — Hsu's
  multiple comparisons with the best in its Bonferroni form: every pair of rows is compared by
  ``welch_below`` at (1 − level)/(k − 1); a row's rank runs from 1 + the rows significantly above it
  to k − the rows significantly below it, and the set holds the rows whose rank can be 1. The truly
  best row is outside the set only if one of the k − 1 rows below it beats it significantly:
  probability ≤ (k − 1)·(1 − level)/(k − 1) (Bonferroni), whatever the other rows' means.
- ``holm``: Holm's step-down adjustment of a family of p-values (per dataset: the methods vs AN).
- ``mann_whitney_p``: the exact one-sided Mann–Whitney p of "X tends to exceed Y" (scipy, exact).
- ``probability_of_improvement``: P(X > Y) estimated over every pair of runs (i, j), a tie counting
  one half — the Mann–Whitney U statistic over n·m, as in rliable (Agarwal et al., NeurIPS 2021);
  ``poi_interval`` its percentile interval from a stratified bootstrap: the runs of each
  algorithm are resampled with replacement independently within each task (dataset), and the
  per-task probabilities averaged.
- ``seeds_for_power``: seeds per row needed to resolve a difference Δ with a two-sided two-sample
  t-test at level α and the given power, from the two rows' own stds (exact noncentral t, Welch
  degrees of freedom at equal n); ``sigma_limits`` the chi-square confidence limits of a std, which
  turned into a range of seeds carry the uncertainty of the variance estimates.
- ``variance_components``: which seed axes a cell's runs vary (model seed only, paired with the
  data seed, or crossed) and, for a crossed design, the two-way random-effects ANOVA estimates
  (method of moments, clipped at 0) of the model-seed, data-seed and residual variances.

Pure numpy/scipy, no pandas; the golden test checks each against a direct scipy computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as st
from scipy.optimize import brentq

LEVEL = 0.95  # every interval on the page
ALPHA = 0.05  # the two-sided tests against AN and of the seeds needed
BOOTSTRAP_REPS = 5000
BOOTSTRAP_SEED = 0  # a fixed generator: the same records give the same intervals
MAX_SEEDS = 100_000


def t_interval(mean: float, std: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """(low, high) of the t-based interval of a mean over ``n`` runs with sample std ``std``; NaN
    for fewer than two runs."""
    if n < 2 or not math.isfinite(std):
        return math.nan, math.nan
    half = float(st.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def welch_below(mean: float, std: float, n: float, best_mean: float, best_std: float, best_n: float) -> float:
    """p-value of the one-sided Welch test H₁: μ < μ_best. NaN where a side has fewer than two runs.
    Two spreads of zero leave the difference exact: p = 0 below the best, 1 otherwise."""
    if n < 2 or best_n < 2:
        return math.nan
    se2, df = _welch(std, n, best_std, best_n)
    if se2 == 0:
        return 0.0 if mean < best_mean else 1.0
    return float(st.t.cdf((mean - best_mean) / math.sqrt(se2), df))


def _welch(std: float, n: float, std2: float, n2: float) -> tuple[float, float]:
    """The squared standard error of a difference of two means and its Welch–Satterthwaite df."""
    va, vb = std**2 / n, std2**2 / n2
    se2 = va + vb
    return se2, (se2**2 / (va**2 / (n - 1) + vb**2 / (n2 - 1)) if se2 > 0 else math.inf)


def welch_interval(
    mean: float, std: float, n: int, mean2: float, std2: float, n2: int, level: float = LEVEL
) -> tuple[float, float]:
    """(low, high) of the Welch t interval of ``mean − mean2``; NaN where a side has fewer than two runs."""
    if n < 2 or n2 < 2:
        return math.nan, math.nan
    se2, df = _welch(std, n, std2, n2)
    half = float(st.t.ppf(0.5 + level / 2, df)) * math.sqrt(se2) if se2 > 0 else 0.0
    return mean - mean2 - half, mean - mean2 + half


def best_set(
    means: Sequence[float], stds: Sequence[float], ns: Sequence[float], level: float = LEVEL
) -> list[tuple[int, int]]:
    """Each row's rank interval (low, high) among the given rows (each with two runs or more), by
    Welch tests at (1 − level)/(k − 1) one-sided between every pair; a row is in the confidence set
    for the best when its interval starts at 1."""
    k = len(means)
    a = (1 - level) / max(k - 1, 1)
    above = [
        [j != i and welch_below(means[i], stds[i], ns[i], means[j], stds[j], ns[j]) < a for j in range(k)]
        for i in range(k)
    ]  # above[i][j]: row j is significantly above row i
    return [(1 + sum(above[i]), k - sum(above[j][i] for j in range(k))) for i in range(k)]


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (NaN left out of the family and kept NaN): the i-th smallest of m is
    max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if math.isfinite(p))
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank_, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(known) - rank_) * p))
        out[i] = running
    return out


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Exact one-sided Mann–Whitney p of H₁: X stochastically greater than Y (ties not corrected)."""
    return float(st.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue)


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """Fraction of pairs (i, j) with x_i > y_j, ties counting one half."""
    a = np.asarray(x, dtype=float)[:, None]
    b = np.asarray(y, dtype=float)[None, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))


def _poi_batch(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """P(X > Y) for each bootstrap replicate: xs (reps, n), ys (reps, m) → (reps,)."""
    a, b = xs[:, :, None], ys[:, None, :]
    return ((a > b) + 0.5 * (a == b)).mean(axis=(1, 2))


def poi_interval(
    x_by_task: Sequence[Sequence[float]],
    y_by_task: Sequence[Sequence[float]],
    reps: int = BOOTSTRAP_REPS,
    level: float = LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(estimate, low, high): the mean over tasks of P(X > Y) and its stratified-bootstrap percentile
    interval. ``x_by_task[k]`` are X's runs on task k (any number, at least one)."""
    rng = np.random.default_rng(seed)
    point = float(np.mean([probability_of_improvement(x, y) for x, y in zip(x_by_task, y_by_task)]))
    boot = np.zeros(reps)
    for x_runs, y_runs in zip(x_by_task, y_by_task):
        x, y = np.asarray(x_runs, dtype=float), np.asarray(y_runs, dtype=float)
        xs = x[rng.integers(0, len(x), size=(reps, len(x)))]
        ys = y[rng.integers(0, len(y), size=(reps, len(y)))]
        boot += _poi_batch(xs, ys)
    boot /= len(x_by_task)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return point, float(lo), float(hi)


def pooled_std(stds: Sequence[float], ns: Sequence[int]) -> tuple[float, int]:
    """(pooled std, degrees of freedom): √(Σ(nᵢ−1)sᵢ² / Σ(nᵢ−1)) over the rows with two runs or more."""
    pairs = [(s, n) for s, n in zip(stds, ns) if n >= 2 and math.isfinite(s)]
    dof = sum(n - 1 for _, n in pairs)
    if dof == 0:
        return math.nan, 0
    return math.sqrt(sum((n - 1) * s**2 for s, n in pairs) / dof), dof


def power_two_sample(n: int, sigma: float, delta: float, alpha: float = ALPHA, sigma2: float | None = None) -> float:
    """Power of the two-sided two-sample t-test with ``n`` runs per row, true difference ``delta``
    and stds ``sigma`` and ``sigma2`` (default: equal): P(|T| > t₁₋α/₂) with T noncentral t, ncp
    Δ/√((σ₁² + σ₂²)/n), Welch df (σ₁² + σ₂²)²(n − 1)/(σ₁⁴ + σ₂⁴) — 2n − 2 at equal stds."""
    v1, v2 = sigma**2, (sigma if sigma2 is None else sigma2) ** 2
    if v1 + v2 == 0:
        return 1.0
    df = (v1 + v2) ** 2 * (n - 1) / (v1**2 + v2**2)
    ncp = delta / math.sqrt((v1 + v2) / n)
    crit = float(st.t.ppf(1 - alpha / 2, df))
    # scipy's nct.cdf is NaN far in the tail opposite a large noncentrality, where it is 0 to any precision
    return float(st.nct.sf(crit, df, ncp) + np.nan_to_num(st.nct.cdf(-crit, df, ncp)))


def seeds_for_power(
    sigma: float, delta: float = 1.0, alpha: float = ALPHA, power: float = 0.8, sigma2: float | None = None
) -> int:
    """The fewest seeds per row (≥ 2) at which ``power_two_sample`` reaches ``power``; 0 where σ is
    unknown, ``MAX_SEEDS + 1`` where even ``MAX_SEEDS`` is not enough."""
    s2 = sigma if sigma2 is None else sigma2
    if not (math.isfinite(sigma) and math.isfinite(s2)):
        return 0
    if power_two_sample(MAX_SEEDS, sigma, delta, alpha, s2) < power:
        return MAX_SEEDS + 1
    # the normal approximation is a lower bound to start from; the t-test needs a few more
    z = float(st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power))
    n = max(2, int((sigma**2 + s2**2) * (z / delta) ** 2))
    while n > 2 and power_two_sample(n - 1, sigma, delta, alpha, s2) >= power:
        n -= 1
    while power_two_sample(n, sigma, delta, alpha, s2) < power:
        n += 1
    return n


def resolvable_delta(n: int, sigma: float, sigma2: float, alpha: float = ALPHA, power: float = 0.8) -> float:
    """The difference that ``n`` seeds a row resolve with ``power`` (inverse of ``power_two_sample``)."""
    if n < 2 or not (math.isfinite(sigma) and math.isfinite(sigma2)):
        return math.nan
    hi = 1.0
    while power_two_sample(n, sigma, hi, alpha, sigma2) < power:
        hi *= 2
    return float(brentq(lambda d: power_two_sample(n, sigma, d, alpha, sigma2) - power, 0.0, hi, xtol=1e-6))


def sigma_limits(std: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The chi-square confidence limits of a normal std from ``n`` runs: √((n−1)s²/χ²)."""
    if n < 2 or not math.isfinite(std):
        return math.nan, math.nan
    q_hi, q_lo = st.chi2.ppf([(1 + level) / 2, (1 - level) / 2], n - 1)
    return std * math.sqrt((n - 1) / q_hi), std * math.sqrt((n - 1) / q_lo)


#: the seed designs of a cell (which axes its runs vary) and what its spread then includes
DESIGNS = {
    "model": "model seed only (data seed fixed)",
    "paired": "model and data seed varied together (paired): both, not separable",
    "crossed": "model × data seed crossed: both, separated by a two-way ANOVA (the runs share seeds: the "
    "interval and the ranks use the mean's variance model/a + data/b + residual/(ab), Satterthwaite df)",
    "mixed": "model and data seed, unbalanced: both, not separated",
}


def variance_components(values: Sequence[float], seeds: Sequence[int], data_seeds: Sequence[object]) -> dict:
    """``design`` (a key of ``DESIGNS``) and, for a crossed design (every model seed with every data
    seed, one run each, two or more of each), the variances ``model``, ``data`` and ``residual``
    (the model × data interaction and the rest): with a model seeds, b data seeds and mean squares
    MS_M, MS_D, MS_E, model = (MS_M − MS_E)/b, data = (MS_D − MS_E)/a, residual = MS_E, clipped at 0;
    ``var_mean`` = model/a + data/b + residual/(ab), the variance of the cell's mean when its runs share
    seeds, with ``df_mean`` its Satterthwaite degrees of freedom (each component's own mean squares)."""
    pairs = list(zip(seeds, data_seeds))
    ms, ds = sorted(set(seeds)), sorted(set(data_seeds), key=repr)
    if len(ds) <= 1:
        return {"design": "model"}
    if len(set(pairs)) == len(pairs) == len(ms) == len(ds):
        return {"design": "paired"}
    if len(set(pairs)) != len(pairs) or len(pairs) != len(ms) * len(ds) or len(ms) < 2:
        return {"design": "mixed"}
    grid = np.full((len(ms), len(ds)), math.nan)
    for v, (m, d) in zip(values, pairs):
        grid[ms.index(m), ds.index(d)] = v
    a, b = grid.shape
    mean = grid.mean()
    ms_m = b * ((grid.mean(axis=1) - mean) ** 2).sum() / (a - 1)
    ms_d = a * ((grid.mean(axis=0) - mean) ** 2).sum() / (b - 1)
    resid = grid - grid.mean(axis=1, keepdims=True) - grid.mean(axis=0, keepdims=True) + mean
    ms_e = (resid**2).sum() / ((a - 1) * (b - 1))
    model, data = max(0.0, (ms_m - ms_e) / b), max(0.0, (ms_d - ms_e) / a)
    # the mean's variance, model/a + data/b + residual/(ab) (the runs share seeds), as mean squares
    # c_M·MS_M + c_D·MS_D + c_E·MS_E over ab (a clipped component drops its term), and its Satterthwaite df
    c_m, c_d = float(model > 0), float(data > 0)
    terms = [(c_m * ms_m, a - 1), (c_d * ms_d, b - 1), ((1 - c_m - c_d) * ms_e, (a - 1) * (b - 1))]
    var_mean = sum(t for t, _ in terms) / (a * b)
    den = sum((t / (a * b)) ** 2 / df for t, df in terms)
    return {
        "design": "crossed",
        "model": model,
        "data": data,
        "residual": float(ms_e),
        "var_mean": float(var_mean),
        "df_mean": float(var_mean**2 / den) if den > 0 else float(a * b - 1),
    }
