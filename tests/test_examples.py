"""The examples are real plugins: each one does what its docstring says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import ganopt

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stateful():
    return load("my_stateful_scheme")


def test_a_stateful_scheme_from_one_file_converges_where_gd_spirals_out(stateful):
    problem = ganopt.get_problem("bilinear")
    options = problem.check_options({})
    final = {}
    for name in ("gd", "eag"):
        strategy = ganopt.get_strategy(name).resolve(problem.default_lr(options))
        result = ganopt.train_stack(problem, options, [strategy] * 3, [0, 1, 2], 300, 100, calibrate=False)
        final[name] = [records[-1]["dist_to_eq"] for records in result.records]
        assert result.records[0][-1]["grad_evals"] == (600 if name == "eag" else 300)
    assert min(final["gd"]) > 1.0 and max(final["eag"]) < 0.1, final


def test_its_declared_state_makes_it_checkpointable_and_capturable(stateful):
    from ganopt.graphs import capturable_schemes
    from ganopt.schemes import load_checkpoint, save_checkpoint
    from ganopt.train import _build

    assert "eag" in capturable_schemes()
    problem = ganopt.get_problem("bilinear")
    options = problem.check_options({})
    strategy = ganopt.get_strategy("eag").resolve(problem.default_lr(options))
    _, stack, scheme = _build(problem, options, [strategy], [5], torch.device("cpu"))
    for _ in range(3):
        scheme.step()
    saved = save_checkpoint(scheme)
    for _ in range(4):
        scheme.step()
    _, other, resumed = _build(problem, options, [strategy], [5], torch.device("cpu"))
    load_checkpoint(resumed, saved)
    for _ in range(4):
        resumed.step()
    assert all(torch.equal(a, b) for a, b in zip(stack.G.params + stack.D.params, other.G.params + other.D.params))
