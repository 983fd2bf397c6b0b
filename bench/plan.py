"""Plan the stacks to train: expansion (bench.spec) already grouped the runs that share a
problem (with its options), a scheme (with its D-steps) and a budget into one StackSpec,
whatever their base update, gradient estimate or hyperparameters; the plan only drops the runs
already finished and splits a stack, never regroups."""

from __future__ import annotations

import functools
import json

import torch

from .spec import StackSpec

DEFAULT_MAX_STACK = 32  # CPU: per-run cost is lowest near K = 16-32 (python -m bench perf)


def remaining(stacks: list[StackSpec], finished: set[str] | dict[str, str]) -> list[StackSpec]:
    """The stacks with their finished runs dropped (a resumed sweep), empty ones gone."""
    out = []
    for stack in stacks:
        runs = [r for r in stack.runs if r.run_id not in finished]
        if runs:
            out.append(stack.with_runs(runs))
    return out


def plan_stacks(stacks: list[StackSpec], max_stack: int = DEFAULT_MAX_STACK, min_stacks: int = 1) -> list[StackSpec]:
    """Stacks of at most `max_stack` runs; then, while there are fewer than `min_stacks` (the
    worker processes to keep busy), the largest stack is halved.  Why halve: on a CPU two
    single-threaded workers on two halves beat one process with two threads on the whole,
    although a run's share of a smaller stack costs more (2 cores of an AMD EPYC, one thread per
    stack, seconds per step per run: ring8 K = 5 1.29x K = 10; the stacked-mnist MLP pair
    256x256 K = 4 0.97x K = 8), because a step of these networks keeps one core busy better
    than it keeps two (ring8 suites: 147 s in two workers against 213 s with two threads)."""
    planned = [stack.with_runs(stack.runs[i:i + max_stack]) for stack in stacks
               for i in range(0, len(stack.runs), max_stack)]
    while planned and len(planned) < min_stacks:  # nothing pending (a resumed sweep): nothing to halve
        largest = max(range(len(planned)), key=lambda i: len(planned[i].runs))
        stack = planned[largest]
        if len(stack.runs) < 2:
            break
        half = (len(stack.runs) + 1) // 2
        planned[largest:largest + 1] = [stack.with_runs(stack.runs[:half]), stack.with_runs(stack.runs[half:])]
    return planned


@functools.lru_cache(maxsize=64)
def _parameters_per_run(problem: str, options_json: str) -> int:
    from ganopt.problems import get_problem

    game = get_problem(problem).build(json.loads(options_json), torch.zeros(1, dtype=torch.int64), False,
                                      torch.device("cpu"))
    return sum(t.numel() for t in (*game.theta, *game.phi))


def work(stacks: list[StackSpec]) -> float:
    """The stacks' run-steps, each weighted by its pair's parameter count against ring8's default pair
    (at least 1): a measure of training work in ring8 run-steps, so that one threshold says when
    worker processes pay for their start (a few seconds) whether the runs are 2-D mixtures or
    image GANs (the stacked-mnist suite's 8 x 6,000 steps of an MLP pair with 1.4 million
    parameters weigh as much as 6.7 million ring8 run-steps).  A problem whose game cannot be
    built here (a plugin's, say) counts its steps alone."""
    from ganopt.problems import get_problem

    reference = _parameters_per_run("ring8", json.dumps(get_problem("ring8").check_options({}), sort_keys=True))
    total = 0.0
    for stack in stacks:
        settings = stack.settings
        try:
            weight = _parameters_per_run(settings.problem, json.dumps(settings.options, sort_keys=True)) / reference
        except Exception:  # noqa: BLE001 - a cost estimate must never stop a plan
            weight = 1.0
        total += len(stack.runs) * settings.steps * max(1.0, weight)
    return total
