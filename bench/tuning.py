"""Choose each strategy's best tuning trial from stored results, by the same rule for all."""

from __future__ import annotations

import math

import pandas as pd

from .report import protocol_for, worst_if_diverged


def select_best(tune_runs: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Per problem x strategy: the trial with the best mean primary metric over the tuning
    seeds (a diverged or failed run scores the worst value); ties go to the higher mean
    high-quality fraction, then to the lower trial number."""
    scored = worst_if_diverged(tune_runs)
    best: dict[tuple[str, str], int] = {}
    for (problem, strategy), group in scored.groupby(["problem", "strategy"], sort=False):
        protocol = protocol_for(problem)
        worst = -math.inf if protocol.higher_is_better else math.inf
        failed = ~group["status"].isin(["done", "diverged"])
        primary = group[protocol.primary].astype(float).where(~failed, worst).fillna(worst)
        sign = 1.0 if protocol.higher_is_better else -1.0
        hq = group["hq_fraction"].astype(float).fillna(0.0) if "hq_fraction" in group else 0.0
        table = pd.DataFrame({"trial": group["trial"], "score": sign * primary, "hq": hq})
        means = table.groupby("trial").mean().reset_index()
        means = means.sort_values(["score", "hq", "trial"], ascending=[False, False, True], kind="stable")
        best[(problem, strategy)] = int(means["trial"].iloc[0])
    return best
