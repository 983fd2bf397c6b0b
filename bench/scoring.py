"""Scoring: how a run's result is read before anything is ranked, in one place for the report,
the tuning protocol, compare and load_results.

- which runs have a result (FINISHED: done or diverged; error and timeout runs have none),
- what a diverged run scores (each metric's declared value: its last finite values would flatter
  the strategy that diverged),
- which way is better (`sign`: one rule, so that a ranking is always a maximum),
- which tuning trial is best (`select_best`).

Everything here comes from the problems' metric declarations (Scorecard); no problem is special."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganopt.metrics import Metric, Target

from .schema import FAILED, FINISHED

__all__ = ["FAILED", "FINISHED", "Scorecard", "finished", "oriented", "scorecards", "score_diverged", "select_best",
           "sign"]


def finished(runs: pd.DataFrame) -> pd.Series:
    """Per run: has it a result (done, or diverged and scored at the declared values)?"""
    return runs["status"].isin(FINISHED)


def sign(metric: Metric) -> float:
    """+1 where higher is better, −1 where lower is: `sign * value` is larger for the better
    run, so every ranking is a maximum."""
    return 1.0 if metric.higher_is_better else -1.0


def oriented(metric: Metric, values) -> np.ndarray:
    """`values` of `metric` turned so that higher is better (see `sign`)."""
    return sign(metric) * np.asarray(values, dtype=float)


@dataclass(frozen=True)
class Scorecard:
    """One problem's metric declarations, as the harness reads them."""

    metrics: tuple[Metric, ...]
    target: Target

    @property
    def primary(self) -> Metric:
        return next(m for m in self.metrics if m.primary)

    def columns(self) -> list[Metric]:
        """The ranked metrics of the headline table after the primary: ganopt's own, then the
        literature's."""
        shown = [m for m in self.metrics if m.ranked and m.show and not m.primary]
        return [m for m in shown if not m.literature] + [m for m in shown if m.literature]

    def drawn(self, plot: str) -> list[Metric]:
        """The metrics declared to be drawn as `plot` (ganopt.metrics.PLOTS), in declared order."""
        return [m for m in self.metrics if m.plot == plot]

    def reached(self, curves: pd.DataFrame) -> pd.Series:
        """Per evaluation (aligned with `curves`): has the run reached the target?"""
        if curves.empty or not self.target.query:
            return pd.Series(False, index=curves.index)
        try:
            return curves.eval(self.target.query).fillna(False).astype(bool)
        except (KeyError, NameError, pd.errors.UndefinedVariableError):  # a metric the runs did not record
            return pd.Series(False, index=curves.index)


def scorecards(problems, stored: dict[str, tuple]) -> dict[str, Scorecard]:
    """The declarations of each problem: as stored with its runs, else from the registry (a
    report folder written before declarations were stored)."""
    from ganopt import declarations
    from ganopt.problems import PROBLEMS

    cards = {}
    for name in dict.fromkeys(problems):
        if name in stored:
            cards[name] = Scorecard(*stored[name])
        elif name in PROBLEMS:
            cards[name] = Scorecard(declarations(PROBLEMS[name]), PROBLEMS[name].target)
        else:
            raise ValueError(f"no metric declarations for problem {name!r}: it is not registered (load its plugin) "
                             "and the results carry none")
    return cards


def score_diverged(runs: pd.DataFrame, cards: dict[str, Scorecard]) -> pd.DataFrame:
    """A diverged run scores each metric's declared worst value (e.g. 0 modes, infinite distance):
    its last finite values would flatter the strategy that diverged."""
    runs = runs.copy()
    for name in {m.name for card in cards.values() for m in card.metrics} - set(runs.columns):
        runs[name] = math.nan  # declared but not recorded (e.g. every run failed)
    diverged = runs["status"] == "diverged"
    for problem, card in cards.items():
        rows = diverged & (runs["problem"] == problem)
        if rows.any():
            for metric in card.metrics:
                if metric.diverged is not None:
                    runs.loc[rows, metric.name] = metric.diverged
    return runs


def select_best(tune_runs: pd.DataFrame, cards: dict[str, Scorecard]) -> dict[tuple[str, str], int]:
    """Per problem x strategy: the tuning trial with the best mean primary metric over the tuning
    seeds (a diverged run scores the metric's declared worst value, a failed one the worst
    possible); ties go to the lower trial number."""
    scored = score_diverged(tune_runs, cards)
    best: dict[tuple[str, str], int] = {}
    for (problem, strategy), group in scored.groupby(["problem", "strategy"], sort=False):
        metric = cards[problem].primary
        primary = group[metric.name].astype(float).where(finished(group), metric.worst).fillna(metric.worst)
        table = pd.DataFrame({"trial": group["trial"], "score": oriented(metric, primary)})
        means = table.groupby("trial").mean().reset_index()
        means["score"] = means["score"].fillna(-math.inf)
        means = means.sort_values(["score", "trial"], ascending=[False, True], kind="stable")
        best[(problem, strategy)] = int(means["trial"].iloc[0])
    return best
