"""Performance guards, run by the README's test command.

- pytest-benchmark times one stacked training step per scheme; CI compares against the
  committed baseline (benchmarks/.baseline) and fails past the threshold in pyproject.toml,
  which was set from the spread of 10 repeated runs on the CI machine kind.
- Ratio gates compare two measurements taken interleaved in this process, so a busy or slow
  machine slows both sides alike: stacking must pay (per-run cost at K = 16 well below K = 1)
  and an extragradient step must cost about two simultaneous steps, not more.
"""

import statistics
import time

import pytest
import torch

from ganopt import get_problem, get_strategy
from ganopt.schemes import SCHEMES
from ganopt.stack import Stack

OPTIONS = {"latent_dim": 32, "g_hidden": [64, 64], "d_hidden": [64, 64], "batch_size": 256}
PRESET = {"simultaneous": "adam", "alternating": "alt-adam", "extragradient": "extra-adam",
          "optimistic": "optimistic-adam", "past-extragradient": "past-extragradient"}


def make_step(scheme: str, k: int):
    problem = get_problem("ring8")
    strategy = get_strategy(PRESET[scheme]).resolve(problem.lr)
    game = problem.build(problem.check_options(OPTIONS), torch.arange(k), False, "cpu")
    stack = Stack(game, [strategy] * k, "cpu")
    stepper = SCHEMES[strategy.scheme](stack, strategy.d_steps)

    def step():
        stepper.step()
        stack.finite_runs()

    for _ in range(3):
        step()
    return step


@pytest.mark.parametrize("scheme", list(PRESET))
def test_stacked_step_k16(benchmark, scheme):
    benchmark.group = "stacked step, ring8 (G 32-64-64-2, D 2-64-64-1, batch 256), K=16"
    benchmark(make_step(scheme, 16))


def interleaved_seconds(a, b, rounds=15, calls=5):
    """Median seconds per call of a and b, measured alternately so that noise hits both."""
    times_a, times_b = [], []
    for _ in range(rounds):
        for fn, times in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times.append((time.perf_counter() - start) / calls)
    return statistics.median(times_a), statistics.median(times_b)


def test_gate_stacking_pays_per_run():
    one, sixteen = interleaved_seconds(make_step("simultaneous", 1), make_step("simultaneous", 16))
    per_run_ratio = (sixteen / 16) / one
    print(f"per-run cost K=16 / K=1: {per_run_ratio:.3f}")
    assert per_run_ratio < 0.6, f"stacking stopped paying: per-run cost at K=16 is {per_run_ratio:.2f}x K=1"


def test_gate_extragradient_costs_about_two_simultaneous_steps():
    sim, eg = interleaved_seconds(make_step("simultaneous", 16), make_step("extragradient", 16))
    print(f"extragradient / simultaneous: {eg / sim:.3f}")
    assert eg / sim < 2.5, f"an extragradient step costs {eg / sim:.2f}x a simultaneous one (target <= 2.2)"
