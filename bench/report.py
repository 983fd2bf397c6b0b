"""Reports from the results store: CSV exports, mean +- standard error over seeds per
problem x strategy as Markdown (summary.md) and as the terminal table, and the plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ganopt import get_problem

from . import plots

MIXTURE_METRICS = [("modes_covered", "modes covered", 1), ("hq_fraction", "high-quality fraction", 3),
                   ("kl_modes", "KL(modes ‖ uniform)", 3)]
GAME_METRICS = [("dist_to_eq", "distance to equilibrium", 4)]
COST_METRICS = [("grad_evals", "gradient evals", 0), ("wall_s", "wall s / run", 2)]


def mean_se(values: pd.Series, digits: int) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    if np.isinf(values).any():
        return "∞"
    mean = values.mean()
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    se = values.std(ddof=1) / math.sqrt(len(values))
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def worst_if_diverged(runs: pd.DataFrame) -> pd.DataFrame:
    """A diverged run scores the worst value of each quality metric (0 modes covered, no
    high-quality sample, KL = log n, infinite distance): its last finite values would flatter
    the strategy that diverged."""
    runs = runs.copy()
    diverged = runs["status"] == "diverged"
    runs.loc[diverged, "modes_covered"] = 0.0
    runs.loc[diverged, "hq_fraction"] = 0.0
    runs.loc[diverged, "kl_modes"] = np.log(runs.loc[diverged, "modes_total"])
    runs.loc[diverged & runs["dist_to_eq"].notna(), "dist_to_eq"] = np.inf
    return runs


def problem_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy (in the order the suite listed them) for one problem's runs."""
    is_game = get_problem(runs["problem"].iloc[0]).kind == "game"
    runs = worst_if_diverged(runs)
    metrics = (GAME_METRICS if is_game else MIXTURE_METRICS) + COST_METRICS
    rows = []
    for strategy, group in runs.groupby("strategy", sort=False):
        row = {"strategy": strategy, "runs": len(group),
               "diverged": int((group["status"] == "diverged").sum()),
               "failed": int(group["status"].isin(["error", "timeout"]).sum())}
        for column, label, digits in metrics:
            if column == "modes_covered":
                total = group["modes_total"].max()
                label = f"modes covered (of {int(total)})" if pd.notna(total) else "modes covered"
            row[label] = mean_se(group[column], digits)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {problem: problem_table(runs) for problem, runs in summary.groupby("problem", sort=False)}


def to_markdown(tables: dict[str, pd.DataFrame], title: str) -> str:
    lines = [f"# {title}", "",
             "Mean ± standard error over seeds, final evaluation of each run. A diverged run (counted "
             "in `diverged`) scores the worst value of each quality metric: 0 modes, no high-quality "
             "sample, KL = log n, infinite distance. `failed` runs (error or timeout) have no "
             "metrics. `wall s / run` is the training time of a run's stack divided by its size.", ""]
    for problem, table in tables.items():
        lines += [f"## {problem}", "", _markdown_table(table), ""]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def to_terminal(tables: dict[str, pd.DataFrame]) -> str:
    parts = []
    for problem, table in tables.items():
        parts += [f"\n{problem}", table.to_string(index=False)]
    return "\n".join(parts)


SUMMARY_DROP = ["spec", "provenance", "suite", "finished"]


def write_report(out: Path, title: str, runs: pd.DataFrame, records: pd.DataFrame, samples: dict) -> str:
    """Write summary.csv, curves.csv, summary.md and every plot into `out`; return the
    terminal table.  `runs` and `records` are frames read from the store."""
    out.mkdir(parents=True, exist_ok=True)
    provenance = {row.run_id: json.loads(row.provenance) for row in runs.itertuples()}
    (out / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    runs.drop(columns=[c for c in SUMMARY_DROP if c in runs.columns]).to_csv(out / "summary.csv", index=False)
    ident = runs[["run_id", "problem", "strategy", "seed"]]
    curves = ident.merge(records, on="run_id", how="inner")
    curves.to_csv(out / "curves.csv", index=False)
    tables = summary_tables(runs)
    (out / "summary.md").write_text(to_markdown(tables, title) + "\n")
    plots.write_plots(out, runs, curves, samples)
    return to_terminal(tables)


def failure_table(runs: pd.DataFrame) -> str:
    failed = runs[runs["status"].isin(["error", "timeout"])]
    if failed.empty:
        return ""
    rows = failed[["problem", "strategy", "seed", "status", "reason"]]
    return f"{len(failed)} runs failed:\n" + rows.to_string(index=False)
