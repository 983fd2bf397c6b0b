"""Learning rates of the preset strategies per problem, chosen by ganopt's own equal-budget
tuning protocol (`python -m bench tune`) and committed as data with the provenance of the run
that chose them (assets/tuned_lr.json): every trial's score, the command, the commit, seeds,
budget, the problem options and the learning-rate schedule the trials trained with.  A suite
that names a preset strategy gets these rates when it trains the same models on the same data
under the same schedule (options that only change the evaluation do not count); otherwise the
preset runs at the problem's default rates, and the suite says so before it runs.  A strategy
defined in a suite or a plugin runs at its own rates (the problem's defaults unless set)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

TUNED_PATH = Path(__file__).parent / "assets" / "tuned_lr.json"
# options that change what is measured, not what is trained (data_dir changes the training set)
EVALUATION_OPTIONS = frozenset({"eval_samples", "verify_checksum", "classifier"})


@functools.cache
def tuned_table(path: Path = TUNED_PATH) -> dict[str, Any]:
    """{"problems": {problem: {"provenance": {..., "options": {...}}, "strategies": {name: entry}}}};
    empty when nothing was tuned."""
    if not path.is_file():
        return {"problems": {}}
    return json.loads(path.read_text())


def training_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in EVALUATION_OPTIONS}


def options_mismatch(problem: str, options: dict[str, Any] | None,
                     lr_schedule: str | None = None) -> dict[str, tuple[Any, Any]]:
    """{setting: (tuned with, given)} for the training options (and the schedule) that differ
    from the tuning run's; empty when they match, when `options` is None, or when the problem
    was not tuned.  Options the table does not record (added to ganopt since) take their
    current defaults."""
    from .problems import PROBLEMS

    entry = tuned_table()["problems"].get(problem)
    if entry is None or options is None:
        return {}
    recorded = entry["provenance"].get("options", {})
    if problem in PROBLEMS:
        try:
            recorded = PROBLEMS[problem].check_options(recorded)
        except ValueError:
            pass
    tuned_with, given = training_options(recorded), training_options(options)
    if lr_schedule is not None:
        tuned_with["lr_schedule"] = entry["provenance"].get("lr_schedule", "constant")
        given["lr_schedule"] = lr_schedule
    return {k: (tuned_with.get(k), given.get(k)) for k in sorted(set(tuned_with) | set(given))
            if tuned_with.get(k) != given.get(k)}


def tuned_lr(problem: str, strategy: str, options: dict[str, Any] | None = None,
             lr_schedule: str | None = None) -> tuple[float, float] | None:
    """(lr_G, lr_D) of a preset on a problem, or None when it was not tuned there or, given
    `options` (and `lr_schedule`), was tuned for other models, data or schedule."""
    if options_mismatch(problem, options, lr_schedule):
        return None
    entry = tuned_table()["problems"].get(problem, {}).get("strategies", {}).get(strategy)
    return None if entry is None else (float(entry["lr_g"]), float(entry["lr_d"]))


def range_edge(entry: dict[str, Any]) -> str | None:
    """"lowest" or "highest" when a tuned entry's chosen rate lr_G is the smallest or largest
    of its trials' (the best may then lie outside the range tried), else None.  One trial (or
    trials that all share lr_G) is no range: None."""
    rates = sorted({float(t["lr_g"]) for t in entry.get("trials", [])})
    if len(rates) < 2:
        return None
    chosen = float(entry["lr_g"])
    return "lowest" if chosen <= rates[0] else "highest" if chosen >= rates[-1] else None
