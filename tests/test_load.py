"""bench.load: one loader for stores and report folders, used by `bench report`, `bench
compare` and load_results; a suite selects exactly its runs."""

import pandas as pd
import pytest
import torch

from bench.compare import compare_sets
from bench.execute import run_stack
from bench.load import load
from bench.report import write_report
from bench.results import load_results
from bench.spec import suite_from_data
from bench.store import Store, StoreError


@pytest.fixture(scope="module")
def two_suites(tmp_path_factory):
    """A store holding suite `a` (gd, 2 seeds) and suite `b` (extragradient, 1 seed), and the
    report folder written from it."""
    root = tmp_path_factory.mktemp("load")
    path = root / "s.sqlite"
    with Store(path) as store:
        for name, strategy, seeds in (("a", "gd", 2), ("b", "extragradient", 1)):
            stack = suite_from_data({"problems": ["bilinear"], "strategies": [strategy], "seeds": seeds,
                                     "steps": 4}).stacks[0]
            store.save_stack(name, stack.runs, run_stack(stack, torch.device("cpu")), {})
        frames = store.runs_frame(), store.records_frame(), store.declarations()
    write_report(root / "report", "t", frames[0], frames[1], {}, frames[2])
    return path, root / "report"


@pytest.mark.parametrize("where", ["store", "folder"])
def test_a_suite_selects_exactly_its_runs_and_their_records(two_suites, where):
    path = two_suites[0] if where == "store" else two_suites[1]
    every = load(path)
    assert sorted(every.runs["suite"]) == ["a", "a", "b"]
    for suite, n in (("a", 2), ("b", 1)):
        loaded = load(path, suite)
        assert list(loaded.runs["suite"]) == [suite] * n
        assert set(loaded.records["run_id"]) == set(loaded.runs["run_id"])
        assert set(loaded.declarations) == {"bilinear"}
    with pytest.raises(StoreError, match="has no runs of suite 'c'; it has: a, b"):
        load(path, "c")


def test_every_reader_sees_the_same_runs_from_a_store_and_its_report_folder(two_suites):
    store, folder = two_suites
    a, b = load_results(store), load_results(folder)
    assert sorted(a.runs["run_id"]) == sorted(b.runs["run_id"])
    assert len(a.curves) == len(b.curves) > 0
    assert set(load(store, samples=True).samples) <= set(a.runs["run_id"])  # the games keep no samples
    table = compare_sets(store, folder, "a", 0.05)
    assert set(table["strategy"]) == {"gd"} and not table["regression"].any()
    assert not load(store, records=False).records.shape[0]


def test_a_path_that_is_neither_is_refused_in_one_line(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        load(tmp_path / "missing.sqlite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="has no summary.csv"):
        load(tmp_path / "empty")


def test_every_strategy_setting_is_a_column_of_the_runs(tmp_path):
    """Issue 28, item 7: the declared hyperparameters (consensus's gamma, lookahead's inner and
    k) are columns of the runs, as the fixed settings are, absent where a strategy has none."""
    from bench.results import load_results

    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for strategies in (["consensus"], ["lookahead-gd"], ["gd"]):
            stack = suite_from_data({"problems": ["bilinear"], "strategies": strategies, "seeds": 1,
                                     "steps": 2}).stacks[0]
            store.save_stack("s", stack.runs, run_stack(stack, torch.device("cpu")), {})
    runs = load_results(path).runs.set_index("strategy")
    assert runs.loc["consensus", "gamma"] == 1.0 and pd.isna(runs.loc["gd", "gamma"])
    assert runs.loc["lookahead-gd", "inner"] == "simultaneous" and runs.loc["lookahead-gd", "k"] == 5
    assert runs.loc["gd", "beta1"] == 0.5  # the fixed settings stay columns


def test_a_wrapped_schemes_table_in_a_suite_nests_its_settings(tmp_path):
    """A suite writes a wrapped scheme with its own settings as a table; its settings become
    `inner.NAME` columns, and a key the inner scheme does not declare is bad input."""
    from bench.spec import SpecError

    table = {"like": "lookahead-gd", "alpha": 0.75, "inner": {"scheme": "unrolled", "unroll_steps": 2}}
    suite = suite_from_data({"problems": ["bilinear"], "strategies": ["la"], "seeds": 1, "steps": 2,
                             "strategy": {"la": table}})
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.save_stack("s", suite.stacks[0].runs, run_stack(suite.stacks[0], torch.device("cpu")), {})
    row = load_results(path).runs.iloc[0]
    assert (row["alpha"], row["k"], row["inner"], row["inner.unroll_steps"]) == (0.75, 5, "unrolled", 2)
    with pytest.raises(SpecError, match=r"\[strategy.la\]: unknown key 'inner.gamma'"):
        suite_from_data({"problems": ["bilinear"], "strategies": ["la"],
                         "strategy": {"la": {**table, "inner": {"scheme": "unrolled", "gamma": 1}}}})


def _stored_runs(tmp_path, data, **flags):
    path = tmp_path / "rates.sqlite"
    with Store(path) as store:
        for stack in suite_from_data(data, **flags).stacks:
            store.save_stack("s", stack.runs, run_stack(stack, torch.device("cpu")), {})
    return load_results(path).runs


def test_where_each_rate_came_from_is_recorded_at_expansion_and_reported_from_the_record(tmp_path):
    from bench.report import rate_notes

    data = {"problems": ["bilinear"], "strategies": ["gd", "mine", "plain"], "seeds": 1, "steps": 2,
            "strategy": {"mine": {"like": "gd", "lr_g": 0.02}, "plain": {"like": "adam"}}}
    runs = _stored_runs(tmp_path, data)
    assert dict(zip(runs["strategy"], runs["lr_source"])) == {
        "gd": "tuned-table", "mine": "suite", "plain": "problem-default"}
    assert rate_notes(runs) == ["Learning rates on bilinear: tuned by `bench tune` (ganopt/assets/tuned_lr.json): gd; "
                                "set by the suite: mine; untuned (the problem's default rates): plain."]
    # the record decides, not today's tuned table: a run stored without one says so
    assert rate_notes(runs.drop(columns="lr_source"))[0].endswith(
        "not recorded (stored before ganopt recorded where rates came from): gd, mine, plain.")
    assert (runs["planned_steps"] == 2).all() and (runs["precision"] == "fp32").all()


@pytest.mark.slow
def test_a_run_two_suites_share_belongs_to_both(tmp_path):
    """Issue 28, item 3: suite alpha (gd, adam), then suite beta (gd, extragradient) into one
    store: beta's gd runs are skipped as already there, yet beta's report, `report --suite beta`
    and load_results(suite="beta") hold gd and extragradient, labelled beta; alpha keeps its gd."""
    from helpers import run_bench

    store = tmp_path / "s.sqlite"
    for name, strategies in (("alpha", '"gd", "adam"'), ("beta", '"gd", "extragradient"')):
        (tmp_path / f"{name}.toml").write_text(f'problems = ["bilinear"]\nstrategies = [{strategies}]\n'
                                               'seeds = 2\nsteps = 20\n')
        result = run_bench("run", "--suite", str(tmp_path / f"{name}.toml"), "--store", str(store),
                           "--out", str(tmp_path / name), "--quiet")
        assert result.returncode == 0, result.stderr
    assert "2 of 4 runs are already in" in result.stderr  # beta's gd: trained once, by alpha
    summary = pd.read_csv(tmp_path / "beta" / "summary.csv")
    assert sorted(set(summary["strategy"])) == ["extragradient", "gd"] and set(summary["suite"]) == {"beta"}
    for suite, strategies in (("beta", ["extragradient", "gd"]), ("alpha", ["adam", "gd"])):
        runs = load_results(store, suite=suite).runs
        assert sorted(set(runs["strategy"])) == strategies and set(runs["suite"]) == {suite} and len(runs) == 4
    report = run_bench("report", str(store), "--suite", "beta", "--out", str(tmp_path / "again"))
    assert report.returncode == 0, report.stderr
    assert sorted(set(pd.read_csv(tmp_path / "again" / "summary.csv")["strategy"])) == ["extragradient", "gd"]


def test_a_suite_narrowed_by_flags_runs_as_its_own_suite(tmp_path, monkeypatch, capsys):
    """Issue 28, item 3: `run --problems bilinear` (the README's example) neither joins the
    quick suite's runs nor overwrites results/quick/: it runs as suite quick-custom."""
    from bench import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)
    assert cli.main(["run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "3",
                     "--quiet"]) == 0
    assert (tmp_path / "results" / "quick-custom" / "summary.csv").is_file()
    assert not (tmp_path / "results" / "quick").exists()
    with Store(tmp_path / "results" / "ganopt.sqlite", readonly=True) as store:
        assert store.suites() == ["quick-custom"]
    assert "suite quick-custom" in capsys.readouterr().err
