"""Compare two result sets (a baseline and a change) per problem x strategy and flag
statistically significant regressions in quality and cost: a quality gate for CI."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .report import protocol_for, worst_if_diverged
from .stats import mann_whitney_p
from .store import Store, StoreError

# metric, higher is better, smallest relative change that counts: wall time on a 2-core
# machine varied by up to 79% between quiet repeats (benchmarks/README.md), so only a 2x
# slowdown counts, and only when it costs at least WALL_MIN_SECONDS per run (the wall time of
# very short runs is mostly start-up noise)
WALL_MIN_SECONDS = 0.5
CHECKS = [("modes_covered", True, 0.0), ("hq_fraction", True, 0.0), ("kl_modes", False, 0.0),
          ("dist_to_eq", False, 0.0), ("grad_evals", False, 0.0), ("wall_s", False, 1.0)]


def load_runs(path: Path, suite: str | None = None) -> pd.DataFrame:
    """Runs from a store file or from a report folder (its summary.csv)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "summary.csv").is_file():
            raise StoreError(f"{path} has no summary.csv: give a results store or a report folder")
        runs = pd.read_csv(path / "summary.csv")
    elif path.is_file():
        with Store(path) as store:
            runs = store.runs_frame()
    else:
        raise StoreError(f"{path} does not exist")
    if suite is not None:
        if "suite" not in runs.columns or suite not in set(runs["suite"]):
            raise StoreError(f"{path} has no runs of suite {suite!r}")
        runs = runs[runs["suite"] == suite]
    if runs.empty:
        raise StoreError(f"{path} holds no runs")
    return runs


def compare_runs(baseline: pd.DataFrame, change: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per problem x strategy x metric present in both; `regression` is True when the
    change is worse with a one-sided Mann-Whitney p <= alpha and by more than the metric's
    minimum relative change, or when more runs diverged or failed."""
    rows = []
    a_all, b_all = worst_if_diverged(baseline), worst_if_diverged(change)
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
        kind_metrics = {"modes_covered", "hq_fraction", "kl_modes"} if protocol_for(problem).primary == "modes_covered" \
            else {"dist_to_eq"}
        for metric, higher, min_change in CHECKS:
            if metric not in kind_metrics | {"grad_evals", "wall_s"}:
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
