"""Compare two result sets (a baseline and a change) per problem x strategy and flag
statistically significant regressions in quality and cost: a quality gate for CI."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .report import Scorecard, read_declarations, score_diverged, scorecards
from .stats import mann_whitney_p
from .store import Store, StoreError

# wall time on a 2-core machine varied by up to 79% between quiet repeats (benchmarks/README.md),
# so only a 2x slowdown counts, and only when it costs at least WALL_MIN_SECONDS per run (the
# wall time of very short runs is mostly start-up noise)
WALL_MIN_SECONDS = 0.5
WALL_MIN_CHANGE = 1.0
COST_METRICS = [("grad_evals", 0.0), ("wall_s", WALL_MIN_CHANGE)]  # lower is better


def load_runs(path: Path, suite: str | None = None) -> tuple[pd.DataFrame, dict[str, tuple]]:
    """Runs (final metrics as columns) and their problems' metric declarations, from a store
    file or from a report folder (its summary.csv and declarations.json)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "summary.csv").is_file():
            raise StoreError(f"{path} has no summary.csv: give a results store or a report folder")
        runs = pd.read_csv(path / "summary.csv")
        declarations = read_declarations(path)
    elif path.is_file():
        with Store(path) as store:
            runs = store.runs_frame()
            declarations = store.declarations()
    else:
        raise StoreError(f"{path} does not exist")
    if suite is not None:
        if "suite" not in runs.columns or suite not in set(runs["suite"]):
            raise StoreError(f"{path} has no runs of suite {suite!r}")
        runs = runs[runs["suite"] == suite]
    if runs.empty:
        raise StoreError(f"{path} holds no runs")
    return runs, declarations


def compare_runs(baseline: pd.DataFrame, change: pd.DataFrame, cards: dict[str, Scorecard],
                 alpha: float = 0.05) -> pd.DataFrame:
    """One row per problem x strategy x metric present in both: every ranked metric the problem
    declares, gradient evaluations and wall time.  `regression` is True when the change is worse
    with a one-sided Mann-Whitney p <= alpha (and, for wall time, by more than the noise), or
    when more runs diverged or failed."""
    rows = []
    a_all, b_all = score_diverged(baseline, cards), score_diverged(change, cards)
    for (problem, strategy), b in b_all.groupby(["problem", "strategy"], sort=False):
        a = a_all[(a_all["problem"] == problem) & (a_all["strategy"] == strategy)]
        if a.empty:
            continue
        a_bad = int((a["status"] != "done").sum())
        b_bad = int((b["status"] != "done").sum())
        rows.append({"problem": problem, "strategy": strategy, "metric": "runs not done",
                     "baseline": a_bad, "change": b_bad, "relative": math.nan, "p": math.nan,
                     "regression": b_bad / len(b) > a_bad / len(a)})
        a_ok = a[a["status"].isin(["done", "diverged"])]
        b_ok = b[b["status"].isin(["done", "diverged"])]
        checks = [(m.name, m.higher_is_better, 0.0) for m in cards[problem].metrics if m.ranked]
        checks += [(name, False, min_change) for name, min_change in COST_METRICS]
        for metric, higher, min_change in checks:
            if metric not in a_ok or metric not in b_ok:
                continue
            x, y = a_ok[metric].astype(float), b_ok[metric].astype(float)
            if x.dropna().empty or y.dropna().empty:
                continue
            mean_a, mean_b = x.mean(), y.mean()
            p = mann_whitney_p(y, x, alternative="less" if higher else "greater")
            worse = mean_b < mean_a if higher else mean_b > mean_a
            relative = (mean_b - mean_a) / abs(mean_a) if mean_a not in (0, math.inf, -math.inf) else math.nan
            big_enough = min_change == 0 or (not math.isnan(relative) and abs(relative) > min_change)
            if metric == "wall_s":
                big_enough = big_enough and mean_b - mean_a > WALL_MIN_SECONDS
            rows.append({"problem": problem, "strategy": strategy, "metric": metric, "baseline": mean_a,
                         "change": mean_b, "relative": relative, "p": p,
                         "regression": bool(worse and not math.isnan(p) and p <= alpha and big_enough)})
    return pd.DataFrame(rows)


def compare_sets(baseline: Path, change: Path, suite: str | None, alpha: float) -> pd.DataFrame:
    """Load both result sets and compare them, with the declarations either side carries."""
    a, a_declared = load_runs(baseline, suite)
    b, b_declared = load_runs(change, suite)
    cards = scorecards(pd.concat([a["problem"], b["problem"]]), {**a_declared, **b_declared})
    return compare_runs(a, b, cards, alpha)
