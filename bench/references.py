"""Published numbers beside ganopt's: a suite's `[[reference]]` tables.

    [[reference]]
    problem = "ring8"
    strategy = "pacgan-gan"
    metric = "modes_covered"
    value = 6.3
    se = 0.5                      # optional: the publication's standard error
    # interval = [5.8, 6.8]       # optional instead: a published interval
    source = "Lin et al. 2018 (PacGAN), Table 1, row GAN, 2D-ring, modes (max 8)"

The report prints, per reference, ganopt's mean ± s.e. over the suite's seeds, the published
value and whether ganopt's mean lies inside the published interval: the interval itself when one
is given, else the published value ± 2 published s.e., else (a value with no spread) whether the
published value lies within ganopt's mean ± 2 s.e."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .stats import mean_and_se

REFERENCE_KEYS = ("problem", "strategy", "metric", "value", "se", "interval", "source")


@dataclass(frozen=True)
class Reference:
    problem: str
    strategy: str
    metric: str
    value: float
    source: str
    se: float | None = None
    interval: tuple[float, float] | None = None

    def agreement(self, mean: float, se: float) -> tuple[str, bool | None]:
        """(the rule applied, whether ganopt's mean agrees); None when it cannot be decided."""
        decided = not math.isnan(mean)  # an infinite mean (diverged runs of a distance) is decided: outside
        if self.interval is not None:
            low, high = self.interval
            return f"published interval [{low:g}, {high:g}]", bool(low <= mean <= high) if decided else None
        if self.se is not None:
            low, high = self.value - 2 * self.se, self.value + 2 * self.se
            return f"published ± 2 s.e. [{low:.3g}, {high:.3g}]", bool(low <= mean <= high) if decided else None
        if not decided or math.isnan(se):
            return "ganopt ± 2 s.e.", None
        if math.isinf(mean):
            return "ganopt ± 2 s.e.", False
        return f"ganopt ± 2 s.e. [{mean - 2 * se:.3g}, {mean + 2 * se:.3g}]", bool(abs(self.value - mean) <= 2 * se)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_references(tables, source: str, problems: list[str], strategies: list[str],
                     metrics: dict[str, set[str]]) -> list[Reference]:
    """Validate a suite's `reference` array against its problems, strategies and the problems'
    declared metrics; raise ValueError naming the entry and the key."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError(f"{source}: reference must be an array of tables ([[reference]])")
    out = []
    for i, table in enumerate(tables):
        where = f"{source}: [[reference]] #{i + 1}"
        unknown = sorted(set(table) - set(REFERENCE_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(REFERENCE_KEYS)}")
        for key in ("problem", "strategy", "metric", "value", "source"):
            if key not in table:
                raise ValueError(f"{where}: {key} is required")
        if table["problem"] not in problems:
            raise ValueError(f"{where}: problem {table['problem']!r} is not one of the suite's: {', '.join(problems)}")
        if table["strategy"] not in strategies:
            raise ValueError(f"{where}: strategy {table['strategy']!r} is not one of the suite's: {', '.join(strategies)}")
        declared = metrics[table["problem"]]
        if table["metric"] not in declared:
            raise ValueError(f"{where}: {table['problem']} declares no metric {table['metric']!r}; "
                             f"valid: {', '.join(sorted(declared))}")
        if not _number(table["value"]):
            raise ValueError(f"{where}: value must be a finite number, got {table['value']!r}")
        if not isinstance(table["source"], str) or not table["source"].strip():
            raise ValueError(f"{where}: source must name the paper, table and row")
        se = table.get("se")
        if se is not None and not (_number(se) and se >= 0):
            raise ValueError(f"{where}: se must be a number >= 0, got {se!r}")
        interval = table.get("interval")
        if interval is not None:
            if not (isinstance(interval, list) and len(interval) == 2 and all(map(_number, interval))
                    and interval[0] <= interval[1]):
                raise ValueError(f"{where}: interval must be [low, high] with low <= high, got {interval!r}")
            interval = (float(interval[0]), float(interval[1]))
        out.append(Reference(table["problem"], table["strategy"], table["metric"], float(table["value"]),
                             table["source"].strip(), None if se is None else float(se), interval))
    return out


def reference_table(scored_runs: pd.DataFrame, references: list[Reference], digits: dict[str, int]) -> pd.DataFrame:
    """One row per reference: ganopt's finished runs (diverged ones at their metric's worst
    value, as `score_diverged` gives them) beside the published number."""
    rows = []
    for ref in references:
        picked = scored_runs[(scored_runs["problem"] == ref.problem) & (scored_runs["strategy"] == ref.strategy)
                             & scored_runs["status"].isin(["done", "diverged"])]
        values = pd.to_numeric(picked.get(ref.metric, pd.Series(dtype=float)), errors="coerce").dropna()
        d = digits.get(f"{ref.problem}/{ref.metric}", 3)
        if values.empty:
            mean, se, ours = math.nan, math.nan, "—"
        elif np.isinf(values).any():
            mean, se, ours = float(values.mean()), math.nan, "∞" if values.mean() > 0 else "−∞"
        else:
            mean, se = mean_and_se(values.to_numpy(dtype=float))
            ours = f"{mean:.{d}f}" + ("" if math.isnan(se) else f" ± {se:.{d}f}")
        published = f"{ref.value:g}" + (f" ± {ref.se:g}" if ref.se is not None else "")
        rule, inside = ref.agreement(mean, se) if not values.empty else ("—", None)
        steps = sorted(set(pd.to_numeric(picked.get("planned_steps", picked.get("steps")), errors="coerce").dropna()
                           .astype(int))) if not picked.empty else []
        rows.append({"problem": ref.problem, "strategy": ref.strategy, "metric": ref.metric, "runs": len(values),
                     "steps": "/".join(f"{s:,}" for s in steps) or "—",
                     "ganopt (mean ± s.e.)": ours, "published": published, "agreement rule": rule,
                     "inside": "—" if inside is None else ("yes" if inside else "no"), "source": ref.source})
    return pd.DataFrame(rows)

