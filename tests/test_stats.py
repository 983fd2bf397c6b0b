"""Statistics against scipy and hand computations on known data."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.stats import (EXACT_UP_TO, bootstrap_ci, cliffs_delta, fisher_p, mann_whitney_p, mean_and_se,
                         min_mann_whitney_p, performance_profile, seeds_needed, still_moving, time_to_target,
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


def test_two_values_have_a_standard_error_and_missing_values_are_skipped():
    assert mean_and_se([1.0, 3.0]) == (2.0, 1.0)   # s.d. sqrt(2), s.e. sqrt(2) / sqrt(2)
    assert mean_and_se([1.0, None, 3.0, math.nan]) == (2.0, 1.0)
    assert mean_and_se([None, 4]) == (4.0, mean_and_se([4])[1]) and math.isnan(mean_and_se([4])[1])
    assert all(math.isnan(v) for v in mean_and_se([None, math.nan]))


def test_bootstrap_defaults_are_2000_resamples_of_seed_0_and_the_level_is_passed_on():
    x = np.array([3.0, 5.0, 4.0, 8.0, 6.0, 7.0, 5.5])
    ref = stats.bootstrap((x,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(0))
    assert bootstrap_ci(x) == (ref.confidence_interval.low, ref.confidence_interval.high)
    ref = stats.bootstrap((x,), np.mean, confidence_level=0.8, n_resamples=500, method="percentile",
                          rng=np.random.default_rng(1))
    assert bootstrap_ci(x, confidence=0.8, resamples=500, seed=1) == (ref.confidence_interval.low,
                                                                      ref.confidence_interval.high)
    ref = stats.bootstrap((np.array([1.0, 3.0]),), np.mean, n_resamples=2000, method="percentile",
                          rng=np.random.default_rng(0))
    assert bootstrap_ci([1.0, None, 3.0]) == (ref.confidence_interval.low, ref.confidence_interval.high) == (1.0, 3.0)
    assert all(math.isnan(v) for v in bootstrap_ci([1.0, math.inf, 2.0]))


def test_mann_whitney_takes_scipys_normal_approximation_above_the_exact_limit_and_the_exact_test_at_it():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=EXACT_UP_TO // 2), rng.normal(size=EXACT_UP_TO // 2) + 0.4   # 60 values: exact
    assert mann_whitney_p(a, b) == pytest.approx(stats.mannwhitneyu(a, b, method="exact").pvalue, rel=1e-9)
    assert mann_whitney_p(a, b) != pytest.approx(stats.mannwhitneyu(a, b, method="asymptotic").pvalue, rel=1e-6)
    a = np.append(a, 0.1)                                                                   # 61 values: scipy
    for alternative in ("two-sided", "less", "greater"):
        assert mann_whitney_p(a, b, alternative) == pytest.approx(
            stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic").pvalue, rel=1e-12)
    assert mann_whitney_p(a, b) == mann_whitney_p(a, b, "two-sided")
    assert mann_whitney_p(list(a) + [None], list(b) + [None]) == mann_whitney_p(a, b)


def test_mann_whitney_with_one_value_a_side_an_empty_side_and_a_median_rank_sum():
    assert mann_whitney_p([5.0], [1.0, 2.0]) == pytest.approx(2 / 3)     # 2 / C(3, 1)
    assert mann_whitney_p([1.0, 2.0], [5.0]) == pytest.approx(2 / 3)
    assert math.isnan(mann_whitney_p([], [1.0, 2.0])) and math.isnan(mann_whitney_p([1.0, 2.0], []))
    assert math.isnan(mann_whitney_p([math.nan], [1.0, 2.0]))
    assert mann_whitney_p([2.0, 3.0], [1.0, 4.0]) == 1.0   # both tails above one half: capped at 1


def test_the_exact_one_sided_p_with_ties_counts_every_split_by_hand():
    # pooled 0, 0, 1, 1, 1, 2: midranks 1.5, 1.5, 4, 4, 4, 6; a = (0, 0, 2) has rank sum 9, and 4 of
    # the C(6, 3) = 20 splits have a rank sum <= 9 (1.5 + 1.5 + 4 = 7, three times; 1.5 + 1.5 + 6 = 9)
    assert mann_whitney_p([0.0, 0.0, 2.0], [1.0, 1.0, 1.0], "less") == pytest.approx(4 / 20)
    # and 17 have a rank sum >= 9 (9 once, 1.5 + 4 + 4 = 9.5 six times, 11.5 six times, 12 once, 14 three times)
    assert mann_whitney_p([0.0, 0.0, 2.0], [1.0, 1.0, 1.0], "greater") == pytest.approx(17 / 20)


def test_cliffs_delta_with_one_value_a_side_and_missing_values():
    assert cliffs_delta([5.0], [1.0, 2.0, 9.0]) == pytest.approx(1 / 3)
    assert cliffs_delta([1.0, 2.0, 9.0], [5.0]) == pytest.approx(-1 / 3)
    assert cliffs_delta([5.0, None], [1.0, math.nan]) == 1.0
    assert math.isnan(cliffs_delta([], [1.0])) and math.isnan(cliffs_delta([1.0], [None]))


def test_the_smallest_p_of_one_seed_against_several_and_of_an_empty_side():
    assert min_mann_whitney_p(1, 3) == 0.5 and min_mann_whitney_p(3, 1) == 0.5   # 2 / C(4, 1)
    assert min_mann_whitney_p(1, 1) == 1.0
    assert min_mann_whitney_p(0, 5) == 1.0 and min_mann_whitney_p(5, 0) == 1.0


def test_seeds_needed_counts_a_p_exactly_at_the_threshold_as_enough():
    assert min_mann_whitney_p(3, 3) == 0.1
    assert seeds_needed(1, alpha=0.1) == 3 and seeds_needed(2, alpha=0.2) == 3


def test_fisher_with_one_run_a_side_matches_scipy_and_an_empty_side_decides_nothing():
    assert fisher_p(1, 1, 0, 3) == pytest.approx(stats.fisher_exact([[1, 0], [0, 3]]).pvalue) == pytest.approx(0.25)
    assert fisher_p(0, 3, 1, 1) == pytest.approx(0.25)
    assert fisher_p(0, 0, 1, 2) == 1.0 and fisher_p(2, 2, 0, 0) == 1.0


def test_performance_profile_of_a_zero_cost_indexes_by_tau_and_warns_of_nothing():
    costs = pd.DataFrame({"x": [0.0, 1.0, np.inf], "y": [1.0, 2.0, np.inf]}, index=["p1", "p2", "p3"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prof = performance_profile(costs, [1.0, 2.0])
    # x is best on p1 (cost 0) and p2; y is within 2x on p2 only; nobody solves p3
    assert prof["x"].tolist() == pytest.approx([2 / 3, 2 / 3]) and prof["y"].tolist() == pytest.approx([0.0, 1 / 3])
    assert prof.index.name == "tau" and prof.index.tolist() == [1.0, 2.0]
    ints = performance_profile(pd.DataFrame({"x": [1, 4], "y": [2, 2]}), [1.5, 2.0])
    assert ints["x"].tolist() == [0.5, 1.0] and ints["y"].tolist() == [0.5, 1.0]


def _moving(values, steps=None, run="r"):
    steps = list(range(len(values))) if steps is None else steps
    return pd.DataFrame({"run_id": [run] * len(values), "step": steps, "d": values})


def test_still_moving_window_starts_at_the_last_evaluation_at_or_before_four_fifths():
    # steps 0..10: the window starts at step 8 exactly; only steps 8 to 10 count
    values = [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 5.0, 1.0, 1.0, 1.2]
    assert still_moving(_moving(values), "d", 0.3).tolist() == [False]           # 1.0 -> 1.2
    assert still_moving(_moving(values), "d", 0.1).tolist() == [True]
    # 0.7 x 90 is 62.99999999999999 in floating point: step 63 still starts the window
    assert still_moving(_moving([5.0, 1.0, 1.0], steps=[0, 63, 90]), "d", 0.5, window=0.3).tolist() == [False]
    assert still_moving(_moving([5.0, 1.0, 1.0], steps=[0, 64, 90]), "d", 0.5, window=0.3).tolist() == [True]


def test_still_moving_with_two_evaluations_late_starts_and_the_order_of_runs():
    curves = pd.concat([_moving([5.0, 1.0], steps=[9, 10], run="late"),      # nothing at or before step 8
                        _moving([0.0, 5.0], steps=[0, 10], run="two"),
                        _moving([3.0], steps=[0], run="one"),
                        _moving([1.0, 1.0], steps=[0, 10], run="flat")], ignore_index=True)
    out = still_moving(curves, "d", 0.5)
    assert out.index.tolist() == ["late", "two", "one", "flat"] and out.tolist() == [False, True, False, False]
    assert out.dtype == bool
    empty = still_moving(_moving([]), "d", 0.5)
    assert empty.empty and empty.dtype == bool


def test_still_moving_needs_the_target_at_the_very_end_of_the_window():
    curves = _moving([1.0, 1.0, 0.05, 0.05, 0.05, 0.9], steps=[0, 2, 8, 9, 9.5, 10])
    reached = curves["d"] <= 0.1
    assert still_moving(curves, "d", 0.5, reached=reached).tolist() == [True]   # 0.05 -> 0.9, target lost
    back = curves.assign(d=[1.0, 1.0, 0.05, 0.05, 0.9, 0.05])   # lost and found again before the end
    assert still_moving(back, "d", 0.5, reached=back["d"] <= 0.1).tolist() == [False]
    both = pd.concat([back, curves.assign(run_id="s")], ignore_index=True)   # a settled run, then a moving one
    assert still_moving(both, "d", 0.5, reached=both["d"] <= 0.1).to_dict() == {"r": False, "s": True}


@pytest.mark.parametrize("start, end, tolerance, log, moving", [
    (0.5, 0.05, 1.5, True, False),       # one decade
    (0.5, 0.05, 0.5, True, True),
    (0.5, 0.05, 1.0, True, False),       # exactly the tolerance: settled
    (0.5, 0.5 * 10 ** 0.5, 0.4, True, True),
    (5.0, 5.0 * 10 ** 0.5, 0.6, True, False),
    (0.0, 1.0, 100.0, True, True),       # from zero: no finite number of decades
    (1.0, 0.0, 100.0, True, True),
    (0.0, 0.0, 0.5, True, False),        # zero throughout: settled
    (-1.0, -10.0, 2.0, True, True),      # not positive: moving unless equal
    (math.inf, 1.0, 100.0, True, True),
    (1.0, math.inf, 100.0, True, True),
    (math.inf, math.inf, 0.5, True, False),
    (0.0, 0.5, 0.5, False, False),       # exactly the tolerance: settled
    (0.0, 0.5, 0.4, False, True),
    (math.inf, math.inf, 0.5, False, False),
    (1.0, math.inf, 100.0, False, True),
    (math.nan, 1.0, 100.0, False, True),   # a value lost on the way is no sign of a settled run
    (1.0, math.nan, 100.0, False, True),
    (1.0, 3.0, 1.5, None, True),         # linear by default: 2 > 1.5 (in decades it would be 0.48)
])
def test_still_moving_measures_the_change_in_units_or_decades(start, end, tolerance, log, moving):
    curves = _moving([start, end], steps=[0, 10])
    kwargs = {} if log is None else {"log": log}
    assert still_moving(curves, "d", tolerance, **kwargs).tolist() == [moving]
