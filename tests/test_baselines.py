"""`bench run --baselines`: a new strategy trained alone, reported beside published runs of the
same protocol; a published set of another protocol is refused in one line."""

import sqlite3

import pandas as pd
from helpers import run_bench

SUITE = 'problems = ["bilinear"]\nstrategies = ["gd", "extragradient"]\nseeds = 2\nsteps = 20\n'


def statuses(store):
    with sqlite3.connect(store) as db:
        return db.execute("SELECT strategy, COUNT(*) FROM runs GROUP BY strategy ORDER BY strategy").fetchall()


def test_a_new_strategy_is_trained_alone_and_reported_beside_the_published_runs(tmp_path):
    suite = tmp_path / "small.toml"
    suite.write_text(SUITE)
    published = tmp_path / "published.sqlite"
    first = run_bench("run", "--suite", str(suite), "--store", str(published), "--out", str(tmp_path / "pub"))
    assert first.returncode == 0, first.stderr
    mine = tmp_path / "mine.sqlite"
    result = run_bench("run", "--suite", str(suite), "--strategies", "optimistic", "--baselines", str(published),
                       "--store", str(mine), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "4 published runs from" in result.stderr and "4 of 6 runs are already in" in result.stderr, result.stderr
    assert "2 runs trained" in result.stderr
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(set(summary["strategy"])) == ["extragradient", "gd", "optimistic"]
    ours = pd.read_csv(tmp_path / "pub" / "summary.csv").set_index("run_id")["dist_to_eq"]
    copied = summary.set_index("run_id")["dist_to_eq"]
    assert (copied[ours.index] == ours).all()  # the published numbers, untouched
    assert statuses(mine) == [("extragradient", 2), ("gd", 2), ("optimistic", 2)]


def test_published_runs_of_another_protocol_are_refused_in_one_line(tmp_path):
    suite = tmp_path / "small.toml"
    suite.write_text(SUITE)
    published = tmp_path / "published.sqlite"
    assert run_bench("run", "--suite", str(suite), "--store", str(published), "--out", str(tmp_path / "p")).returncode == 0
    result = run_bench("run", "--suite", str(suite), "--strategies", "optimistic", "--steps", "30",
                       "--baselines", str(published), "--store", str(tmp_path / "m.sqlite"), "--out", str(tmp_path / "o"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "published under another protocol (steps 20 published, 30 here" in errors[0], errors
    assert not (tmp_path / "o").exists()
