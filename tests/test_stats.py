"""Statistics against scipy and hand computations on known data."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.stats import (bootstrap_ci, mann_whitney_p, mean_and_se, performance_profile, time_to_target,
                         value_at_budget)


def test_mean_and_standard_error():
    mean, se = mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(stats.sem([1.0, 2.0, 3.0, 4.0]))
    assert math.isnan(mean_and_se([5.0])[1])


def test_bootstrap_interval_matches_scipy_and_covers_the_mean():
    x = np.array([3.0, 5.0, 4.0, 8.0, 6.0, 7.0, 5.5])
    low, high = bootstrap_ci(x, resamples=4000, seed=3)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(3))
    assert (low, high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert low < x.mean() < high
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in bootstrap_ci([1.0]))


def test_mann_whitney_matches_scipy_and_its_exact_small_sample_value():
    a, b = [8.0, 7.0, 9.0], [1.0, 2.0, 0.0]
    assert mann_whitney_p(a, b) == pytest.approx(stats.mannwhitneyu(a, b).pvalue)
    # complete separation of 3 vs 3: the exact one-sided p is 1 / C(6, 3) = 0.05
    assert mann_whitney_p(a, b, alternative="greater") == pytest.approx(0.05)
    assert mann_whitney_p([1.0, 1.0], [1.0, 1.0]) == 1.0


def curves():
    return pd.DataFrame({
        "run_id": ["a"] * 4 + ["b"] * 4,
        "grad_evals": [0, 10, 20, 30] * 2,
        "modes_covered": [0, 2, 8, 8, 0, 1, 1, 3],
    })


def test_value_at_budget_takes_the_last_evaluation_within_the_budget():
    v = value_at_budget(curves(), "modes_covered", "grad_evals", 25)
    assert v.to_dict() == {"a": 8, "b": 1}


def test_time_to_target_counts_runs_that_never_reach_it():
    c = curves()
    t = time_to_target(c, c["modes_covered"] >= 8)
    assert t["a"] == 20 and math.isinf(t["b"])


def test_performance_profile_by_hand():
    costs = pd.DataFrame({"x": [10.0, 40.0, np.inf], "y": [20.0, 20.0, 5.0]}, index=["p1", "p2", "p3"])
    prof = performance_profile(costs, [1.0, 2.0, 4.0])
    # ratios: x = [1, 2, inf], y = [2, 1, 1]
    assert prof["x"].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert prof["y"].tolist() == pytest.approx([2 / 3, 1.0, 1.0])
    unsolved = performance_profile(pd.DataFrame({"x": [np.inf], "y": [np.inf]}), [1.0, 10.0])
    assert (unsolved.to_numpy() == 0).all()
