"""Learning-rate schedules: the factors, the recurrence they give on the bilinear game, stack
independence, and that a suite's schedule reaches its runs (and their ids)."""

import dataclasses

import pytest
import torch

from bench.spec import SpecError, build_suite
from ganopt import get_problem, get_strategy, train_stack
from ganopt.schedules import lr_factor


def test_linear_decay_holds_the_first_half_then_falls_linearly_to_one_over_half_the_budget():
    steps = 10
    factors = [lr_factor("linear-decay", t, steps) for t in range(1, steps + 1)]
    assert factors == pytest.approx([1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    assert all(lr_factor("constant", t, steps) == 1 for t in range(1, steps + 1))
    with pytest.raises(ValueError, match="valid: constant, linear-decay"):
        lr_factor("cosine", 1, 10)


def test_simultaneous_gd_on_the_bilinear_game_follows_the_decayed_recurrence():
    problem = get_problem("bilinear")
    options = problem.check_options({"dim": 2, "coupling": 1.5})
    gd = get_strategy("gd").resolve(problem.default_lr(options))
    steps = 40
    result = train_stack(problem, options, [gd], [5], steps, steps, lr_schedule="linear-decay", calibrate=False)
    game = problem.build(options, torch.tensor([5]), True, "cpu")
    x, y = game.theta[0][0].detach().double(), game.phi[0][0].detach().double()
    for t in range(1, steps + 1):  # x <- x - lr_t a y,  y <- y + lr_t a x  (simultaneous)
        lr = gd.lr_g * lr_factor("linear-decay", t, steps)
        x, y = x - lr * 1.5 * y, y + lr * 1.5 * x
    expected = torch.sqrt((x ** 2).sum() + (y ** 2).sum()).item()
    assert result.records[0][-1]["dist_to_eq"] == pytest.approx(expected, rel=1e-5)
    constant = train_stack(problem, options, [gd], [5], steps, steps, calibrate=False)
    # without the decay the spiral grows faster: the schedule really changed the steps
    assert constant.records[0][-1]["dist_to_eq"] > result.records[0][-1]["dist_to_eq"] * 1.01


def test_a_decayed_run_alone_and_in_a_stack_with_a_diverging_run_agree():
    problem = get_problem("ring8")
    opts = problem.check_options({"g_hidden": [16], "d_hidden": [16], "batch_size": 32})
    adam = get_strategy("adam").resolve(problem.default_lr(opts))
    bad = dataclasses.replace(adam, lr_g=1e30, lr_d=1e30)
    alone = train_stack(problem, opts, [adam], [3], 30, 10, lr_schedule="linear-decay", calibrate=False)
    stack = train_stack(problem, opts, [bad, adam], [4, 3], 30, 10, lr_schedule="linear-decay", calibrate=False)
    assert stack.status == ["diverged", "done"]
    for a, b in zip(alone.records[0], stack.records[1]):
        assert a["loss_d"] == pytest.approx(b["loss_d"], rel=1e-4, abs=1e-6)


def test_a_suite_schedule_reaches_every_run_and_its_id_and_a_bad_one_is_refused(tmp_path):
    plain = tmp_path / "plain.toml"
    plain.write_text('problems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 2\n')
    decayed = tmp_path / "decayed.toml"
    decayed.write_text('problems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 2\nlr_schedule = "linear-decay"\n')
    a, b = build_suite(plain).runs, build_suite(decayed).runs
    assert {r.lr_schedule for r in a} == {"constant"} and {r.lr_schedule for r in b} == {"linear-decay"}
    assert not {r.run_id for r in a} & {r.run_id for r in b}
    assert "lr_schedule" not in a[0].describe() and b[0].describe()["lr_schedule"] == "linear-decay"
    # without a suite schedule each problem keeps its default: the mixtures decay, the games do not
    mixed = tmp_path / "mixed.toml"
    mixed.write_text('problems = ["ring8", "bilinear"]\nstrategies = ["adam"]\nseeds = 1\n')
    assert {(r.problem, r.lr_schedule) for r in build_suite(mixed).runs} == {("ring8", "linear-decay"),
                                                                          ("bilinear", "constant")}
    bad = tmp_path / "bad.toml"
    bad.write_text('problems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 1\nlr_schedule = "linear-decy"\n')
    with pytest.raises(SpecError, match="did you mean 'linear-decay'"):
        build_suite(bad)


@pytest.mark.slow
def test_the_schedule_is_in_the_summary_and_compare_refuses_to_mix_schedules(tmp_path):
    import pandas as pd
    from helpers import run_bench

    for name, schedule in (("a", "constant"), ("b", "linear-decay")):
        suite = tmp_path / f"{name}.toml"
        suite.write_text(f'name = "s"\nproblems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 2\nsteps = 20\n'
                         f'lr_schedule = "{schedule}"\n')
        result = run_bench("run", "--suite", str(suite), "--store", str(tmp_path / f"{name}.sqlite"),
                           "--out", str(tmp_path / name), "--quiet")
        assert result.returncode == 0, result.stderr
    assert set(pd.read_csv(tmp_path / "b" / "summary.csv")["lr_schedule"]) == {"linear-decay"}
    assert "Learning-rate schedule: linear-decay" in (tmp_path / "b" / "summary.md").read_text()
    result = run_bench("compare", str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite"))
    assert result.returncode == 2 and "lr_schedule constant" in result.stderr and "linear-decay" in result.stderr
