"""Group run specs into stacks: runs that share a problem (with its options), a scheme (with
its D-steps) and a step budget train together as one batched computation, whatever their base
update, gradient estimate or hyperparameters."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import torch

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


def plan_stacks(runs: list[RunSpec], max_stack: int = DEFAULT_MAX_STACK, min_stacks: int = 1) -> list[StackPlan]:
    """Stacks of at most `max_stack` runs; then, while there are fewer than `min_stacks` (the
    worker processes to keep busy), the largest stack is halved.  Why halve: on a CPU two
    single-threaded workers on two halves beat one process with two threads on the whole,
    although a run's share of a smaller stack costs more (2 cores of an AMD EPYC, one thread per
    stack, seconds per step per run: ring8 K = 5 1.29x K = 10; the stacked-mnist MLP pair
    256x256 K = 4 0.97x K = 8), because a step of these networks keeps one core busy better
    than it keeps two (ring8 suites: 147 s in two workers against 213 s with two threads)."""
    groups: dict[tuple, list[RunSpec]] = {}
    for run in runs:
        key = (run.problem, json.dumps(run.options, sort_keys=True), run.strategy.stack_key, run.steps, run.eval_every,
               run.lr_schedule, run.diagnostics, run.diagnostics_at, run.precision, run.cuda_graphs)
        groups.setdefault(key, []).append(run)
    stacks = []
    for members in groups.values():
        for i in range(0, len(members), max_stack):
            stacks.append(StackPlan(members[i:i + max_stack]))
    while stacks and len(stacks) < min_stacks:  # nothing pending (a resumed sweep): nothing to halve
        largest = max(range(len(stacks)), key=lambda i: len(stacks[i].runs))
        members = stacks[largest].runs
        if len(members) < 2:
            break
        half = (len(members) + 1) // 2
        stacks[largest:largest + 1] = [StackPlan(members[:half]), StackPlan(members[half:])]
    return stacks


@functools.lru_cache(maxsize=64)
def _parameters_per_run(problem: str, options_json: str) -> int:
    from ganopt.problems import get_problem

    game = get_problem(problem).build(json.loads(options_json), torch.zeros(1, dtype=torch.int64), False,
                                      torch.device("cpu"))
    return sum(t.numel() for t in (*game.theta, *game.phi))


def work(runs: list[RunSpec]) -> float:
    """The runs' steps, each weighted by its pair's parameter count against ring8's default pair
    (at least 1): a measure of training work in ring8 run-steps, so that one threshold says when
    worker processes pay for their start (a few seconds) whether the runs are 2-D mixtures or
    image GANs (the stacked-mnist suite's 8 x 6,000 steps of an MLP pair with 1.4 million
    parameters weigh as much as 6.7 million ring8 run-steps).  A problem whose game cannot be
    built here (a plugin's, say) counts its steps alone."""
    from ganopt.problems import get_problem

    reference = _parameters_per_run("ring8", json.dumps(get_problem("ring8").check_options({}), sort_keys=True))
    total = 0.0
    for run in runs:
        try:
            weight = _parameters_per_run(run.problem, json.dumps(run.options, sort_keys=True)) / reference
        except Exception:  # noqa: BLE001 - a cost estimate must never stop a plan
            weight = 1.0
        total += run.steps * max(1.0, weight)
    return total
