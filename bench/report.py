"""Reports from the results store: per problem a stated verdict and the headline table (mean ±
standard error, bootstrap interval, Holm-corrected tests against the best strategy, the metric at
an equal gradient-evaluation budget, time to target), as Markdown, terminal text and one
self-contained HTML file, plus CSV exports and the plots.

Everything a report knows about a problem comes from its metric declarations (stored with its
runs): which metric is the headline, which way is better, what a diverged run scores, when a
run has reached the target.  No problem kind is special here."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ganopt.metrics import Metric
from ganopt.precision import DEFAULT_PRECISION, PRECISIONS

from . import files, html, plots
from .load import DECLARATIONS_FILE, curves_with_ids
from .spec import LR_SOURCES
from .scoring import FAILED, Scorecard, finished, oriented, score_diverged, scorecards
from .stats import (bootstrap_ci, cliffs_delta, fisher_p, holm, mann_whitney_p, mean_and_se, min_mann_whitney_p,
                    seeds_needed, still_moving, time_to_target, value_at_budget)

SUMMARY_DROP = ["spec", "provenance", "finished"]
ALPHA = 0.05


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
    done = runs[finished(runs)]
    reach = curves[curves["run_id"].isin(done["run_id"])].groupby("run_id")[x].max()
    per_strategy = done.assign(reach=done["run_id"].map(reach)).groupby("strategy")["reach"].max()
    return float(per_strategy.min()) if not per_strategy.empty else math.nan


def at_budget(runs: pd.DataFrame, curves: pd.DataFrame, metric: Metric, x: str, budget: float) -> pd.Series:
    """A metric of each run at an equal budget; a run that diverged before the budget scores
    the metric's declared worst value."""
    values = value_at_budget(curves, metric.name, x, budget)
    last_x = curves.groupby("run_id")[x].max()
    worst = metric.diverged if metric.diverged is not None else math.nan
    out = {}
    for row in runs.itertuples():
        if row.status == "diverged" and last_x.get(row.run_id, -1) < budget:
            out[row.run_id] = worst
        else:
            out[row.run_id] = values.get(row.run_id, math.nan)
    return pd.Series(out, dtype=float)


@dataclass
class Verdict:
    """The answer for one problem: the best strategy, who is statistically tied with it, who the
    design had too few seeds to tell apart from it, the effect size against the runner-up, and what
    stops the suite from deciding."""

    problem: str
    metric: Metric
    best: str | None = None
    best_value: str = ""
    tied: list[str] = field(default_factory=list)  # the test could have separated them, and did not
    undecided: list[str] = field(default_factory=list)  # no outcome of these seeds could have separated them
    needs: int = 0  # seeds per strategy at which the design can reach the Holm threshold
    adjusted_p: dict[str, float] = field(default_factory=dict)
    runner_up: str | None = None
    effect: float = math.nan  # Cliff's delta of the best against the runner-up (1: every seed better)
    design: str = ""  # the smallest p the seeds can reach beside Holm's threshold
    target_p: dict[str, float] = field(default_factory=dict)  # Fisher's exact test on reached counts, Holm
    target_hits: dict[str, tuple[int, int]] = field(default_factory=dict)  # (reached, runs) per strategy
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.best is None:
            head = f"No verdict on {self.metric.label}: no strategy finished a run without diverging."
        else:
            head = f"Best on {self.metric.label}: {self.best} ({self.best_value})"
            if self.tied:
                head += f"; statistically tied with {', '.join(self.tied)} (Holm-adjusted Mann–Whitney p > {ALPHA:g})"
            if self.undecided:
                head += (f"; undecided: needs {self.needs} seeds to tell {', '.join(self.undecided)} from it "
                         "(no outcome of these seeds could reach the Holm threshold)")
            ahead = [s for s, p in self.adjusted_p.items() if p <= ALPHA]
            if not self.tied and not self.undecided and self.runner_up is not None:
                head += f"; ahead of every other strategy (Holm-adjusted p ≤ {ALPHA:g})"
            elif ahead:
                head += f"; ahead of {', '.join(ahead)} (Holm-adjusted p ≤ {ALPHA:g})"
            if self.runner_up is not None and not math.isnan(self.effect):
                head += f"; effect against {self.runner_up}: Cliff's δ = {self.effect:+.2f}"
            head += "." + self._target_text() + (f" Design: {self.design}." if self.design else "")
        return " ".join([head] + [f"⚠ {w}" for w in self.warnings])

    def _target_text(self) -> str:
        """The strategies that reach the target less often than ★ by Fisher's exact test."""
        behind = [s for s, p in self.target_p.items() if p <= ALPHA]
        if not behind or self.best not in self.target_hits:
            return ""
        hits, runs = self.target_hits[self.best]
        counts = ", ".join(f"{s} {self.target_hits[s][0]}/{self.target_hits[s][1]}" for s in behind)
        return (f" Reached the target: {self.best} {hits}/{runs}, significantly more often than {counts} "
                f"(Fisher's exact test, Holm-adjusted p ≤ {ALPHA:g}).")


def design_text(seeds: int, comparisons: int) -> str:
    """What a design of `seeds` per strategy and `comparisons` Holm-corrected tests can decide:
    the smallest p its test can reach beside Holm's first threshold."""
    if comparisons < 1:
        return f"{seeds} seed{'s' if seeds != 1 else ''}, nothing to compare"
    floor, threshold = min_mann_whitney_p(seeds, seeds), ALPHA / comparisons
    text = (f"{seeds} seeds × {comparisons} comparison{'s' if comparisons != 1 else ''}: smallest reachable "
            f"p {floor:.2g} {'≤' if floor <= threshold else '>'} Holm threshold {ALPHA:g}/{comparisons} = "
            f"{threshold:.2g}")
    if floor > threshold:
        text += f" (undecided at any outcome: needs {seeds_needed(comparisons, ALPHA)} seeds)"
    return text


def decide(runs: pd.DataFrame, curves: pd.DataFrame, card: Scorecard, problem: str) -> Verdict:
    """The verdict for one problem from its runs (diverged runs already scored) and curves."""
    metric = card.primary
    verdict = Verdict(problem, metric)
    values = {s: g[metric.name].astype(float).dropna().to_numpy()
              for s, g in runs[finished(runs)].groupby("strategy", sort=False)}
    values = {s: v for s, v in values.items() if v.size}
    healthy = set(runs.loc[runs["status"] == "done", "strategy"])  # ★ never goes to all-diverged or failed
    def rank(strategy):  # better first: the mean (infinite values dominate), then the median
        better = oriented(metric, values[strategy])
        return _mean_or_inf(better), float(np.median(better))

    candidates = [s for s in values if s in healthy]
    reached = card.reached(curves)
    if candidates:
        best = max(candidates, key=rank)
        verdict.best = best
        verdict.best_value = fmt_mean_se(values[best], metric.digits)
        others = [s for s in values if s != best]
        _compare_with_best(verdict, values, others)
        if others:
            verdict.runner_up = max(others, key=rank)
            verdict.effect = cliffs_delta(oriented(metric, values[best]), oriented(metric, values[verdict.runner_up]))
        _compare_reached(verdict, runs[finished(runs)], curves, reached)
    else:
        verdict.warnings.append("every run diverged or failed.")
    verdict.warnings += _convergence_warnings(runs, curves, card, reached)
    return verdict


def _compare_with_best(verdict: Verdict, values: dict[str, np.ndarray], others: list[str]) -> None:
    """Holm-corrected Mann–Whitney tests of each other strategy against ★.  A strategy not
    separated is `tied` when its seeds could have separated it and `undecided` when no outcome
    could: complete separation of its seeds from ★'s gives min_mann_whitney_p, and Holm's first
    step asks for alpha / m."""
    best = verdict.best
    raw = {s: mann_whitney_p(values[s], values[best]) for s in others}
    verdict.adjusted_p = holm(raw)
    m = len(others)
    verdict.design = design_text(len(values[best]), m)
    not_separated = [s for s in others if not verdict.adjusted_p[s] <= ALPHA]
    powerless = {s for s in not_separated if min_mann_whitney_p(len(values[best]), len(values[s])) > ALPHA / m}
    verdict.tied = [s for s in not_separated if s not in powerless]
    verdict.undecided = [s for s in not_separated if s in powerless]
    verdict.needs = seeds_needed(m, ALPHA) if powerless else 0


def _compare_reached(verdict: Verdict, runs: pd.DataFrame, curves: pd.DataFrame, reached: pd.Series) -> None:
    """Fisher's exact test of how often each strategy reached the target against ★, Holm-corrected:
    where a metric is decided by the start point (the games), reached or not is the answer, and a
    count needs no assumption about the metric's distribution."""
    if not reached.any():
        return
    hit_ids = set(curves.loc[reached.to_numpy(), "run_id"])
    for strategy, group in runs.groupby("strategy", sort=False):
        verdict.target_hits[strategy] = (int(group["run_id"].isin(hit_ids).sum()), len(group))
    if verdict.best not in verdict.target_hits:
        return
    mine = verdict.target_hits[verdict.best]
    raw = {s: fisher_p(*mine, *hits) for s, hits in verdict.target_hits.items() if s != verdict.best}
    # only "fewer than ★" counts as behind: a strategy reaching it more often is not worse
    verdict.target_p = {s: p if verdict.target_hits[s][0] / verdict.target_hits[s][1] < mine[0] / mine[1] else 1.0
                        for s, p in holm(raw).items()}


def _convergence_warnings(runs: pd.DataFrame, curves: pd.DataFrame, card: Scorecard, reached: pd.Series) -> list[str]:
    """No run reached the target; the primary metric still moving at the end of the budget."""
    metric, warnings = card.primary, []
    if card.target.query and not curves.empty and not reached.any():
        warnings.append(f"no run reached the target ({card.target.text}).")
    done_ids = set(runs.loc[runs["status"] == "done", "run_id"])
    done_curves = curves[curves["run_id"].isin(done_ids)]
    if not done_curves.empty:
        moving = still_moving(done_curves, metric.name, metric.tolerance, metric.log, reached.loc[done_curves.index])
        by_strategy = runs.set_index("run_id").loc[moving.index, "strategy"]
        share = moving.groupby(by_strategy.to_numpy(), sort=False).mean()
        unsettled = [s for s, v in share.items() if v > 0.5]
        if unsettled:
            warnings.append(
                f"not converged: {metric.label} still moved by more than {metric.tolerance:g}"
                f"{' decades' if metric.log else ''} over the last 20% of the budget for most runs of "
                f"{', '.join(unsettled)}; a longer budget may change the ranking.")
    return warnings


def _mean_or_inf(v: np.ndarray) -> float:
    """Mean of sign-adjusted values (higher is better); infinite values dominate."""
    return float(np.mean(v)) if v.size else -math.inf


def problem_table(runs: pd.DataFrame, curves: pd.DataFrame, card: Scorecard, verdict: Verdict) -> pd.DataFrame:
    """One row per strategy (in the order the suite listed them) for one problem's runs (diverged
    runs already scored)."""
    primary = card.primary
    budget = equal_budget(runs, curves, "grad_evals")
    budget_values = at_budget(runs, curves, primary, "grad_evals", budget) if not math.isnan(budget) else None
    reached = time_to_target(curves, card.reached(curves)) if not curves.empty else pd.Series(dtype=float)
    label = primary.label
    if primary.of and primary.of in runs and runs[primary.of].notna().any():  # a count out of a declared total
        label = f"{label} (of {int(runs[primary.of].max())})"

    rows = []
    for strategy, group in runs.groupby("strategy", sort=False):
        ok = group[finished(group)]
        mark = (" ★" if strategy == verdict.best else " =" if strategy in verdict.tied
                else " ?" if strategy in verdict.undecided else "")
        p = verdict.adjusted_p.get(strategy, math.nan)
        row = {
            "strategy": strategy + mark,
            "runs": len(group),
            "diverged": int((group["status"] == "diverged").sum()),
            "failed": int(group["status"].isin(FAILED).sum()),
            label: fmt_mean_se(ok[primary.name], primary.digits),
            "95% CI": fmt_ci(ok[primary.name], primary.digits),
            "p vs ★ (Holm)": "—" if strategy == verdict.best else fmt_p(p),
        }
        for metric in card.columns():
            if metric.name in ok and ok[metric.name].notna().any():
                row[metric.label] = fmt_mean_se(ok[metric.name], metric.digits)
        if budget_values is not None:
            row[f"{primary.label} at {budget:.0f} evals"] = fmt_mean_se(budget_values.reindex(ok["run_id"]),
                                                                        primary.digits)
        hits = reached.reindex(ok["run_id"])
        n_hit = int(np.isfinite(hits).sum())
        row["reached target"] = f"{n_hit}/{len(ok)}" + (f", median {np.median(hits[np.isfinite(hits)]):.0f} evals"
                                                       if n_hit else "")
        if any(p <= ALPHA for p in verdict.target_p.values()):  # Fisher's test of reached counts, where it decides
            row["reached p vs ★ (Fisher, Holm)"] = ("—" if strategy == verdict.best
                                                    else fmt_p(verdict.target_p.get(strategy, math.nan)))
        settings = group[["lr_g", "lr_d"]].drop_duplicates()
        row["lr_G / lr_D"] = (f"{settings['lr_g'].iloc[0]:.2g} / {settings['lr_d'].iloc[0]:.2g}"
                              if len(settings) == 1 else "varies")
        row["grad evals"] = fmt_mean_se(ok["grad_evals"], 0)
        row["wall s / run"] = fmt_mean_se(ok["wall_s"], 2)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class ProblemReport:
    verdict: Verdict
    table: pd.DataFrame


def summary_tables(runs: pd.DataFrame, curves: pd.DataFrame, cards: dict[str, Scorecard]) -> dict[str, ProblemReport]:
    scored = score_diverged(runs, cards)
    out = {}
    for problem, group in scored.groupby("problem", sort=False):
        problem_curves = curves[curves["run_id"].isin(group["run_id"])]
        verdict = decide(group, problem_curves, cards[problem], problem)
        out[problem] = ProblemReport(verdict, problem_table(group, problem_curves, cards[problem], verdict))
    return out


NOTES = [
    "Each problem opens with its verdict: the best strategy (★) on the problem's primary metric, the strategies "
    "statistically tied with it (=: two-sided exact Mann–Whitney U tests against ★, Holm-corrected over the "
    f"comparisons, p > {ALPHA:g}), those its seeds were too few to tell apart from it (?: undecided, with the seeds "
    "needed), Cliff's δ against the runner-up, the design (the smallest p its seeds can reach beside Holm's "
    "threshold), and warnings (no run reached the target; the metric still moving over the last 20% of the "
    "budget). The ★ goes only to a strategy with at least one run that neither diverged nor failed.",
    "`reached p vs ★ (Fisher, Holm)`: where it separates some strategy from ★, Fisher's exact test of each strategy's "
    "count of runs that reached it against ★'s, Holm-corrected; 1 where a strategy reached it at least as often. "
    "On the analytic games the start point decides a run, and reached or not is the answer.",
    "Mean ± standard error over seeds at each run's final evaluation; 95% CI: percentile bootstrap of the mean.",
    "Columns marked (lit.) follow the published protocol (Srivastava et al. 2017; Lin et al. 2018), kept so that "
    "numbers can be set beside papers; they are not the headline.",
    "`at N evals`: the primary metric at the largest gradient-evaluation budget every strategy reached "
    "(an extragradient step costs 2 evaluations).",
    "A diverged run scores each metric's declared worst value (e.g. 0 modes, infinite distance); "
    "`failed` runs (error or timeout) have no metrics.",
    "`wall s / run`: the run's steps × its strategy's seconds per step measured alone (K = 1) on the same "
    "device, so that a run's time does not depend on the stack it trained in; a sweep on one machine "
    "measures all its strategies together, interleaved, so that machine load hits them alike.",
]


TUNING_NOTE = ("Tuned: each strategy had the same number of learning-rate trials; the table reports its best "
               "trial (chosen on the tuning seeds) on fresh seeds; `sensitivity_PROBLEM.png` shows every trial.")


def rate_notes(runs: pd.DataFrame) -> list[str]:
    """Per problem, where each strategy's rates came from, as recorded when its suite was
    expanded (`lr_source`, bench.spec.LR_SOURCES): tuned in this suite, the committed tuned
    table, the problem's untuned defaults, or set by the suite.  An untuned baseline is said,
    not hidden."""
    if runs.empty or "lr_g" not in runs:
        return []
    source = runs["lr_source"] if "lr_source" in runs else pd.Series(None, index=runs.index, dtype=object)
    notes = []
    for problem, group in runs.assign(lr_source=source).groupby("problem", sort=False):
        kinds: dict[str, list[str]] = {}
        for strategy, rows in group.groupby("strategy", sort=False):
            recorded = rows["lr_source"].dropna()
            kind = LR_SOURCES.get(recorded.iloc[0], recorded.iloc[0]) if len(recorded) else \
                "not recorded (stored before ganopt recorded where rates came from)"
            kinds.setdefault(kind, []).append(strategy)
        notes.append(f"Learning rates on {problem}: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in kinds.items()) + ".")
    return notes


def target_notes(cards: dict[str, Scorecard]) -> list[str]:
    targets = {f"{problem}: {card.target.text}" for problem, card in cards.items() if card.target.text}
    return ["Target (a run that never reaches it counts as not reached): " + "; ".join(sorted(targets)) + "."] \
        if targets else []


def to_markdown(reports: dict[str, ProblemReport], title: str, notes: list[str],
                literature: pd.DataFrame | None = None) -> str:
    lines = [f"# {title}", ""]
    for problem, report in reports.items():
        lines += [f"## {problem}", "", f"**Verdict.** {report.verdict.text()}", "", markdown_table(report.table), ""]
    if literature is not None:
        lines += ["## Beside the literature", "", markdown_table(literature), ""]
    lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def markdown_table(table: pd.DataFrame) -> str:
    def cell(value) -> str:  # a `|` in a name (strategy `a|b`) would end its cell; a newline, its row
        return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def to_terminal(reports: dict[str, ProblemReport]) -> str:
    parts = []
    for problem, report in reports.items():
        keep = [c for c in report.table.columns if not c.startswith("95%")]
        parts += [f"\n{problem}", f"verdict: {report.verdict.text()}", report.table[keep].to_string(index=False)]
    return "\n".join(parts)


def label_precisions(budgeted: pd.DataFrame) -> pd.DataFrame:
    """Runs of one strategy at two precisions are two rows of every table: when the runs (with
    their `precision` column, from the loader) hold more than one precision, a strategy's runs at
    another than fp32 read `adam@bf16`."""
    precision = budgeted.get("precision", pd.Series(dtype=object)).fillna(DEFAULT_PRECISION)
    if precision.nunique() < 2:
        return budgeted
    other = precision != DEFAULT_PRECISION
    return budgeted.assign(strategy=budgeted["strategy"].where(~other, budgeted["strategy"] + "@" + precision))


# What makes two runs of one strategy name different experiments (the precision aside:
# label_precisions): their budget, schedule, problem options and every strategy setting but the
# rates (the declared hyperparameters too: the columns the loader read from each run's spec).
VARIANT_COLUMNS = ("planned_steps", "lr_schedule", "options", "scheme", "base", "estimate", "lr_ratio",
                   "beta", "beta1", "beta2", "eps", "d_steps")


def label_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs of one name on one problem that differ in budget or settings (one suite run at two
    budgets into a store, two suites defining `[strategy.mine]` differently) are not pooled: each
    variant is a row of its own, its name followed by what sets it apart, `mine [planned_steps
    300, gamma 2.0]`.  Tuning trials differ in their rates by design and keep their name, and
    rates are not compared (a tuned preset's rates are its protocol's choice)."""
    if runs.empty or "strategy" not in runs:
        return runs
    hyper = sorted({k for t in runs.get("spec", []) if isinstance(t, str)
                    for k in json.loads(t).get("settings", {}).get("hyper", {})})
    columns = [c for c in (*VARIANT_COLUMNS, *hyper) if c in runs]
    keyed = runs[columns].astype(str)
    tuned = runs["phase"].eq("tune") if "phase" in runs else pd.Series(False, index=runs.index)
    labels = runs["strategy"].copy()
    for _, group in keyed[~tuned].groupby([runs["problem"], runs["strategy"]], sort=False):
        differing = [c for c in columns if group[c].nunique() > 1]
        for index in group.index if differing else ():
            labels[index] = f"{runs.at[index, 'strategy']} [" + ", ".join(
                f"{c} {_short(group.at[index, c])}" for c in differing) + "]"
    return runs.assign(strategy=labels)


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def write_report(out: Path, title: str, runs: pd.DataFrame, records: pd.DataFrame, samples: dict,
                 declarations: dict[str, tuple], references: list | None = None) -> str:
    """Write summary.csv, curves.csv, declarations.json, summary.md, report.html and every plot
    into `out`; return the terminal text.  `runs` and `records` are frames read from the store,
    `declarations` its problems' metric declarations (Store.declarations)."""
    out.mkdir(parents=True, exist_ok=True)
    cards = scorecards(runs["problem"], declarations)
    provenance = write_provenance(out, runs, cards)
    budgeted = label_variants(label_precisions(runs))  # the loader's columns: planned_steps, precision, …
    runs = runs.assign(strategy=budgeted["strategy"])
    files.write_csv(out / "summary.csv", budgeted.drop(columns=[c for c in SUMMARY_DROP if c in runs.columns]))
    curves = curves_with_ids(runs, records)
    files.write_csv(out / "curves.csv", curves)
    # With tuning, the headline compares each strategy's best setting on fresh seeds; the
    # tuning trials feed the sensitivity curves.
    tuned = runs["phase"] == "tune" if "phase" in runs.columns else pd.Series(False, index=runs.index)
    main = runs[~tuned]
    main_curves = curves[curves["run_id"].isin(main["run_id"])]
    reports = summary_tables(main, main_curves, cards)
    literature = literature_table(budgeted[~tuned], cards, references or [])
    if literature is not None:
        files.write_csv(out / "literature.csv", literature)
    elif (out / "literature.csv").is_file():  # a report rewritten without references keeps no stale table
        (out / "literature.csv").unlink()
    notes = (NOTES + target_notes(cards) + ([TUNING_NOTE] if tuned.any() else []) + rate_notes(main)
             + ([LITERATURE_NOTE] if literature is not None else []) + budget_notes(budgeted[~tuned])
             + per_stack_notes(main, main_curves, cards))
    files.write_text(out / "summary.md", to_markdown(reports, title, notes, literature) + "\n")
    figures = plots.write_plots(out, main, main_curves, samples, cards)
    for problem, trials in runs[tuned].groupby("problem", sort=False):
        figures.setdefault(problem, []).append(
            plots.plot_sensitivity(out / f"sensitivity_{problem}.png", problem, score_diverged(trials, cards),
                                   cards[problem].primary))
    html.write_html(out / "report.html", title, notes, reports, figures, provenance, literature)
    text = to_terminal(reports)
    if literature is not None:
        text += "\n\nbeside the literature\n" + literature.drop(columns=["source"]).to_string(index=False)
    return text


def write_provenance(out: Path, runs: pd.DataFrame, cards: dict[str, Scorecard]) -> dict[str, dict]:
    """Write provenance.json (run id -> provenance) and declarations.json (what the report was
    scored with, so that a report folder can be read back without the problems' code)."""
    from ganopt.metrics import declarations_to_json

    provenance = {run_id: json.loads(text) for run_id, text in zip(runs["run_id"], runs.get("provenance", []))
                  if isinstance(text, str)}
    files.write_text(out / "provenance.json", json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    files.write_text(out / DECLARATIONS_FILE, json.dumps(
        {p: declarations_to_json(c.metrics, c.target) for p, c in cards.items()}, indent=1, sort_keys=True) + "\n")
    return provenance


def budget_notes(budgeted: pd.DataFrame) -> list[str]:
    """What the runs (the loader's lr_schedule and precision columns) were trained with, where
    it is not the default: a learning-rate schedule, another arithmetic than fp32."""
    notes = []
    schedules = set(budgeted.get("lr_schedule", pd.Series(dtype=object)).dropna()) - {"constant"}
    if schedules:
        notes.append(f"Learning-rate schedule: {', '.join(sorted(schedules))} (ganopt.schedules): every run's "
                     "rates held for the first half of its steps, then decreased linearly to 1/(steps/2) at "
                     "the last.")
    precisions = budgeted.get("precision", pd.Series(dtype=object)).dropna().value_counts()
    if set(precisions.index) - {DEFAULT_PRECISION}:
        mixed = len(precisions) > 1  # then label_precisions named the other precisions' strategies
        parts = [f"{k} ({n} runs{f', as strategy@{k}' if mixed and k != DEFAULT_PRECISION else ''}): {PRECISIONS[k]}"
                 for k, n in sorted(precisions.items())]
        notes.append(f"Arithmetic of the training steps (ganopt.precision): {'; '.join(parts)}; evaluations in "
                     "the problem's own dtype.")
    return notes


def per_stack_notes(runs: pd.DataFrame, curves: pd.DataFrame, cards: dict[str, Scorecard]) -> list[str]:
    """The seconds a stack spent outside training, from the metrics declared `per_stack` (the
    game-dynamics diagnostics): every run of a stack records its stack's seconds, so a run's
    share of the total is 1/stack_size."""
    notes = []
    for name in dict.fromkeys(m.name for card in cards.values() for m in card.metrics if m.per_stack):
        if name in curves and curves[name].notna().any():
            sizes = runs.set_index("run_id")["stack_size"].reindex(curves["run_id"]).to_numpy()
            total = float((curves[name].to_numpy() / sizes)[~np.isnan(sizes)].sum())
            notes.append(f"Game-dynamics diagnostics (ganopt.diagnostics; `diagnostics_PROBLEM.png`): {total:.3g} s "
                         f"in all, {curves[name].max():.3g} s at most for one stack at one "
                         "evaluation; measured apart from training (not in `wall_s` or `grad_evals`), and they "
                         "change no trajectory.")
    return notes


LITERATURE_NOTE = ("Beside the literature: ganopt's mean ± s.e. over the suite's seeds and the published value; "
                   "`inside`: ganopt's mean lies in the published interval (given, or the published value ± 2 "
                   "published s.e.), or, for a value published without spread, the value lies within ganopt's "
                   "mean ± 2 s.e.  Each row names its source (paper, table, row) and the steps ganopt's runs "
                   "trained: a run shorter than the protocol's budget is a check of the machinery, not of the paper.")


def literature_table(runs: pd.DataFrame, cards: dict[str, Scorecard], references: list) -> pd.DataFrame | None:
    """`runs` with their budget columns (planned_steps, from the loader): the table shows the steps they planned."""
    from .references import reference_table

    present = set(zip(runs["problem"], runs["strategy"]))
    references = [r for r in references if (r.problem, r.strategy) in present]
    if not references:
        return None
    digits = {f"{p}/{m.name}": m.digits for p, c in cards.items() for m in c.metrics}
    return reference_table(score_diverged(runs, cards), references, digits)


def failure_table(runs: pd.DataFrame) -> str:
    failed = runs[runs["status"].isin(FAILED)]
    if failed.empty:
        return ""
    rows = failed[["problem", "strategy", "seed", "status", "reason"]]
    return f"{len(failed)} runs failed:\n" + rows.to_string(index=False)
