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


def test_a_problem_with_a_metric_and_a_plot_kind_of_its_own_runs_through_the_real_cli(tmp_path):
    """examples/my_problem.py: the harness stores, tabulates and draws the problem's own metric
    from its declaration alone, with the plot kind the plugin registers; the duality gap is the
    closed form (a + 1/a)/2 · distance².  A report made without the plugin keeps every number
    and leaves only that figure out."""
    import subprocess
    import sys

    import pandas as pd

    root = EXAMPLES.parent
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--plugin", str(EXAMPLES / "my_problem.py"),
                           "--problems", "quadratic", "--strategies", "gd,extragradient", "--seeds", "2",
                           "--steps", "200", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out")],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    a = 0.5
    assert (summary["duality_gap"] - (a + 1 / a) / 2 * summary["dist_to_eq"] ** 2).abs().max() < 1e-12
    assert (summary["dist_to_eq"] < 0.01).all()  # strongly monotone: simultaneous GD converges too
    assert (tmp_path / "out" / "final_duality_gap_quadratic.png").stat().st_size > 0
    assert not (tmp_path / "out" / "duality_gap_quadratic.png").exists()  # drawn by its kind, not as a curve
    again = subprocess.run([sys.executable, "-m", "bench", "report", str(tmp_path / "s.sqlite"), "--out",
                            str(tmp_path / "again")], cwd=root, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "duality_gap" in pd.read_csv(tmp_path / "again" / "summary.csv").columns
    assert not (tmp_path / "again" / "final_duality_gap_quadratic.png").exists()
