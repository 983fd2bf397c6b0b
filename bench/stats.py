"""Statistics for fair comparisons: intervals over seeds, pairwise tests, budgets,
time-to-target and performance profiles.  Every test of this module checks against scipy or
a hand computation on known data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

def mean_and_se(values) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n)); se is NaN for fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan
    if x.size < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def bootstrap_ci(values, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (scipy.stats.bootstrap); NaN below 2 values,
    the value itself when every value is equal."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2 or np.isinf(x).any():
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    result = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=resamples,
                             method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mann_whitney_p(a, b, alternative: str = "two-sided") -> float:
    """p-value of the Mann-Whitney U test between two samples; 1.0 when they are identical
    constants (no evidence of a difference), NaN when a side is empty.  Exact (the permutation
    distribution of the rank sum, ties included) up to EXACT_UP_TO values in all, so that no p
    falls below what the design can reach (min_mann_whitney_p): scipy's normal approximation,
    which it takes whenever values tie (e.g. diverged runs, all scored alike), gives 0.013 for
    4 tied values against 4 others where the exact test cannot go below 0.029."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return math.nan
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    if a.size + b.size <= EXACT_UP_TO:
        return _exact_rank_sum_p(a, b, alternative)
    return float(stats.mannwhitneyu(a, b, alternative=alternative).pvalue)


EXACT_UP_TO = 60  # values in both samples together: the exact count below costs O(n^3) then


def _exact_rank_sum_p(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    """The exact p of a's rank sum among all C(n, len(a)) ways to split the pooled values, midranks
    for ties (doubled: integers, so that sums compare exactly)."""
    ranks = np.rint(2 * stats.rankdata(np.concatenate([a, b]))).astype(int)
    # ways[k, s]: the number of k-subsets of the pooled values whose doubled rank sum is s
    ways = np.zeros((a.size + 1, int(ranks.sum()) + 1))
    ways[0, 0] = 1.0
    for r in ranks:
        ways[1:, r:] = ways[1:, r:] + ways[:-1, :-r]
    share = ways[a.size] / ways[a.size].sum()
    observed = int(ranks[:a.size].sum())
    greater, less = float(share[observed:].sum()), float(share[:observed + 1].sum())
    if alternative == "greater":
        return min(1.0, greater)
    if alternative == "less":
        return min(1.0, less)
    return min(1.0, 2 * min(greater, less))


def value_at_budget(curves: pd.DataFrame, column: str, x: str, budget: float) -> pd.Series:
    """Per run: `column` at the last evaluation with `x` (steps, grad_evals or wall_s) <= budget."""
    within = curves[curves[x] <= budget + 1e-9]
    last = within.sort_values(x).groupby("run_id").tail(1)
    return last.set_index("run_id")[column]


def time_to_target(curves: pd.DataFrame, reached: pd.Series, x: str = "grad_evals") -> pd.Series:
    """Per run: the first `x` at which the boolean Series `reached` (aligned with curves) holds;
    inf for a run that never reaches it (counted, not dropped)."""
    hits = curves[reached.to_numpy()].groupby("run_id")[x].min()
    return hits.reindex(curves["run_id"].unique()).fillna(math.inf)


def performance_profile(costs: pd.DataFrame, taus) -> pd.DataFrame:
    """Dolan & Moré (2002): `costs` has one row per problem and one column per strategy (lower
    is better, inf = failed).  Returns rho_s(tau), the fraction of problems on which a strategy's
    cost is within a factor tau of the best strategy's, for each tau (rows) and strategy."""
    values = costs.to_numpy(dtype=float)
    best = values.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(values == best, 1.0, values / best)
    ratios[~np.isfinite(best[:, 0])] = np.inf  # a problem no strategy solves: failed for all
    ratios = pd.DataFrame(np.nan_to_num(ratios, nan=np.inf), index=costs.index, columns=costs.columns)
    profile = {s: [(ratios[s] <= tau).mean() for tau in taus] for s in costs.columns}
    return pd.DataFrame(profile, index=pd.Index(list(taus), name="tau"))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN and
    does not count as a comparison."""
    finite = sorted((p, key) for key, p in pvalues.items() if not math.isnan(p))
    m = len(finite)
    adjusted, running = {}, 0.0
    for i, (p, key) in enumerate(finite):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[key] = running
    return {key: adjusted.get(key, math.nan) for key in pvalues}


def cliffs_delta(a, b) -> float:
    """Cliff's delta: P(a > b) - P(a < b) over all pairs, in [-1, 1] (0: no effect, 1: every a
    above every b); NaN when a side is empty.  Infinite values compare as usual."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return math.nan
    greater = (a[:, None] > b[None, :]).sum()
    less = (a[:, None] < b[None, :]).sum()
    return float((greater - less) / (a.size * b.size))


def min_mann_whitney_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value a Mann-Whitney U test can reach with n1 and n2 values (complete
    separation): 2 / C(n1 + n2, n1), ties or not (mann_whitney_p is exact).  Below 4 seeds a side it
    exceeds 0.05.  Fisher's exact test on counts reached/not reached has the same floor (n1 of n1
    against 0 of n2)."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def seeds_needed(comparisons: int, alpha: float = 0.05, most: int = 1000) -> int:
    """The fewest seeds per strategy with which a Holm correction over `comparisons` tests can
    reject at all: Holm's first step needs a raw p <= alpha / comparisons, and the smallest p of
    n against n seeds is min_mann_whitney_p(n, n) (which also lets every completely separated
    comparison through, since m equal p-values adjust to m x p)."""
    m = max(1, comparisons)
    return next(n for n in range(1, most + 1) if min_mann_whitney_p(n, n) <= alpha / m)


def fisher_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided p of Fisher's exact test that two strategies reach a target equally often
    (hits out of runs each); 1.0 when a side has no runs."""
    if n_a < 1 or n_b < 1:
        return 1.0
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    return float(stats.fisher_exact(table).pvalue)


def still_moving(curves: pd.DataFrame, column: str, tolerance: float, log: bool = False,
                 reached: pd.Series | None = None, window: float = 0.2) -> pd.Series:
    """Per run: True when `column` changed by more than `tolerance` over the last `window` of the
    run's steps (from its value at (1 - window) x its last step to its last value; in decades
    when `log`).  A run that met its target at both ends of the window counts as settled:
    e.g. a distance that keeps shrinking after it passed the target decides nothing.
    `reached` is a boolean Series aligned with `curves`."""
    out = {}
    for run_id, run in curves.groupby("run_id", sort=False):
        run = run.sort_values("step")
        last_step = run["step"].iloc[-1]
        before = run[run["step"] <= (1 - window) * last_step + 1e-9]
        if before.empty or len(run) < 2:
            out[run_id] = False
            continue
        start, end = float(before[column].iloc[-1]), float(run[column].iloc[-1])
        if reached is not None and bool(reached.loc[before.index[-1]]) and bool(reached.loc[run.index[-1]]):
            out[run_id] = False
            continue
        if log:
            if start > 0 and end > 0 and math.isfinite(start) and math.isfinite(end):
                change = abs(math.log10(end / start))
            else:
                change = 0.0 if start == end else math.inf
        else:
            change = abs(end - start) if math.isfinite(start) and math.isfinite(end) else \
                (0.0 if start == end else math.inf)
        out[run_id] = change > tolerance
    return pd.Series(out, dtype=bool)
