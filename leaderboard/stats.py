"""The statistics the leaderboard states beside its numbers, over a handful of seeds.

- ``t_interval``: the 95% confidence interval of a cell's mean, Student's t over its seeds
  (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n); none for one run.
- ``welch_below``: one-sided Welch t-test (unequal variances, Welch–Satterthwaite degrees of
  freedom) of "this row's mean is below the best row's"; a row is tied with the best when p ≥ 0.05.
- ``probability_of_improvement``: P(X > Y) estimated over every pair of runs (i, j), a tie counting
  one half — the Mann–Whitney U statistic over n·m, as in rliable (Agarwal et al., NeurIPS 2021);
  ``poi_interval`` its percentile interval from a stratified bootstrap: the runs of each
  algorithm are resampled with replacement independently within each task (dataset), and the
  per-task probabilities averaged.
- ``seeds_for_power``: seeds per row needed to resolve a difference Δ with a two-sided two-sample
  t-test at level α and the given power, σ being the observed pooled seed std (exact noncentral t).

Pure numpy/scipy, no pandas; the golden test checks each against a direct scipy computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as st

LEVEL = 0.95  # every interval on the page
ALPHA = 0.05  # the one-sided test of the bold marks
BOOTSTRAP_REPS = 5000
BOOTSTRAP_SEED = 0  # a fixed generator: the same records give the same intervals
MAX_SEEDS = 100_000


def t_interval(mean: float, std: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """(low, high) of the t-based interval of a mean over ``n`` runs with sample std ``std``; NaN
    for fewer than two runs."""
    if n < 2 or not math.isfinite(std):
        return math.nan, math.nan
    half = float(st.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def welch_below(mean: float, std: float, n: int, best_mean: float, best_std: float, best_n: int) -> float:
    """p-value of the one-sided Welch test H₁: μ < μ_best. NaN where a side has fewer than two runs.
    Two spreads of zero leave the difference exact: p = 0 below the best, 1 otherwise."""
    if n < 2 or best_n < 2:
        return math.nan
    va, vb = std**2 / n, best_std**2 / best_n
    se2 = va + vb
    if se2 == 0:
        return 0.0 if mean < best_mean else 1.0
    t = (mean - best_mean) / math.sqrt(se2)
    df = se2**2 / (va**2 / (n - 1) + vb**2 / (best_n - 1))
    return float(st.t.cdf(t, df))


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


def power_two_sample(n: int, sigma: float, delta: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided two-sample t-test with ``n`` runs per row, true difference ``delta``
    and common std ``sigma``: P(|T| > t₁₋α/₂) with T noncentral t (df 2n−2, ncp Δ/(σ√(2/n)))."""
    if sigma == 0:
        return 1.0
    df = 2 * n - 2
    ncp = delta / (sigma * math.sqrt(2.0 / n))
    crit = float(st.t.ppf(1 - alpha / 2, df))
    return float(st.nct.sf(crit, df, ncp) + st.nct.cdf(-crit, df, ncp))


def seeds_for_power(sigma: float, delta: float = 1.0, alpha: float = ALPHA, power: float = 0.8) -> int:
    """The fewest seeds per row (≥ 2) at which ``power_two_sample`` reaches ``power``; 0 where σ is
    unknown, ``MAX_SEEDS + 1`` where even ``MAX_SEEDS`` is not enough."""
    if not math.isfinite(sigma):
        return 0
    if power_two_sample(MAX_SEEDS, sigma, delta, alpha) < power:
        return MAX_SEEDS + 1
    # the normal approximation is a lower bound to start from; the t-test needs a few more
    z = float(st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power))
    n = max(2, int(2 * (z * sigma / delta) ** 2))
    while n > 2 and power_two_sample(n - 1, sigma, delta, alpha) >= power:
        n -= 1
    while power_two_sample(n, sigma, delta, alpha) < power:
        n += 1
    return n
