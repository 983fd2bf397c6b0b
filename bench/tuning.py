"""Choose each strategy's best tuning trial from stored results, by the same rule for all."""

from __future__ import annotations

import math

import pandas as pd

from .report import Scorecard, score_diverged


def select_best(tune_runs: pd.DataFrame, cards: dict[str, Scorecard]) -> dict[tuple[str, str], int]:
    """Per problem x strategy: the trial with the best mean primary metric over the tuning
    seeds (a diverged run scores the metric's declared worst value, a failed one the worst
    possible); ties go to the lower trial number."""
    scored = score_diverged(tune_runs, cards)
    best: dict[tuple[str, str], int] = {}
    for (problem, strategy), group in scored.groupby(["problem", "strategy"], sort=False):
        metric = cards[problem].primary
        failed = ~group["status"].isin(["done", "diverged"])
        primary = group[metric.name].astype(float).where(~failed, metric.worst).fillna(metric.worst)
        sign = 1.0 if metric.higher_is_better else -1.0
        table = pd.DataFrame({"trial": group["trial"], "score": sign * primary})
        means = table.groupby("trial").mean().reset_index()
        means["score"] = means["score"].fillna(-math.inf)
        means = means.sort_values(["score", "trial"], ascending=[False, True], kind="stable")
        best[(problem, strategy)] = int(means["trial"].iloc[0])
    return best
