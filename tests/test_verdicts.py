"""The verdict a report states, on constructed result sets where the right answer is known, and
the statistics behind it against scipy and hand computations."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.report import decide
from bench.scoring import Scorecard, score_diverged
from bench.report import design_text
from bench.stats import cliffs_delta, holm, mann_whitney_p, min_mann_whitney_p, seeds_needed, still_moving
from ganopt.metrics import Metric, Target

SCORE = Metric("score", "score", higher_is_better=True, diverged=0.0, primary=True, tolerance=0.05)
CARD = Scorecard((SCORE,), Target("score >= 0.8", "score ≥ 0.8"))


def result_set(finals: dict[str, list[float]], rising: float = 0.0, status: dict[str, str] | None = None):
    """Runs and curves of one problem: each strategy's seeds end at the given final scores; over
    the last 20% of the 10 evaluations the score changes by `rising` (0: settled)."""
    runs, curves = [], []
    for strategy, values in finals.items():
        for seed, final in enumerate(values):
            run_id = f"{strategy}-{seed}"
            runs.append({"run_id": run_id, "problem": "p", "strategy": strategy, "seed": seed,
                         "status": (status or {}).get(strategy, "done"), "score": final})
            for step in range(0, 1001, 100):
                late = max(0.0, (step - 800) / 200)
                value = final - rising * (1 - late) if step >= 800 else final - rising - 0.01 * (800 - step) / 100
                curves.append({"run_id": run_id, "step": step, "grad_evals": float(step), "score": value})
    return pd.DataFrame(runs), pd.DataFrame(curves)


def verdict_of(finals, **kwargs):
    runs, curves = result_set(finals, **kwargs)
    return decide(score_diverged(runs, {"p": CARD}), curves, CARD, "p")


def test_a_clear_winner_is_named_with_its_effect_size_and_no_warning():
    v = verdict_of({"a": [0.90, 0.91, 0.92, 0.93, 0.94], "b": [0.50, 0.51, 0.52, 0.53, 0.54],
                    "c": [0.20, 0.21, 0.22, 0.23, 0.24]})
    assert v.best == "a" and v.tied == [] and v.runner_up == "b"
    assert v.effect == 1.0
    assert v.warnings == []
    # 5 vs 5 seeds, complete separation: p = 2/252 before correction, x2 (Holm, 2 comparisons)
    assert v.adjusted_p["b"] == pytest.approx(2 * stats.mannwhitneyu([0.90, 0.91, 0.92, 0.93, 0.94],
                                                                    [0.50, 0.51, 0.52, 0.53, 0.54]).pvalue)
    assert "Best on score: a" in v.text() and "ahead of every other strategy" in v.text()


def test_overlapping_strategies_are_reported_as_tied():
    v = verdict_of({"a": [0.90, 0.85, 0.95, 0.88, 0.92], "b": [0.89, 0.86, 0.94, 0.87, 0.91],
                    "c": [0.1, 0.1, 0.1, 0.1, 0.1]})
    assert v.best == "a" and v.tied == ["b"]
    assert "statistically tied with b" in v.text()


def test_runs_still_moving_at_the_end_are_flagged_as_not_converged():
    v = verdict_of({"a": [0.90, 0.91, 0.92, 0.93, 0.94], "b": [0.50, 0.51, 0.52, 0.53, 0.54]}, rising=0.2)
    assert any(w.startswith("not converged") and "a, b" in w for w in v.warnings), v.warnings
    settled = verdict_of({"a": [0.90, 0.91, 0.92, 0.93, 0.94], "b": [0.50, 0.51, 0.52, 0.53, 0.54]}, rising=0.01)
    assert not any(w.startswith("not converged") for w in settled.warnings)


def test_two_seeds_are_too_few_for_any_test_and_the_verdict_says_undecided_not_tied():
    v = verdict_of({"a": [0.9, 0.95], "b": [0.1, 0.2]})
    # complete separation, yet p = 2/C(4, 2) = 0.33 > 0.05: no outcome of 2 seeds could decide
    assert v.best == "a" and v.tied == [] and v.undecided == ["b"] and v.needs == 4
    assert "undecided: needs 4 seeds to tell b from it" in v.text() and "tied" not in v.text()
    assert "smallest reachable p 0.33 > Holm threshold 0.05/1 = 0.05" in v.text()
    from bench.report import problem_table
    runs, curves = result_set({"a": [0.9, 0.95], "b": [0.1, 0.2]})
    runs = runs.assign(grad_evals=1000.0, wall_s=1.0, lr_g=0.1, lr_d=0.1)
    assert list(problem_table(runs, curves, CARD, v)["strategy"]) == ["a ★", "b ?"]  # ?: undecided, not =
    four = verdict_of({"a": [0.9, 0.95, 0.91, 0.92], "b": [0.1, 0.2, 0.15, 0.12]})
    assert four.tied == [] and four.undecided == [] and "undecided" not in four.text()


def test_overlap_that_the_design_could_have_separated_is_tied_not_undecided():
    v = verdict_of({"a": [0.90, 0.85, 0.95, 0.88, 0.92], "b": [0.89, 0.86, 0.94, 0.87, 0.91]})
    assert v.tied == ["b"] and v.undecided == [] and "undecided" not in v.text()


def test_no_run_reaching_the_target_is_a_warning():
    v = verdict_of({"a": [0.5, 0.6, 0.55, 0.52], "b": [0.1, 0.2, 0.15, 0.12]})
    assert any("no run reached the target (score ≥ 0.8)" in w for w in v.warnings)


def test_the_star_never_goes_to_a_strategy_whose_runs_all_diverged():
    # all of b diverged: scored 0, tied with a's honest 0 -> a is best, never b
    v = verdict_of({"b": [0.7, 0.7, 0.7, 0.7], "a": [0.0, 0.0, 0.0, 0.0]}, status={"b": "diverged"})
    assert v.best == "a"
    everything = verdict_of({"a": [0.5, 0.5], "b": [0.4, 0.4]}, status={"a": "diverged", "b": "error"})
    assert everything.best is None and "no strategy finished a run" in everything.text()


def test_lower_is_better_metrics_pick_the_smallest_and_a_diverged_seed_scores_infinity():
    dist = Metric("dist", "distance", higher_is_better=False, diverged=math.inf, primary=True, log=True,
                  tolerance=0.1)
    card = Scorecard((dist,), Target("dist <= 0.1", "distance ≤ 0.1"))
    runs = pd.DataFrame([{"run_id": f"{s}{i}", "problem": "p", "strategy": s, "seed": i, "status": st, "dist": d}
                         for s, values, st in [("gd", [2.0, 3.0, 2.5, 2.2], "done"),
                                               ("eg", [0.01, 0.02, 0.01, 0.03], "done")]
                         for i, d in enumerate(values)])
    runs.loc[0, "status"] = "diverged"
    curves = pd.DataFrame([{"run_id": r, "step": 0, "grad_evals": 0.0, "dist": 1.0} for r in runs["run_id"]])
    scored = score_diverged(runs, {"p": card})
    assert scored.loc[0, "dist"] == math.inf
    v = decide(scored, curves, card, "p")
    assert v.best == "eg" and v.effect == 1.0


def test_holm_matches_a_hand_computation():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": math.nan})
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert adjusted["a"] == pytest.approx(0.03) and adjusted["c"] == pytest.approx(0.06)
    assert adjusted["b"] == pytest.approx(0.06) and math.isnan(adjusted["d"])
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}


def test_cliffs_delta_and_the_smallest_reachable_p_value():
    assert cliffs_delta([3, 4, 5], [1, 2]) == 1.0 and cliffs_delta([1, 2], [3, 4, 5]) == -1.0
    assert cliffs_delta([1, 2], [1, 2]) == 0.0
    for n in (2, 3, 4, 5):
        exact = stats.mannwhitneyu(np.arange(n) + 10.0, np.arange(n), alternative="two-sided").pvalue
        assert min_mann_whitney_p(n, n) == pytest.approx(exact)
    assert min_mann_whitney_p(3, 3) > 0.05 > min_mann_whitney_p(4, 4)


def test_still_moving_compares_the_last_fifth_of_the_budget_and_trusts_a_reached_target():
    curves = pd.DataFrame({"run_id": ["r"] * 6, "step": [0, 200, 400, 600, 800, 1000],
                           "d": [1.0, 0.5, 0.2, 0.1, 0.01, 0.0001]})
    assert still_moving(curves, "d", 0.1, log=True)["r"]  # two decades over the last 20%
    reached = curves["d"] <= 0.1
    assert not still_moving(curves, "d", 0.1, log=True, reached=reached)["r"]
    flat = curves.assign(d=[0.0, 0.5, 0.7, 0.8, 0.81, 0.82])
    assert not still_moving(flat, "d", 0.05)["r"] and still_moving(flat, "d", 0.005)["r"]


def test_four_seeds_are_too_few_once_holm_corrects_for_five_comparisons():
    # complete separation of 4 vs 4 seeds: raw p = 0.029, Holm over 5 comparisons: 0.14
    far = {"best": [0.90, 0.91, 0.92, 0.93], **{f"s{i}": [0.1 + i / 100, 0.11, 0.12, 0.13] for i in range(5)}}
    v = verdict_of(far)
    assert v.best == "best" and len(v.undecided) == 5 and v.tied == [] and v.needs == 5
    assert "undecided: needs 5 seeds to tell s0, s1, s2, s3, s4 from it" in v.text()
    five = {s: vals + [vals[-1] + 0.001] for s, vals in far.items()}  # 5 seeds: raw p = 0.008, Holm 0.04
    v5 = verdict_of(five)
    assert v5.tied == [] and v5.undecided == [] and "ahead of every other strategy" in v5.text()


def test_constant_groups_eight_against_zero_separate_exactly_when_the_design_allows():
    # tied values inside each group: scipy's normal approximation would say p = 0.013 for 4 vs 4;
    # the exact test says 2/C(8, 4) = 0.0286, the floor of the design
    assert mann_whitney_p([8.0] * 4, [0.0] * 4) == pytest.approx(2 / 70)
    assert mann_whitney_p([8.0] * 3, [0.0] * 3) == pytest.approx(0.1)
    one = verdict_of({"a": [8.0] * 4, "b": [0.0] * 4})  # 1 comparison: 0.0286 <= 0.05
    assert one.best == "a" and one.adjusted_p["b"] == pytest.approx(2 / 70) and one.tied == one.undecided == []
    three = verdict_of({"a": [8.0] * 4, "b": [0.0] * 4, "c": [0.0] * 4, "d": [0.0] * 4})  # 0.0286 x 3 > 0.05
    assert three.undecided == ["b", "c", "d"] and three.needs == 5


def test_the_smallest_reachable_p_and_the_seeds_needed_are_exact():
    assert min_mann_whitney_p(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3) = 2 / 20
    assert min_mann_whitney_p(5, 5) == pytest.approx(2 / 252)
    assert min_mann_whitney_p(6, 6) == pytest.approx(2 / 924)
    # Holm's first threshold is 0.05 / m: 4 seeds for 1 test, 5 for 2 to 6, 6 for 7 to 23
    assert [seeds_needed(m) for m in (1, 2, 6, 7, 12, 23, 24)] == [4, 5, 5, 6, 6, 6, 7]
    assert design_text(3, 12) == ("3 seeds × 12 comparisons: smallest reachable p 0.1 > Holm threshold 0.05/12 "
                                  "= 0.0042 (undecided at any outcome: needs 6 seeds)")
    assert design_text(6, 12).startswith("6 seeds × 12 comparisons: smallest reachable p 0.0022 ≤")


def test_the_exact_test_matches_scipy_without_ties_and_a_full_permutation_with_them():
    rng = np.random.default_rng(0)
    for n1, n2 in ((3, 3), (5, 5), (4, 7)):
        a, b = rng.normal(size=n1), rng.normal(size=n2) + 0.5
        for alternative in ("two-sided", "greater", "less"):
            assert mann_whitney_p(a, b, alternative) == pytest.approx(
                stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue, rel=1e-12)
    a, b = [1, 1, 2, 3, 3], [0, 1, 1, 2, 0, 0]
    every = stats.mannwhitneyu(a, b, method=stats.PermutationMethod(n_resamples=np.inf)).pvalue
    assert mann_whitney_p(a, b) == pytest.approx(every, rel=1e-12)


def test_reached_target_counts_are_compared_with_fishers_exact_test():
    # a lower-is-better distance: gd never reaches 0.1, eg always does; the distances overlap no
    # target-independent way would tell: Fisher on 6/6 against 0/6 gives 2/C(12, 6) = 0.0022
    dist = Metric("dist", "distance", higher_is_better=False, diverged=math.inf, primary=True, log=True,
                  tolerance=10.0)
    card = Scorecard((dist,), Target("dist <= 0.1", "distance ≤ 0.1"))
    finals = {"eg": [0.01] * 6, "gd": [1.0, 1.1, 1.2, 0.9, 1.05, 1.15], "alt": [0.05, 0.05, 0.05, 0.5, 0.5, 0.5]}
    runs = pd.DataFrame([{"run_id": f"{s}{i}", "problem": "p", "strategy": s, "seed": i, "status": "done", "dist": d}
                         for s, values in finals.items() for i, d in enumerate(values)])
    curves = pd.DataFrame([{"run_id": r.run_id, "step": step, "grad_evals": float(step), "dist": r.dist}
                           for r in runs.itertuples() for step in (0, 100)])
    v = decide(runs, curves, card, "p")
    assert v.best == "eg" and v.target_hits == {"eg": (6, 6), "gd": (0, 6), "alt": (3, 6)}
    # Holm over 2: gd 2 x 0.0022 = 0.0043; alt 3/6 against 6/6: p = 0.18
    assert v.target_p["gd"] == pytest.approx(2 * stats.fisher_exact([[6, 0], [0, 6]]).pvalue)
    assert v.target_p["alt"] == pytest.approx(stats.fisher_exact([[6, 0], [3, 3]]).pvalue)
    assert v.target_p["alt"] > 0.05
    assert "significantly more often than gd 0/6 (Fisher's exact test" in v.text()


def test_a_count_declared_out_of_a_total_reads_so_in_the_table_and_only_then():
    from bench.report import problem_table

    runs = pd.DataFrame({"run_id": ["a", "b"], "problem": "p", "strategy": ["s", "t"], "seed": 0, "status": "done",
                         "hits": [3.0, 5.0], "all": 8.0, "grad_evals": 10.0, "wall_s": 1.0, "lr_g": 0.1, "lr_d": 0.1})
    curves = pd.DataFrame(columns=["run_id", "step", "grad_evals", "hits"])
    for of, label in (("all", "hits covered (of 8)"), ("", "hits covered")):
        metric = Metric("hits", "hits covered", higher_is_better=True, primary=True, of=of)
        card = Scorecard((metric, Metric("all", "total", show=False)), Target("", ""))
        table = problem_table(runs, curves, card, decide(runs, curves, card, "p"))
        assert label in table.columns and table[label].tolist() == ["3.000", "5.000"]


def test_the_seconds_of_a_per_stack_metric_are_shared_by_the_runs_of_its_stack():
    from bench.report import per_stack_notes

    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "stack_size": [2, 2, 1]})
    curves = pd.DataFrame({"run_id": ["a", "b", "c"], "probe_s": [4.0, 4.0, 1.0]})
    card = Scorecard((SCORE, Metric("probe_s", "probe seconds", per_stack=True)), Target("", ""))
    assert len(notes := per_stack_notes(runs, curves, {"p": card})) == 1
    assert "5 s in all, 4 s at most" in notes[0]
    plain = Scorecard((SCORE, Metric("probe_s", "probe seconds")), Target("", ""))
    assert per_stack_notes(runs, curves, {"p": plain}) == []
