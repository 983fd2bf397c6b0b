"""bench.scoring: which runs have a result, what a diverged run scores, which way is better and
which tuning trial is best.  Each test asserts the exact behaviour, so that a planted change
(the direction flipped, a finished status dropped) fails here."""

import math

import pandas as pd

from bench.report import decide
from bench.scoring import FINISHED, Scorecard, finished, oriented, score_diverged, select_best, sign
from ganopt.metrics import Metric, Target

DISTANCE = Metric("dist", "distance", higher_is_better=False, diverged=math.inf, primary=True)
SCORE = Metric("score", "score", higher_is_better=True, diverged=0.0, primary=True)
NO_CURVES = pd.DataFrame(columns=["run_id", "step", "grad_evals"])


def runs(rows: list[tuple[str, int, str, float]], metric: str) -> pd.DataFrame:
    """(strategy, trial, status, final value) per run, one problem "p"."""
    return pd.DataFrame([{"run_id": f"{s}-{i}", "problem": "p", "strategy": s, "seed": i, "trial": t, "status": st,
                          metric: v, "grad_evals": 10.0, "wall_s": 1.0, "lr_g": 0.1, "lr_d": 0.1}
                         for i, (s, t, st, v) in enumerate(rows)])


def test_done_and_diverged_runs_have_a_result_error_and_timeout_runs_none():
    assert FINISHED == ("done", "diverged")
    frame = pd.DataFrame({"status": ["done", "diverged", "error", "timeout"]})
    assert finished(frame).tolist() == [True, True, False, False]


def test_the_direction_rule_makes_every_ranking_a_maximum():
    assert sign(SCORE) == 1.0 and sign(DISTANCE) == -1.0
    assert oriented(DISTANCE, [0.1, 2.0]).tolist() == [-0.1, -2.0]
    assert oriented(SCORE, [0.1, 2.0]).tolist() == [0.1, 2.0]


def test_select_best_picks_the_minimum_of_a_lower_is_better_metric_and_the_maximum_of_a_higher():
    card = {"p": Scorecard((DISTANCE,), Target("", ""))}
    trials = runs([("s", 0, "done", 0.5), ("s", 1, "done", 0.2), ("s", 2, "done", 0.9)], "dist")
    assert select_best(trials, card) == {("p", "s"): 1}
    card = {"p": Scorecard((SCORE,), Target("", ""))}
    trials = runs([("s", 0, "done", 0.5), ("s", 1, "done", 0.2), ("s", 2, "done", 0.9)], "score")
    assert select_best(trials, card) == {("p", "s"): 2}


def test_a_diverged_trial_scores_the_declared_value_and_a_failed_one_the_worst():
    """Trial 0: a diverged seed (declared 0.0) and a 1.0, mean 0.5, beats trial 1's 0.4: the
    diverged run counts at its declared value, not at the worst possible (-inf), which a
    failed run gets (trial 2: 1.0 and an error)."""
    card = {"p": Scorecard((SCORE,), Target("", ""))}
    trials = runs([("s", 0, "diverged", 0.9), ("s", 0, "done", 1.0), ("s", 1, "done", 0.4), ("s", 1, "done", 0.4),
                   ("s", 2, "done", 1.0), ("s", 2, "error", math.nan)], "score")
    assert select_best(trials, card) == {("p", "s"): 0}


def test_select_best_breaks_ties_towards_the_lower_trial():
    card = {"p": Scorecard((SCORE,), Target("", ""))}
    assert select_best(runs([("s", 1, "done", 0.5), ("s", 0, "done", 0.5)], "score"), card) == {("p", "s"): 0}


def test_a_strategy_whose_runs_all_diverged_scores_the_worst_value_and_is_never_best():
    card = Scorecard((DISTANCE,), Target("", ""))
    frame = runs([("steady", 0, "done", 0.8), ("steady", 0, "done", 0.9),
                  ("blew-up", 0, "diverged", 1e-6), ("blew-up", 0, "diverged", 1e-6)], "dist")
    scored = score_diverged(frame, {"p": card})
    assert (scored.loc[scored["strategy"] == "blew-up", "dist"] == math.inf).all()
    assert scored.loc[scored["strategy"] == "steady", "dist"].tolist() == [0.8, 0.9]
    verdict = decide(scored, NO_CURVES, card, "p")
    assert verdict.best == "steady"
    # even when its declared value would look best, a strategy without a done run gets no star
    lucky = Scorecard((Metric("dist", "distance", higher_is_better=False, diverged=0.0, primary=True),),
                      Target("", ""))
    assert decide(score_diverged(frame, {"p": lucky}), NO_CURVES, lucky, "p").best == "steady"


def test_the_verdict_counts_diverged_runs_in_the_strategys_values():
    """A strategy with one diverged seed (scored inf) is worse than one with all seeds done."""
    card = Scorecard((DISTANCE,), Target("", ""))
    frame = runs([("a", 0, "done", 0.1), ("a", 0, "diverged", 0.1), ("b", 0, "done", 0.5), ("b", 0, "done", 0.5)],
                 "dist")
    assert decide(score_diverged(frame, {"p": card}), NO_CURVES, card, "p").best == "b"
