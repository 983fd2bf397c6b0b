"""The report and the compare gate on results the real CLI wrote."""

import re
import shutil

import pandas as pd
import pytest
from helpers import run_bench


SUITE = """
name = "tiny-report"
problems = ["ring8", "bilinear"]
strategies = ["adam", "extragradient", "gd"]
seeds = 3
steps = 30
eval_every = 10

[problem.ring8]
g_hidden = [16]
d_hidden = [16]
batch_size = 32
"""


bench = run_bench


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    suite = base / "suite.toml"
    suite.write_text(SUITE)
    store = base / "store.sqlite"
    result = bench("run", "--suite", str(suite), "--store", str(store), "--out", str(base / "run"))
    assert result.returncode == 0, result.stderr
    return base, store


@pytest.mark.slow
def test_report_regenerates_every_file_from_the_store(results):
    base, store = results
    out = base / "again"
    result = bench("report", str(store), "--suite", "tiny-report", "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ["summary.csv", "curves.csv", "summary.md", "report.html", "provenance.json",
                 "samples_ring8.png", "mode_overlap_ring8.png", "trajectory_bilinear.png", "dist_to_eq_bilinear.png",
                 "performance_profile.png", "declarations.json"]:
        assert (out / name).stat().st_size > 0, name
    first = pd.read_csv(base / "run" / "summary.csv").sort_values("run_id", ignore_index=True)
    again = pd.read_csv(out / "summary.csv").sort_values("run_id", ignore_index=True)
    pd.testing.assert_frame_equal(first, again)
    markdown = (out / "summary.md").read_text()
    assert "95% CI" in markdown and "p vs ★ (Holm)" in markdown and "★" in markdown and "at 30 evals" in markdown
    assert markdown.index("**Verdict.**") < markdown.index("| strategy")  # each problem opens with its verdict


def test_html_report_is_self_contained(results):
    base, _ = results
    page = (base / "run" / "report.html").read_text()
    assert "<table>" in page and page.count("data:image/png;base64,") >= 6
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "no external resource may be loaded"
    assert "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_compare_is_quiet_on_the_same_code_and_flags_a_planted_regression(results, tmp_path):
    base, store = results
    rerun = tmp_path / "rerun.sqlite"
    again = bench("run", "--suite", str(base / "suite.toml"), "--store", str(rerun), "--out", str(tmp_path / "o"))
    assert again.returncode == 0, again.stderr
    same = bench("compare", str(store), str(rerun))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no significant regression" in same.stderr

    planted = tmp_path / "planted"
    shutil.copytree(base / "run", planted)
    summary = pd.read_csv(planted / "summary.csv")
    worse = (summary["strategy"] == "adam") & (summary["problem"] == "ring8")
    summary.loc[worse, "hq_fraction"] = summary.loc[worse, "hq_fraction"] - 0.5
    summary.to_csv(planted / "summary.csv", index=False)
    flagged = bench("compare", str(base / "run"), str(planted))
    assert flagged.returncode == 1
    assert "ring8 · adam · hq_fraction" in flagged.stderr
    assert "1 significant regression" in flagged.stderr


def test_tuning_gives_every_strategy_the_same_trials_and_reports_the_best_on_fresh_seeds(tmp_path):
    suite = tmp_path / "tune.toml"
    suite.write_text('name = "tune"\nproblems = ["bilinear"]\nstrategies = ["gd", "extragradient", "ttur"]\n'
                     'seeds = 2\nsteps = 40\neval_every = 10\n'
                     '[tuning]\ntrials = 3\nlr_range = [0.5, 2.0]\ntune_seeds = [100, 101]\n')
    store, out = tmp_path / "s.sqlite", tmp_path / "out"
    result = bench("run", "--suite", str(suite), "--store", str(store), "--out", str(out))
    assert result.returncode == 0, result.stderr
    import sqlite3

    from bench.results import load_results
    with sqlite3.connect(store) as con:
        trials = con.execute("SELECT strategy, COUNT(DISTINCT trial), COUNT(*) FROM runs WHERE phase='tune' "
                             "GROUP BY strategy").fetchall()
        evals = con.execute("SELECT strategy, seed, trial, lr_g FROM runs WHERE phase='eval'").fetchall()
    runs = load_results(store).runs
    tune = runs[runs["phase"] == "tune"].groupby(["strategy", "trial"]).agg(dist=("dist_to_eq", "mean"),
                                                                           lr=("lr_g", "first")).reset_index()
    tune_rows = list(tune.itertuples(index=False, name=None))
    assert sorted(trials) == [("extragradient", 3, 6), ("gd", 3, 6), ("ttur", 3, 6)]
    assert {seed for _, seed, _, _ in evals} == {0, 1}
    # on the bilinear game a larger step helps extragradient: its best trial has the largest lr
    eg = {trial: (dist, lr) for s, trial, dist, lr in tune_rows if s == "extragradient"}
    best_trial = min(eg, key=lambda t: eg[t][0])
    assert {t for s, _, t, _ in evals if s == "extragradient"} == {best_trial}
    assert eg[best_trial][1] == max(lr for _, lr in eg.values())
    assert (out / "sensitivity_bilinear.png").stat().st_size > 0
    assert "Tuned:" in (out / "summary.md").read_text()


def test_tuning_seeds_must_differ_from_the_reported_seeds(tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text('problems = ["bilinear"]\nstrategies = ["gd"]\nseeds = [0, 1]\n[tuning]\ntune_seeds = [1, 5]\n')
    result = bench("run", "--suite", str(suite), "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 2 and "tune_seeds and seeds must differ" in result.stderr


def test_a_pipe_or_newline_in_a_name_keeps_its_markdown_row_whole():
    """Issue 28, item 17: a strategy named `a|b` is one cell of its row in summary.md."""
    from bench.report import markdown_table

    lines = markdown_table(pd.DataFrame({"strategy": ["a|b", "c\nd", "e\\|f"], "runs": [3, 2, 1]})).splitlines()
    for line in lines:  # every row has exactly the header's unescaped separators
        assert len([i for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\")]) == 3, line
    assert lines[2] == "| a\\|b | 3 |" and lines[3] == "| c d | 2 |" and lines[4] == "| e\\\\\\|f | 1 |"


def test_one_strategy_run_at_two_budgets_or_with_two_settings_is_two_rows(tmp_path):
    """Issue 28, item 2: a suite run with --steps 100 and again with --steps 300 into one store,
    or two suites defining [strategy.mine] differently, are reported apart, never pooled."""
    import torch

    from bench.execute import run_stack
    from bench.load import load
    from bench.report import write_report
    from bench.spec import suite_from_data
    from bench.store import Store

    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for steps, gamma in ((4, 1.0), (6, 1.0), (4, 2.0)):
            suite = suite_from_data({"problems": ["bilinear"], "strategies": ["gd", "mine"], "seeds": 2,
                                     "steps": steps, "strategy": {"mine": {"like": "consensus", "gamma": gamma}}})
            for stack in suite.stacks:
                store.save_stack("s", stack.runs, run_stack(stack, torch.device("cpu")), {})
    loaded = load(path)
    write_report(tmp_path / "out", "t", loaded.runs, loaded.records, {}, loaded.declarations)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["strategy"].value_counts().to_dict() == {
        "gd [planned_steps 4]": 2, "gd [planned_steps 6]": 2, "mine [planned_steps 4, gamma 1.0]": 2,
        "mine [planned_steps 6, gamma 1.0]": 2, "mine [planned_steps 4, gamma 2.0]": 2}
    rows = [line for line in (tmp_path / "out" / "summary.md").read_text().splitlines()
            if line.startswith("|") and "[planned_steps" in line]
    assert len(rows) == 5  # five rows of the table, one per variant
