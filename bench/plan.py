"""Group run specs into stacks: runs that share a problem (with its options), a scheme (with
its D-steps) and a step budget train together as one batched computation, whatever their base
update, gradient estimate or hyperparameters."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .spec import RunSpec

DEFAULT_MAX_STACK = 32  # CPU: per-run cost is lowest near K = 16-32 (python -m bench perf)


@dataclass
class StackPlan:
    runs: list[RunSpec]

    @property
    def problem(self) -> str:
        return self.runs[0].problem

    def describe(self) -> str:
        names = ", ".join(dict.fromkeys(r.strategy.name for r in self.runs))
        return f"{self.problem} · {self.runs[0].strategy.scheme} · {names} · {len(self.runs)} runs"


def plan_stacks(runs: list[RunSpec], max_stack: int = DEFAULT_MAX_STACK) -> list[StackPlan]:
    groups: dict[tuple, list[RunSpec]] = {}
    for run in runs:
        key = (run.problem, json.dumps(run.options, sort_keys=True), run.strategy.stack_key, run.steps, run.eval_every,
               run.lr_schedule, run.diagnostics, run.diagnostics_at, run.precision, run.cuda_graphs)
        groups.setdefault(key, []).append(run)
    stacks = []
    for members in groups.values():
        for i in range(0, len(members), max_stack):
            stacks.append(StackPlan(members[i:i + max_stack]))
    return stacks
