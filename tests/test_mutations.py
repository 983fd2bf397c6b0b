"""Tests that kill bugs once planted in the code and missed by every other test (mutation
testing): each test names the mutation it kills."""

import math

import pandas as pd
import pytest
import torch

from bench.compare import compare_runs
from bench.execute import run_stack
from bench.report import decide, summary_tables
from bench.scoring import Scorecard, score_diverged, select_best
from bench.spec import suite_from_data
from bench.stats import value_at_budget
from bench.store import Store
from ganopt import declarations, get_problem, get_strategy
from ganopt.metrics import Metric, Target
from ganopt.train import _build

DISTANCE = Metric("dist", "distance", higher_is_better=False, diverged=math.inf, primary=True, log=True)
SCORE = Metric("score", "score", higher_is_better=True, diverged=0.0, primary=True)


def frame(finals: dict[str, list[float]], metric: str, status: dict[str, list[str]] | None = None) -> pd.DataFrame:
    return pd.DataFrame([{"run_id": f"{s}-{i}", "problem": "p", "strategy": s, "seed": i, "trial": i % 2,
                          "status": (status or {}).get(s, ["done"] * len(values))[i], metric: v,
                          "grad_evals": 10.0, "wall_s": 1.0, "lr_g": 0.1, "lr_d": 0.1}
                         for s, values in finals.items() for i, v in enumerate(values)])


def test_each_gradient_evaluation_of_a_minibatch_strategy_draws_a_fresh_batch():
    """Kills: `self.draws += 1` removed from Stack.field (minibatch runs train on one fixed batch)."""
    problem = get_problem("ring8")
    options = problem.check_options({"g_hidden": [8], "d_hidden": [8], "batch_size": 16})
    lr = problem.default_lr(options)
    minibatch, full = get_strategy("sgd").resolve(lr), get_strategy("gd").resolve(lr)
    _, stack, _ = _build(problem, options, [minibatch, full], [0, 0], torch.device("cpu"))
    _, first = stack.field("gd")
    _, second = stack.field("gd")  # same parameters: only the batch can differ
    assert not torch.equal(first[0][0], second[0][0]), "a minibatch run evaluated the same batch twice"
    assert torch.equal(first[0][1], second[0][1]), "a full-batch run must see its one fixed batch"


def test_a_diverged_run_scores_each_metrics_declared_worst_value():
    """Kills: score_diverged keeping a diverged run's last (flattering) values."""
    card = Scorecard((SCORE, Metric("kl", "kl", higher_is_better=False, diverged=math.log(8))), Target("", ""))
    runs = frame({"steady": [0.5, 0.5], "blew-up": [0.9, 0.9]}, "score",
                 {"blew-up": ["diverged", "diverged"]}).assign(kl=0.1)
    scored = score_diverged(runs, {"p": card}).set_index("run_id")
    assert scored.loc["blew-up-0", "score"] == 0.0 and scored.loc["blew-up-1", "kl"] == math.log(8)
    assert scored.loc["steady-0", "score"] == 0.5 and scored.loc["steady-0", "kl"] == 0.1
    table = summary_tables(runs, pd.DataFrame(columns=["run_id", "step", "grad_evals", "score"]), {"p": card})["p"].table
    row = table[table["strategy"].str.startswith("blew-up")].iloc[0]
    assert row["score"].startswith("0.000") and row["diverged"] == 2


def test_the_star_goes_to_the_best_strategy_in_either_direction():
    """Kills: Metric.better or the direction inverted (the ★ to the worst strategy)."""
    assert DISTANCE.better(0.1, 1.0) and not DISTANCE.better(1.0, 0.1)
    assert SCORE.better(0.9, 0.1) and not SCORE.better(0.1, 0.9)
    assert DISTANCE.worst == math.inf and SCORE.worst == -math.inf
    for metric, finals, best in [(DISTANCE, {"far": [3.0, 3.1, 3.2, 3.3], "near": [0.1, 0.11, 0.12, 0.13]}, "near"),
                                 (SCORE, {"low": [0.1, 0.11, 0.12, 0.13], "high": [0.9, 0.91, 0.92, 0.93]}, "high")]:
        card = Scorecard((metric,), Target("", ""))
        runs = frame(finals, metric.name)
        assert decide(runs, pd.DataFrame(columns=["run_id", "step", metric.name]), card, "p").best == best
        assert {s for (_, s), trial in select_best(runs, {"p": card}).items()} == set(finals)
    # the problems' own declarations point the right way
    assert get_problem("bilinear").primary.higher_is_better is False
    assert get_problem("ring8").primary.higher_is_better is True
    kl = next(m for m in declarations(get_problem("ring8")) if m.name == "kl_modes")
    assert kl.higher_is_better is False


def test_tuning_picks_the_lowest_distance_trial():
    """Kills: the direction inverted in select_best."""
    card = Scorecard((DISTANCE,), Target("", ""))
    runs = frame({"s": [5.0, 0.1, 5.0, 0.1]}, "dist")  # trial = seed % 2: trial 1 is near the equilibrium
    assert select_best(runs, {"p": card}) == {("p", "s"): 1}


def test_the_value_at_a_budget_includes_an_evaluation_exactly_at_it():
    """Kills: value_at_budget comparing with `<` instead of `<=`."""
    curves = pd.DataFrame({"run_id": "r", "grad_evals": [0.0, 10.0, 10.0 + 1e-9, 20.0], "m": [0.0, 1.0, 2.0, 3.0]})
    assert value_at_budget(curves.iloc[[0, 1, 3]], "m", "grad_evals", 10.0)["r"] == 1.0
    assert value_at_budget(curves, "m", "grad_evals", 10.0)["r"] == 2.0  # within the rounding tolerance: counted
    assert value_at_budget(curves, "m", "grad_evals", 9.0)["r"] == 0.0


def test_a_stack_that_fails_while_being_stored_leaves_none_of_its_runs(tmp_path, monkeypatch):
    """Kills: the store committing run by run instead of one transaction per stack."""
    stack = suite_from_data({"problems": ["bilinear"], "strategies": ["gd"], "seeds": 3, "steps": 3}).stacks[0]
    runs = stack.runs
    result = run_stack(stack, torch.device("cpu"))
    calls = []
    original = Store._replace_run

    def fails_at_the_third_run(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("the disk went away mid-stack")
        return original(self, *args, **kwargs)

    with Store(tmp_path / "s.sqlite") as store:
        monkeypatch.setattr(Store, "_replace_run", fails_at_the_third_run)
        with pytest.raises(Exception, match="the disk went away"):
            store.save_stack("t", runs, result, {})
        monkeypatch.setattr(Store, "_replace_run", original)
        for table in ("runs", "evaluations", "metric_values", "problems"):
            assert store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
        store.save_stack("t", runs, result, {})
        assert store.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 3


def test_compare_fails_a_change_that_lacks_whole_cells_and_names_each():
    """Issue 28, item 4: a change without some of the baseline's problem x strategy cells is a
    regression, one row per missing cell; cells only the change has are no regression."""
    card = Scorecard((SCORE,), Target("", ""))
    baseline = frame({"s": [0.5, 0.5, 0.5], "t": [0.5, 0.5, 0.5], "u": [0.5, 0.5]}, "score")
    change = frame({"s": [0.5, 0.5, 0.5], "v": [0.5]}, "score")
    table = compare_runs(baseline, change, {"p": card})
    missing = table[table["metric"] == "runs in the change"]
    assert sorted(missing["strategy"]) == ["t", "u"] and missing["regression"].all()
    assert list(missing.sort_values("strategy")["baseline"]) == [3, 2]
    assert not table[table["strategy"] == "s"]["regression"].any()
    assert "v" not in set(table["strategy"])


def test_compare_counts_finished_runs_without_a_metric_instead_of_dropping_them():
    """Issue 28, item 17: done runs whose metric is missing are a row of their own, and a regression
    when the change has more of them; the test of the metric uses the runs that have it."""
    card = Scorecard((SCORE,), Target("", ""))
    whole = frame({"s": [0.5, 0.6, 0.7, 0.8]}, "score")
    holed = frame({"s": [0.5, math.nan, 0.7, math.nan]}, "score")
    table = compare_runs(whole, holed, {"p": card}).set_index("metric")
    row = table.loc["score: finished runs without a value"]
    assert (row["baseline"], row["change"], row["regression"]) == (0, 2, True)
    assert table.loc["score", "change"] == pytest.approx(0.6)  # the mean of the two values it has
    back = compare_runs(holed, whole, {"p": card}).set_index("metric")
    assert not back.loc["score: finished runs without a value", "regression"]
    assert "score: finished runs without a value" not in compare_runs(whole, whole, {"p": card})["metric"].values


def test_compare_flags_more_runs_not_done_and_only_that():
    """Kills: compare's "runs not done" check inverted."""
    card = Scorecard((SCORE,), Target("", ""))
    healthy = frame({"s": [0.5, 0.5, 0.5]}, "score")
    broken = frame({"s": [0.5, 0.5, 0.5]}, "score", {"s": ["done", "diverged", "error"]})

    def flagged(a, b):
        table = compare_runs(a, b, {"p": card})
        return bool(table.set_index("metric").loc["runs not done", "regression"])

    assert flagged(healthy, broken)
    assert not flagged(broken, healthy) and not flagged(healthy, healthy)


def test_compare_flags_more_gradient_evaluations_and_shows_wall_time_without_judging_it():
    """Issue 29, item 4: gradient evaluations are counted exactly, so their rise is a regression;
    wall time of suites run one after the other is not comparable (the A/B timing of `bench ab`
    decides), so even a 3x slower wall time is shown, not flagged.  Kills: wall_s gated again,
    or grad_evals ungated."""
    card = Scorecard((SCORE,), Target("", ""))
    base = frame({"s": [0.5, 0.5, 0.5]}, "score")
    rows = compare_runs(base, base.assign(wall_s=3.0, grad_evals=20.0), {"p": card}).set_index("metric")
    assert rows.loc["wall_s", "change"] == 3.0 and not rows.loc["wall_s", "regression"]
    assert rows.loc["grad_evals", "regression"]
