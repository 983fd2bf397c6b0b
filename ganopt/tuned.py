"""Learning rates of the preset strategies per problem, chosen by ganopt's own equal-budget
tuning protocol (`python -m bench tune`) and committed as data with the provenance of the run
that chose them (assets/tuned_lr.json): every trial's score, the command, the commit, seeds and
budget.  A suite that names a preset strategy gets these rates unless it sets its own; a
strategy defined in a suite or a plugin keeps the problem's defaults."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

TUNED_PATH = Path(__file__).parent / "assets" / "tuned_lr.json"


@functools.cache
def tuned_table(path: Path = TUNED_PATH) -> dict[str, Any]:
    """{"problems": {problem: {"provenance": {...}, "strategies": {name: entry}}}}; empty when
    nothing was tuned."""
    if not path.is_file():
        return {"problems": {}}
    return json.loads(path.read_text())


def tuned_lr(problem: str, strategy: str) -> tuple[float, float] | None:
    """(lr_G, lr_D) of a preset on a problem, or None when it was not tuned there."""
    entry = tuned_table()["problems"].get(problem, {}).get("strategies", {}).get(strategy)
    return None if entry is None else (float(entry["lr_g"]), float(entry["lr_d"]))
