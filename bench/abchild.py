"""One timing process of `python -m bench ab` (bench.abtest), run as a script:

    python bench/abchild.py TREE OPTIONS_JSON SECONDS STEP [STEP ...]

It imports ganopt from TREE (a checkout: the base's or the change's), so that the same harness
times both sides' code; it uses only ganopt's public API, which both sides share.  Each STEP is
PROBLEM/SCHEME/BASE/K=N.  It builds and warms up every step, prints "ready", then for each STEP
read from stdin times it and prints the median seconds of its single calls (one line); it ends
at the end of stdin.  Nothing from bench is imported: a base checkout may not have this file.
"""

import json
import statistics
import sys
import time
from pathlib import Path

TREE = Path(sys.argv[1]).resolve()
sys.path[0] = str(TREE)  # not this script's folder (bench/), whose module names could shadow others

import dataclasses  # noqa: E402

import torch  # noqa: E402

import ganopt  # noqa: E402
from ganopt import Strategy, get_problem  # noqa: E402
from ganopt.schemes import make_scheme  # noqa: E402
from ganopt.stack import Stack  # noqa: E402

WARMUP_STEPS = 3
MIN_CALLS = 3


def build_step(name: str, perf_options: dict):
    """The step `bench perf` times (its nets where the problem takes them, a tenth of the default
    rates so that no run diverges), with its finiteness check as training runs it."""
    problem_name, scheme, base, k = name.split("/")
    problem = get_problem(problem_name)
    options = perf_options if set(perf_options) <= set(problem.options) else {}
    opts = problem.check_options(options)
    strategy = Strategy(f"{scheme}/{base}", scheme, base).resolve(problem.default_lr(opts))
    strategy = dataclasses.replace(strategy, lr_g=strategy.lr_g * 0.1, lr_d=strategy.lr_d * 0.1)
    runs = int(k.removeprefix("K="))
    game = problem.build(opts, torch.arange(runs, dtype=torch.int64), strategy.estimate == "full", "cpu")
    stack = Stack(game, [strategy] * runs, "cpu")
    stepper = make_scheme(strategy.scheme, stack, strategy.d_steps)

    def step():
        stepper.step()
        bool(stack.finite_runs().all())  # the host read training makes every step

    return step


def median_seconds(step, seconds: float) -> float:
    """Median seconds of single calls over at least `seconds` (and MIN_CALLS calls): a moment
    when another process took the core moves a few calls, not the median."""
    times, start = [], time.perf_counter()
    while len(times) < MIN_CALLS or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    if not Path(ganopt.__file__).resolve().is_relative_to(TREE):
        sys.exit(f"error: ganopt was imported from {ganopt.__file__}, not from {TREE}")
    perf_options, seconds = json.loads(sys.argv[2]), float(sys.argv[3])
    steps = {name: build_step(name, perf_options) for name in sys.argv[4:]}
    for step in steps.values():
        for _ in range(WARMUP_STEPS):
            step()
    print("ready", flush=True)
    for line in sys.stdin:  # the parent asks for one step at a time, alternating with the other side
        print(json.dumps(median_seconds(steps[line.strip()], seconds)), flush=True)


if __name__ == "__main__":
    main()
