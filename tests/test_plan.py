"""How runs are grouped into stacks, and how the plan fills the worker processes of a CPU."""

import argparse

import pytest
import torch

from bench.cli import AUTO_MIN_RUN_STEPS, stacks_to_fill
from bench.plan import plan_stacks, work
from bench.spec import build_suite, find_suite


def _stacks(tmp_path, strategies: str, seeds: int, steps: int = 1000):
    suite = tmp_path / "s.toml"
    suite.write_text(f'problems = ["ring8"]\nstrategies = [{strategies}]\nseeds = {seeds}\nsteps = {steps}\n')
    return list(build_suite(suite).stacks)


def _runs(stacks):
    return [r for s in stacks for r in s.runs]


def test_runs_of_one_scheme_share_a_stack_and_other_schemes_get_their_own(tmp_path):
    suite = _stacks(tmp_path, '"adam", "ttur", "extra-adam"', 3)
    runs = _runs(suite)
    stacks = plan_stacks(suite)
    assert [len(s.runs) for s in stacks] == [6, 3]
    assert [r.run_id for s in stacks for r in s.runs] == [r.run_id for r in runs if r.strategy.scheme == "simultaneous"] + \
        [r.run_id for r in runs if r.strategy.scheme == "extragradient"]
    assert [len(s.runs) for s in plan_stacks(suite, max_stack=4)] == [4, 2, 3]
    # the plan splits the stacks that expansion made, each part with the same settings object
    assert all(part.settings is suite[0].settings for part in plan_stacks(suite, max_stack=4)[:2])


def test_too_few_stacks_for_the_workers_are_halved_largest_first_and_keep_every_run_once(tmp_path):
    runs = _stacks(tmp_path, '"adam", "ttur"', 4)
    ids = [r.run_id for r in _runs(runs)]
    assert [len(s.runs) for s in plan_stacks(runs)] == [8]
    two = plan_stacks(runs, min_stacks=2)
    assert [[r.run_id for r in s.runs] for s in two] == [ids[:4], ids[4:]]  # adam's 4 seeds, then ttur's
    assert [len(s.runs) for s in plan_stacks(runs, min_stacks=3)] == [2, 2, 4]
    assert [len(s.runs) for s in plan_stacks(runs, min_stacks=100)] == [1] * 8  # a run is never split
    assert plan_stacks([], min_stacks=2) == []  # a resumed sweep with nothing left to train
    mixed = _stacks(tmp_path, '"adam", "extra-adam"', 3)
    assert [len(s.runs) for s in plan_stacks(mixed, min_stacks=2)] == [3, 3]  # already enough: unchanged


def test_the_plan_fills_the_cpu_workers_only_when_the_work_pays_for_starting_them(tmp_path):
    big = _stacks(tmp_path, '"adam"', 4, steps=AUTO_MIN_RUN_STEPS // 4)
    small = _stacks(tmp_path, '"adam"', 4, steps=AUTO_MIN_RUN_STEPS // 4 - 1)
    args = argparse.Namespace(executor="auto", workers=2)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert stacks_to_fill(args, big, cpu) == 2
    assert stacks_to_fill(args, small, cpu) == 1
    assert stacks_to_fill(args, big, gpu) == 1  # a GPU wants the largest stacks
    assert stacks_to_fill(argparse.Namespace(executor="processes", workers=3), big, cpu) == 3
    assert stacks_to_fill(argparse.Namespace(executor="inprocess", workers=None), big, cpu) == 1


def test_work_weighs_run_steps_by_network_size_so_image_runs_fill_the_workers(tmp_path):
    ring8 = _stacks(tmp_path, '"adam"', 2, steps=500)
    assert work(ring8) == 2 * 500  # ring8's default pair is the unit
    suite = tmp_path / "img.toml"
    suite.write_text('problems = ["stacked-mnist"]\nstrategies = ["adam"]\nseeds = 1\nsteps = 100\n'
                     '[problem.stacked-mnist]\narch = "mlp"\nhidden = [256, 256]\n')
    image = build_suite(suite).stacks
    # the MLP pair 256x256 on 3x28x28: G 100-256-256-2352, D 2352-256-256-1 (weights and biases)
    pair = (100 * 256 + 256) + (256 * 256 + 256) + (256 * 2352 + 2352) + (2352 * 256 + 256) + (256 * 256 + 256) + 257
    ring = (16 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2) + (2 * 64 + 64) + (64 * 64 + 64) + 65
    assert abs(work(image) - 100 * pair / ring) < 1e-6 * work(image)
    args = argparse.Namespace(executor="auto", workers=2)
    stacked = build_suite(find_suite("stacked-mnist")).stacks
    assert sum(r.steps for r in _runs(stacked)) < AUTO_MIN_RUN_STEPS  # by steps alone: one process
    assert stacks_to_fill(args, stacked, torch.device("cpu")) == 2  # weighed by its pair, 140x ring8's: two workers


def test_a_problem_may_have_its_own_budget_and_steps_overrides_every_budget():
    """[problem_steps]: the grid's budget apart from the ring's (the standard suite's), each
    problem's stacks at its own; --steps sets every problem's; an unknown problem is refused."""
    from bench.spec import SpecError, suite_from_data

    data = {"problems": ["bilinear", "dirac"], "strategies": ["gd"], "seeds": 1, "steps": 30,
            "problem_steps": {"dirac": 70}}
    assert {(s.settings.problem, s.settings.steps) for s in suite_from_data(data).stacks} == {("bilinear", 30),
                                                                                           ("dirac", 70)}
    assert {s.settings.steps for s in suite_from_data(data, steps=5).stacks} == {5}
    with pytest.raises(SpecError, match=r"\[problem_steps\]: unknown problem 'dirak'"):
        suite_from_data({**data, "problem_steps": {"dirak": 70}})
