"""Reports from the results store: the headline table per problem (mean ± standard error,
bootstrap interval, a test against the best strategy, the metric at an equal gradient-
evaluation budget, time to target), as Markdown, terminal text and one self-contained HTML
file, plus CSV exports and the plots."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganopt import get_problem

from . import html, plots
from .stats import bootstrap_ci, mann_whitney_p, mean_and_se, time_to_target, value_at_budget

SUMMARY_DROP = ["spec", "provenance", "finished"]


@dataclass(frozen=True)
class Protocol:
    """What "better" means on one kind of problem."""

    primary: str  # the metric the headline compares
    higher_is_better: bool
    label: str
    digits: int
    target: str  # a pandas query on curves: when a run has "solved" the problem

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


MIXTURE = Protocol("modes_covered", True, "modes covered", 1,
                   "modes_covered == modes_total and hq_fraction >= 0.5")
GAME = Protocol("dist_to_eq", False, "distance to equilibrium", 4, "dist_to_eq <= 0.1")
TARGET_TEXT = {"mixture and image": "every mode (class) covered and high-quality (confident) fraction ≥ 0.5",
               "game": "distance to equilibrium ≤ 0.1"}


def protocol_for(problem: str) -> Protocol:
    return GAME if get_problem(problem).kind == "game" else MIXTURE


def worst_if_diverged(runs: pd.DataFrame) -> pd.DataFrame:
    """A diverged run scores the worst value of each quality metric (0 modes covered, no
    high-quality sample, KL = log n, infinite distance to equilibrium or Fréchet distance): its
    last finite values would flatter the strategy that diverged."""
    runs = runs.copy()
    diverged = runs["status"] == "diverged"
    runs.loc[diverged, "modes_covered"] = 0.0
    runs.loc[diverged, "hq_fraction"] = 0.0
    runs.loc[diverged, "kl_modes"] = np.log(runs.loc[diverged, "modes_total"])
    runs.loc[diverged & runs["dist_to_eq"].notna(), "dist_to_eq"] = np.inf
    if "fid" in runs:
        runs.loc[diverged & runs["fid"].notna(), "fid"] = np.inf
    return runs


def fmt_number(x: float, digits: int) -> str:
    return f"{x:.3g}" if abs(x) >= 1e4 else f"{x:.{digits}f}"


def fmt_mean_se(values, digits: int) -> str:
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return "—"
    if np.isinf(values).any():
        return "∞"
    mean, se = mean_and_se(values)
    return fmt_number(mean, digits) if math.isnan(se) else f"{fmt_number(mean, digits)} ± {fmt_number(se, digits)}"


def fmt_ci(values, digits: int) -> str:
    low, high = bootstrap_ci(pd.Series(values, dtype=float).dropna())
    return "—" if math.isnan(low) else f"[{fmt_number(low, digits)}, {fmt_number(high, digits)}]"


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def equal_budget(runs: pd.DataFrame, curves: pd.DataFrame, x: str) -> float:
    """The largest budget every strategy reached: the smallest, over strategies, of the
    highest `x` that any of its finished runs recorded."""
    finished = runs[runs["status"].isin(["done", "diverged"])]
    reach = curves[curves["run_id"].isin(finished["run_id"])].groupby("run_id")[x].max()
    per_strategy = finished.assign(reach=finished["run_id"].map(reach)).groupby("strategy")["reach"].max()
    return float(per_strategy.min()) if not per_strategy.empty else math.nan


def at_budget(runs: pd.DataFrame, curves: pd.DataFrame, protocol: Protocol, x: str, budget: float) -> pd.Series:
    """The primary metric of each run at an equal budget; a run that diverged before the
    budget scores the worst value."""
    values = value_at_budget(curves, protocol.primary, x, budget)
    last_x = curves.groupby("run_id")[x].max()
    worst = 0.0 if protocol.higher_is_better else math.inf
    out = {}
    for row in runs.itertuples():
        if row.status == "diverged" and last_x.get(row.run_id, -1) < budget:
            out[row.run_id] = worst
        else:
            out[row.run_id] = values.get(row.run_id, math.nan)
    return pd.Series(out, dtype=float)


def problem_table(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy (in the order the suite listed them) for one problem's runs."""
    problem = runs["problem"].iloc[0]
    protocol = protocol_for(problem)
    scored = worst_if_diverged(runs)
    finished = scored[scored["status"].isin(["done", "diverged"])]
    means = finished.groupby("strategy", sort=False)[protocol.primary].mean()
    best = None
    for strategy, mean in means.items():
        if not math.isnan(mean) and (best is None or protocol.better(mean, means[best])):
            best = strategy
    budget = equal_budget(runs, curves, "grad_evals")
    budget_values = at_budget(runs, curves, protocol, "grad_evals", budget) if not math.isnan(budget) else None
    reached = time_to_target(curves, curves.eval(protocol.target)) if not curves.empty else pd.Series(dtype=float)

    rows = []
    for strategy, group in scored.groupby("strategy", sort=False):
        ok = group[group["status"].isin(["done", "diverged"])]
        primary = ok[protocol.primary]
        label = protocol.label
        if protocol is MIXTURE and group["modes_total"].notna().any():
            label = f"{protocol.label} (of {int(group['modes_total'].max())})"
        row = {
            "strategy": strategy + (" ★" if strategy == best else ""),
            "runs": len(group),
            "diverged": int((group["status"] == "diverged").sum()),
            "failed": int(group["status"].isin(["error", "timeout"]).sum()),
            label: fmt_mean_se(primary, protocol.digits),
            "95% CI": fmt_ci(primary, protocol.digits),
            "p vs ★": "—" if strategy == best or best is None else fmt_p(
                mann_whitney_p(primary, finished[finished["strategy"] == best][protocol.primary])),
        }
        if protocol is MIXTURE:
            image = get_problem(problem).kind == "image"
            row["confident fraction" if image else "high-quality fraction"] = fmt_mean_se(ok["hq_fraction"], 3)
            row["KL(modes ‖ uniform)"] = fmt_mean_se(ok["kl_modes"], 3)
            if image and ok["fid"].notna().any():
                row["Fréchet distance"] = fmt_mean_se(ok["fid"], 2)
        if budget_values is not None:
            row[f"{protocol.label} at {budget:.0f} evals"] = fmt_mean_se(budget_values.reindex(ok["run_id"]), protocol.digits)
        hits = reached.reindex(ok["run_id"])
        n_hit = int(np.isfinite(hits).sum())
        row["reached target"] = f"{n_hit}/{len(ok)}" + (f", median {np.median(hits[np.isfinite(hits)]):.0f} evals"
                                                       if n_hit else "")
        settings = group[["lr_g", "lr_d"]].drop_duplicates()
        row["lr_G / lr_D"] = (f"{settings['lr_g'].iloc[0]:.2g} / {settings['lr_d'].iloc[0]:.2g}"
                              if len(settings) == 1 else "varies")
        row["grad evals"] = fmt_mean_se(ok["grad_evals"], 0)
        row["wall s / run"] = fmt_mean_se(ok["wall_s"], 2)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_tables(runs: pd.DataFrame, curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {problem: problem_table(group, curves[curves["run_id"].isin(group["run_id"])])
            for problem, group in runs.groupby("problem", sort=False)}


NOTES = [
    "Mean ± standard error over seeds at each run's final evaluation; 95% CI: percentile bootstrap of the mean.",
    "★ marks the best strategy on the primary metric; `p vs ★`: two-sided Mann–Whitney U test against it.",
    "`at N evals`: the primary metric at the largest gradient-evaluation budget every strategy reached "
    "(an extragradient step costs 2 evaluations).",
    "A diverged run scores the worst value (0 modes, no high-quality sample, KL = log n, infinite distance "
    "or Fréchet distance); "
    "`failed` runs (error or timeout) have no metrics.",
    "Target: " + "; ".join(f"{k}: {v}" for k, v in TARGET_TEXT.items()) + ". A run that never reaches it counts "
    "as not reached. `wall s / run`: the training time of a run's stack divided by its size.",
]


TUNING_NOTE = ("Tuned: each strategy had the same number of learning-rate trials; the table reports its best "
               "trial (chosen on the tuning seeds) on fresh seeds; `sensitivity_PROBLEM.png` shows every trial.")


def to_markdown(tables: dict[str, pd.DataFrame], title: str, notes: list[str] = NOTES) -> str:
    lines = [f"# {title}", "", *[f"- {n}" for n in notes], ""]
    for problem, table in tables.items():
        lines += [f"## {problem}", "", markdown_table(table), ""]
    return "\n".join(lines)


def markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])




def to_terminal(tables: dict[str, pd.DataFrame]) -> str:
    parts = []
    for problem, table in tables.items():
        keep = [c for c in table.columns if not c.startswith("95%")]
        parts += [f"\n{problem}", table[keep].to_string(index=False)]
    return "\n".join(parts)


def curves_with_ids(runs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    return runs[["run_id", "problem", "strategy", "seed"]].merge(records, on="run_id", how="inner")


def write_report(out: Path, title: str, runs: pd.DataFrame, records: pd.DataFrame, samples: dict) -> str:
    """Write summary.csv, curves.csv, summary.md, report.html and every plot into `out`;
    return the terminal table.  `runs` and `records` are frames read from the store."""
    out.mkdir(parents=True, exist_ok=True)
    provenance = {row.run_id: json.loads(row.provenance) for row in runs.itertuples() if isinstance(row.provenance, str)}
    (out / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    runs.drop(columns=[c for c in SUMMARY_DROP if c in runs.columns]).to_csv(out / "summary.csv", index=False)
    curves = curves_with_ids(runs, records)
    curves.to_csv(out / "curves.csv", index=False)
    # With tuning, the headline compares each strategy's best setting on fresh seeds; the
    # tuning trials feed the sensitivity curves.
    tuned = runs["phase"] == "tune" if "phase" in runs.columns else pd.Series(False, index=runs.index)
    main = runs[~tuned]
    main_curves = curves[curves["run_id"].isin(main["run_id"])]
    tables = summary_tables(main, main_curves)
    notes = NOTES + ([TUNING_NOTE] if tuned.any() else [])
    (out / "summary.md").write_text(to_markdown(tables, title, notes) + "\n")
    figures = plots.write_plots(out, main, main_curves, samples)
    for problem, trials in runs[tuned].groupby("problem", sort=False):
        figures.setdefault(problem, []).append(plots.plot_sensitivity(out / f"sensitivity_{problem}.png", problem, trials))
    html.write_html(out / "report.html", title, notes, tables, figures, provenance)
    return to_terminal(tables)


def failure_table(runs: pd.DataFrame) -> str:
    failed = runs[runs["status"].isin(["error", "timeout"])]
    if failed.empty:
        return ""
    rows = failed[["problem", "strategy", "seed", "status", "reason"]]
    return f"{len(failed)} runs failed:\n" + rows.to_string(index=False)
