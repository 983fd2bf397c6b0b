"""Group run specs into stacks: runs that share a problem (with its options), a scheme, a base
update, a gradient estimate and a step budget train together as one batched computation."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .spec import RunSpec

DEFAULT_MAX_STACK = 64  # CPU: larger stacks stop paying; one stack must fit in memory


@dataclass
class StackPlan:
    runs: list[RunSpec]

    @property
    def problem(self) -> str:
        return self.runs[0].problem

    def describe(self) -> str:
        s = self.runs[0].strategy
        names = ", ".join(dict.fromkeys(r.strategy.name for r in self.runs))
        return f"{self.problem} · {s.scheme}/{s.base}/{s.estimate} · {names} · {len(self.runs)} runs"


def plan_stacks(runs: list[RunSpec], max_stack: int = DEFAULT_MAX_STACK) -> list[StackPlan]:
    groups: dict[tuple, list[RunSpec]] = {}
    for run in runs:
        key = (run.problem, json.dumps(run.options, sort_keys=True), run.strategy.stack_key, run.steps, run.eval_every)
        groups.setdefault(key, []).append(run)
    stacks = []
    for members in groups.values():
        for i in range(0, len(members), max_stack):
            stacks.append(StackPlan(members[i:i + max_stack]))
    return stacks
