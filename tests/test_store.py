"""The results store survives kills, isolates faults, refuses foreign stores, and hostile
specs never produce a traceback."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.spec import SpecError, suite_from_data
from helpers import ENV, ROOT, default_sigint


SWEEP = """
name = "sweep"
problems = ["ring8"]
strategies = ["gd", "sgd", "adam", "extragradient", "alt-sgd", "optimistic"]
seeds = 2
steps = 400
eval_every = 100

[problem.ring8]
g_hidden = [64, 64]
d_hidden = [64, 64]
batch_size = 128
"""
N_RUNS = 12
EVALS_PER_RUN = 5  # steps 0, 100, 200, 300, 400


def cli(*args):
    return [sys.executable, "-m", "bench", *args]


def count_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def check_complete_or_absent(db: Path) -> dict:
    """Every run in the store has all its records and samples; nothing else is there."""
    with sqlite3.connect(db) as con:
        runs = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        per_run = dict(con.execute("SELECT run_id, COUNT(*) FROM evaluations GROUP BY run_id").fetchall())
        samples = {r[0] for r in con.execute("SELECT run_id FROM samples")}
    assert set(per_run) == set(runs) == samples
    assert all(count == EVALS_PER_RUN for count in per_run.values()), per_run
    assert set(runs.values()) <= {"done", "diverged"}
    return runs


def start_sweep(tmp_path):
    suite = tmp_path / "sweep.toml"
    suite.write_text(SWEEP)
    db = tmp_path / "store.sqlite"
    args = cli("run", "--suite", str(suite), "--store", str(db), "--out", str(tmp_path / "out"))
    return args, db


def kill_after_first_stack(args, db, sig):
    proc = subprocess.Popen(args, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.time() + 240
    while count_runs(db) == 0 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_sweep_loses_nothing_done_and_resumes(tmp_path, sig):
    args, db = start_sweep(tmp_path)
    code, err = kill_after_first_stack(args, db, sig)
    if sig == signal.SIGINT:
        assert code == 130 and "interrupted" in err, err
    else:
        assert code == -signal.SIGKILL
    survived = check_complete_or_absent(db)
    assert 0 < len(survived) < N_RUNS, "the kill should land mid-sweep"

    rerun = subprocess.run(args, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(survived)} of {N_RUNS} runs are already in" in rerun.stderr
    final = check_complete_or_absent(db)
    assert len(final) == N_RUNS and set(survived) <= set(final)


def plugin(tmp_path, body: str) -> Path:
    path = tmp_path / "faulty.py"
    path.write_text(
        "from ganopt import Scheme, Strategy, register_scheme, register_strategy\n"
        "@register_scheme\n"
        "class Faulty(Scheme):\n"
        "    name = 'faulty'\n"
        "    def step(self):\n"
        f"        {body}\n"
        "register_strategy(Strategy('faulty', scheme='faulty'))\n")
    return path


@pytest.mark.slow
def test_a_stack_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path):
    faulty = plugin(tmp_path, "raise RuntimeError('boom at the first step')")
    db = tmp_path / "store.sqlite"
    args = cli("run", "--plugin", str(faulty), "--problems", "bilinear", "--strategies", "faulty,gd",
               "--seeds", "2", "--store", str(db), "--out", str(tmp_path / "out"))
    result = subprocess.run(args, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "2 runs failed" in result.stderr and "boom at the first step" in result.stderr
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT strategy, status, reason FROM runs ORDER BY strategy").fetchall()
    assert [(s, st_) for s, st_, _ in rows] == [("faulty", "error"), ("faulty", "error"), ("gd", "done"), ("gd", "done")]
    assert all("RuntimeError: boom at the first step" in reason for s, _, reason in rows if s == "faulty")
    # a rerun skips the finished runs and tries the failed ones again
    again = subprocess.run(args, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "2 of 4 runs are already in" in again.stderr and again.returncode == 1


def test_a_stack_past_its_time_limit_is_recorded_as_timeout(tmp_path):
    slow = plugin(tmp_path, "import time; time.sleep(0.2); self.stack.field('gd')")
    db = tmp_path / "store.sqlite"
    args = cli("run", "--plugin", str(slow), "--problems", "bilinear", "--strategies", "faulty,gd", "--seeds", "1",
               "--steps", "50", "--timeout", "1", "--store", str(db), "--out", str(tmp_path / "out"))
    result = subprocess.run(args, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    with sqlite3.connect(db) as con:
        rows = dict(con.execute("SELECT strategy, status || ': ' || COALESCE(reason, '') FROM runs").fetchall())
    assert rows["gd"] == "done: "
    assert rows["faulty"].startswith("timeout: exceeded the time limit of 1s")  # here in the calibration steps


@pytest.mark.slow
def test_a_store_from_another_schema_is_refused_with_a_clear_message(tmp_path):
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as con:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE customers (id INTEGER)")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    for store, message in [(old, "written with results schema v0"), (foreign, "is not a ganopt results store"),
                           (garbage, "is not a usable ganopt results store")]:
        result = subprocess.run(cli("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1",
                                    "--store", str(store), "--out", str(tmp_path / "out")),
                                env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_same_run_twice_on_cpu_gives_bitwise_identical_records(tmp_path):
    stores = []
    for name in ("a", "b"):
        db = tmp_path / f"{name}.sqlite"
        result = subprocess.run(cli("run", "--problems", "ring8,dirac", "--strategies", "adam,extragradient",
                                    "--seeds", "2", "--steps", "40", "--store", str(db), "--out", str(tmp_path / name)),
                                env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(db) as con:
            stores.append(con.execute("SELECT e.run_id, e.step, e.grad_evals, v.name, v.value FROM evaluations e "
                                      "JOIN metric_values v USING (run_id, step) "
                                      "ORDER BY e.run_id, e.step, v.name").fetchall())
    strip = [sorted({row[:2] for row in rows}) for rows in stores]
    assert stores[0] == stores[1]
    # ring8: evaluations at steps 0 and 40; dirac: every 5 steps, 9 evaluations; 4 runs each
    assert len(strip[0]) == 4 * 2 + 4 * 9 and strip[0] == strip[1]


# -- hostile specs --------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
known = {
    "name": values, "problems": st.one_of(values, st.lists(st.sampled_from(["ring8", "grid25", "bilinear", "x"]))),
    "strategies": st.one_of(values, st.lists(st.sampled_from(["adam", "gd", "mine", "y"]))),
    "seeds": values, "steps": values, "eval_every": values, "plugins": values, "description": values,
    "problem": st.dictionaries(st.sampled_from(["ring8", "bilinear", "zz"]),
                               st.dictionaries(st.sampled_from(["preset", "g_hidden", "batch_size", "dim", "loss", "q"]),
                                               values, max_size=3), max_size=2),
    "strategy": st.dictionaries(st.sampled_from(["mine", "adam", "other"]),
                                st.dictionaries(st.sampled_from(["like", "lr_g", "beta", "scheme", "base", "d_steps", "k"]),
                                                values, max_size=3), max_size=2),
}
suites = st.fixed_dictionaries({}, optional={**known, "extra": values})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suites)
def test_hostile_suites_give_a_clear_error_or_a_valid_suite(data):
    try:
        suite = suite_from_data(data)
    except SpecError as e:
        message = str(e)
        assert message and "\n" not in message and "Traceback" not in message
    else:
        assert suite.runs and all(r.steps >= 1 and r.strategy.lr_g > 0 for r in suite.runs)


def test_run_ids_change_with_the_plugin_code_and_the_device(tmp_path):
    """A plugin has no numerics version: its content is part of the ids of a sweep that loads it."""
    plugin_file = tmp_path / "p.py"
    plugin_file.write_text("from ganopt import Strategy, register_strategy\n"
                           "register_strategy(Strategy('plugged', base='sgd'))\n")
    data = {"problems": ["bilinear"], "strategies": ["plugged"], "seeds": 1}
    first = suite_from_data(data, plugins=[str(plugin_file)]).runs[0].run_id
    assert suite_from_data(data, plugins=[str(plugin_file)]).runs[0].run_id == first
    assert suite_from_data(data, plugins=[str(plugin_file)], device="cuda").runs[0].run_id != first
    plugin_file.write_text(plugin_file.read_text() + "# an edit\n")
    assert suite_from_data(data, plugins=[str(plugin_file)]).runs[0].run_id != first


def test_a_failed_force_rerun_keeps_the_finished_results(tmp_path):
    """Issue 28, item 1: a `--force` rerun that times out (or errs) must not wipe the finished
    runs it was to replace: they stay done, with every evaluation."""
    from helpers import run_bench

    store, args = tmp_path / "s.sqlite", ["run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "2",
                                          "--steps", "3000", "--out", str(tmp_path / "out")]  # past 1 ms
    assert run_bench(*args, "--store", str(store)).returncode == 0

    def saved():
        with sqlite3.connect(store) as db:
            return (db.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall(),
                    db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    before = saved()
    assert [status for _, status in before[0]] == ["done", "done"] and before[1] > 0
    rerun = run_bench(*args, "--store", str(store), "--force", "--timeout", "0.001", "--executor", "inprocess")
    assert "TIMEOUT" in rerun.stdout + rerun.stderr
    assert saved() == before
