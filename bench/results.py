"""Results from Python: a results store (or a report folder) as tidy pandas frames, for notebooks
and plots of your own.

    from bench.results import load_results
    res = load_results("results/ganopt.sqlite", suite="quick")
    res.runs        # one row per run: problem, strategy, seed, status, settings, final metrics
    res.curves      # one row per run per evaluation: step, grad_evals, wall_s, every metric
    res.metrics     # one row per problem per declared metric: label, direction, primary, ...
    res.scored()    # runs with diverged runs at each metric's declared worst value
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .load import curves_with_ids, load
from .scoring import Scorecard, score_diverged, scorecards
from .store import StoreError


@dataclass
class Results:
    runs: pd.DataFrame
    curves: pd.DataFrame
    metrics: pd.DataFrame
    cards: dict[str, Scorecard]

    def scored(self) -> pd.DataFrame:
        """The runs with each diverged run scored at its metrics' declared worst values (what the
        report's tables average); error and timeout runs keep no metrics."""
        return score_diverged(self.runs, self.cards)

    def primary(self, problem: str) -> str:
        """The name of a problem's headline metric."""
        return self.cards[problem].primary.name


def load_results(path: str | Path, suite: str | None = None) -> Results:
    """Load a results store (an SQLite file) or a report folder (summary.csv, curves.csv and
    declarations.json); `suite` keeps only that suite's runs."""
    loaded = load(Path(path), suite)
    runs = loaded.runs
    try:
        cards = scorecards(runs["problem"], loaded.declarations)
    except ValueError as e:
        raise StoreError(str(e)) from None
    rows = [{"problem": problem, **dataclasses.asdict(metric), "target": card.target.query}
            for problem, card in cards.items() for metric in card.metrics]
    return Results(runs.reset_index(drop=True), curves_with_ids(runs, loaded.records), pd.DataFrame(rows), cards)
