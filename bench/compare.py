"""Compare two result sets (a baseline and a change) per problem x strategy and flag
statistically significant regressions in quality and cost: a quality gate for CI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from .load import load
from .scoring import Scorecard, finished, score_diverged, scorecards
from .stats import mann_whitney_p
from .store import StoreError

# Costs, lower is better: (column, gated).  Gradient evaluations are counted exactly, so any
# significant rise is a regression.  Wall time is shown, never judged here: two suites run one
# after the other share no load (quiet repeats on a 2-core machine varied by up to 79%), so the
# A/B timing of `bench ab`, base and change alternating on the same machine, decides whether a
# change got slower (benchmarks/ci_gate.sh runs both).
COST_METRICS = [("grad_evals", True), ("wall_s", False)]


def compare_runs(baseline: pd.DataFrame, change: pd.DataFrame, cards: dict[str, Scorecard],
                 alpha: float = 0.05) -> pd.DataFrame:
    """One row per problem x strategy x metric present in both: every ranked metric the problem
    declares, gradient evaluations and wall time.  `regression` is True when the change is worse
    with a one-sided Mann-Whitney p <= alpha (wall time: never, it is shown for information), or
    when more runs diverged or failed; and one regression row per problem x strategy of the
    baseline that the change lacks (missing_cells)."""
    a_all, b_all = score_diverged(baseline, cards), score_diverged(change, cards)
    rows = missing_cells(a_all, b_all)
    for (problem, strategy), b in b_all.groupby(["problem", "strategy"], sort=False):
        a = a_all[(a_all["problem"] == problem) & (a_all["strategy"] == strategy)]
        if a.empty:
            continue
        a_bad = int((a["status"] != "done").sum())
        b_bad = int((b["status"] != "done").sum())
        rows.append({"problem": problem, "strategy": strategy, "metric": "runs not done",
                     "baseline": a_bad, "change": b_bad, "relative": math.nan, "p": math.nan,
                     "regression": b_bad / len(b) > a_bad / len(a)})
        a_ok, b_ok = a[finished(a)], b[finished(b)]
        checks = [(m.name, m.higher_is_better, True) for m in cards[problem].metrics if m.ranked]
        checks += [(name, False, gated) for name, gated in COST_METRICS]
        for metric, higher, gated in checks:
            if metric not in a_ok or metric not in b_ok:
                continue
            x, y = a_ok[metric].astype(float), b_ok[metric].astype(float)
            rows += unscored(problem, strategy, metric, x, y)
            x, y = x.dropna(), y.dropna()
            if x.empty or y.empty:
                continue
            mean_a, mean_b = x.mean(), y.mean()
            p = mann_whitney_p(y, x, alternative="less" if higher else "greater")
            worse = mean_b < mean_a if higher else mean_b > mean_a
            relative = (mean_b - mean_a) / abs(mean_a) if mean_a not in (0, math.inf, -math.inf) else math.nan
            rows.append({"problem": problem, "strategy": strategy, "metric": metric, "baseline": mean_a,
                         "change": mean_b, "relative": relative, "p": p,
                         "regression": bool(gated and worse and not math.isnan(p) and p <= alpha)})
    return pd.DataFrame(rows)


def unscored(problem: str, strategy: str, metric: str, x: pd.Series, y: pd.Series) -> list[dict]:
    """A row for finished runs without a value of `metric` (a store changed by hand, a metric
    that failed): they are left out of its test, so they are counted, and a change with a
    larger share of them than the baseline is a regression."""
    a_missing, b_missing = int(x.isna().sum()), int(y.isna().sum())
    if not (a_missing or b_missing):
        return []
    return [{"problem": problem, "strategy": strategy, "metric": f"{metric}: finished runs without a value",
             "baseline": a_missing, "change": b_missing, "relative": math.nan, "p": math.nan,
             "regression": b_missing / len(y) > a_missing / len(x)}]


def missing_cells(baseline: pd.DataFrame, change: pd.DataFrame) -> list[dict]:
    """A regression row for every problem x strategy the baseline has and the change lacks: a
    change that drops a cell (or whose runs of it never reached the store) must not pass as
    "no significant regression"."""
    have = set(zip(change["problem"], change["strategy"]))
    return [{"problem": problem, "strategy": strategy, "metric": "runs in the change", "baseline": len(a),
             "change": 0, "relative": -1.0, "p": math.nan, "regression": True}
            for (problem, strategy), a in baseline.groupby(["problem", "strategy"], sort=False)
            if (problem, strategy) not in have]


def specs(runs: pd.DataFrame, problem: str) -> dict[str, set]:
    """What one problem's runs were asked to do: their step budgets, evaluation intervals and
    problem options (file paths aside: a data folder may live elsewhere on another machine).
    From the stored spec, else from a report folder's columns; what a set does not record is
    absent (an older report folder has no eval_every)."""
    runs = runs[runs["problem"] == problem]
    out: dict[str, set] = {}
    # the loader's columns (bench.load): a store's from each run's spec, a folder's from summary.csv
    if "planned_steps" in runs and runs["planned_steps"].notna().any():
        out["steps"] = set(runs["planned_steps"].dropna().astype(int))
    elif (runs["status"] == "done").any():  # an old folder: a done run trained its whole budget
        out["steps"] = set(runs.loc[runs["status"] == "done", "steps"].dropna().astype(int))
    for key in ("eval_every", "lr_schedule", "precision"):
        if key in runs:
            values = runs[key].dropna()
            out[key] = set(values.astype(int)) if key == "eval_every" else set(values)
    if "options" in runs and runs["options"].notna().all():
        from ganopt.problems import PROBLEMS

        paths = PROBLEMS[problem].PATH_OPTIONS if problem in PROBLEMS else ()
        out["options"] = {json.dumps({k: v for k, v in json.loads(text).items() if k not in paths}, sort_keys=True)
                          for text in runs["options"]}
    return {key: values for key, values in out.items() if values}


def check_same_specs(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Refuse to compare results of different specs: a 3,000-step baseline against a 20-step
    change would find "no significant regression" in numbers that mean different things."""
    for problem in sorted(set(a["problem"]) & set(b["problem"])):
        sa, sb = specs(a, problem), specs(b, problem)
        for key in ("steps", "eval_every", "options", "lr_schedule", "precision"):
            if key in sa and key in sb and sa[key] != sb[key]:
                show = lambda values: " / ".join(str(v) for v in sorted(values))  # noqa: E731
                raise StoreError(f"{problem}: the baseline ran {key} {show(sa[key])}, the change {key} "
                                 f"{show(sb[key])}; compare results of the same spec (--suite selects one suite)")


def compare_sets(baseline: Path, change: Path, suite: str | None, alpha: float) -> pd.DataFrame:
    """Load both result sets and compare them, with the declarations either side carries."""
    a_set, b_set = load(baseline, suite, records=False), load(change, suite, records=False)
    a, a_declared, b, b_declared = a_set.runs, a_set.declarations, b_set.runs, b_set.declarations
    check_same_specs(a, b)
    try:
        cards = scorecards(pd.concat([a["problem"], b["problem"]]), {**a_declared, **b_declared})
    except ValueError as e:
        raise StoreError(str(e)) from None
    return compare_runs(a, b, cards, alpha)
