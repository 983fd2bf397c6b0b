"""Stacks shipped to local worker processes and to a real Dask cluster on loopback."""

import sqlite3
from pathlib import Path

import pytest
from helpers import run_bench


SUITE = """
name = "exec"
problems = ["ring8", "dirac"]
strategies = ["adam", "extragradient", "alt-sgd"]
seeds = 2
steps = 60
eval_every = 20
[problem.ring8]
g_hidden = [32, 32]
d_hidden = [32, 32]
batch_size = 64
"""

# A scheme whose worker dies (os._exit) the first time it runs anywhere, then behaves: the
# marker file lives on this machine's disk, shared by every local worker.
DIES_ONCE = """
import os
from ganopt import Strategy, register_scheme, register_strategy
from ganopt.schemes import Simultaneous

MARKER = {marker!r}

@register_scheme
class DiesOnce(Simultaneous):
    name = "dies-once"
    def step(self):
        if not os.path.exists(MARKER):
            open(MARKER, "w").close()
            os._exit(17)
        super().step()

register_strategy(Strategy("dies-once", scheme="dies-once", base="adam"))
"""


bench = run_bench


def records(store: Path):
    with sqlite3.connect(store) as con:
        return con.execute("SELECT run_id, step, name, value FROM metric_values "
                           "WHERE name IN ('loss_g', 'loss_d', 'hq_fraction', 'dist_to_eq') "
                           "ORDER BY run_id, step, name").fetchall()


def statuses(store: Path):
    with sqlite3.connect(store) as con:
        return con.execute("SELECT strategy, seed, status FROM runs ORDER BY strategy, seed").fetchall()


@pytest.fixture(scope="module")
def suite_and_baseline(tmp_path_factory):
    base = tmp_path_factory.mktemp("exec")
    suite = base / "suite.toml"
    suite.write_text(SUITE)
    store = base / "inprocess.sqlite"
    result = bench("run", "--suite", str(suite), "--store", str(store), "--out", str(base / "o"))
    assert result.returncode == 0, result.stderr
    return suite, records(store)


@pytest.mark.slow
def test_process_executor_gives_the_same_records_as_in_process(suite_and_baseline, tmp_path):
    suite, expected = suite_and_baseline
    store = tmp_path / "processes.sqlite"
    result = bench("run", "--suite", str(suite), "--executor", "processes", "--workers", "2",
                   "--store", str(store), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert records(store) == expected and len(expected) == 144  # 12 runs x 4 evaluations x 3 of the names


@pytest.mark.slow
def test_a_dead_worker_process_is_retried_and_nothing_is_lost(tmp_path):
    plugin = tmp_path / "dies_once.py"
    plugin.write_text(DIES_ONCE.format(marker=str(tmp_path / "died")))
    store = tmp_path / "s.sqlite"
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear,dirac", "--strategies", "dies-once,gd",
                   "--seeds", "2", "--steps", "20", "--executor", "processes", "--workers", "2",
                   "--store", str(store), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "died").exists()  # a worker really died
    assert [s for _, _, s in statuses(store)] == ["done"] * 8


@pytest.mark.slow
def test_a_stack_whose_worker_always_dies_is_recorded_as_an_error(tmp_path):
    plugin = tmp_path / "dies.py"
    plugin.write_text(DIES_ONCE.format(marker=str(tmp_path / "never")).replace("if not os.path.exists(MARKER):",
                                                                               "if True:"))
    store = tmp_path / "s.sqlite"
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "dies-once,gd",
                   "--seeds", "1", "--steps", "5", "--executor", "processes", "--workers", "2", "--retries", "1",
                   "--store", str(store), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert "worker process died 2 times" in result.stderr
    assert statuses(store) == [("dies-once", 0, "error"), ("gd", 0, "done")]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_class=distributed.Nanny) as local:
        yield local


@pytest.mark.slow
def test_dask_cluster_runs_the_suite_with_the_same_records(cluster, suite_and_baseline, tmp_path):
    suite, expected = suite_and_baseline
    store = tmp_path / "dask.sqlite"
    result = bench("run", "--suite", str(suite), "--executor", "dask", "--scheduler", cluster.scheduler_address,
                   "--store", str(store), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert records(store) == expected


@pytest.mark.slow
def test_a_dask_worker_killed_mid_stack_loses_nothing(cluster, tmp_path):
    plugin = tmp_path / "dies_once.py"
    plugin.write_text(DIES_ONCE.format(marker=str(tmp_path / "died")))
    store = tmp_path / "s.sqlite"
    args = ["run", "--plugin", str(plugin), "--problems", "bilinear,dirac", "--strategies", "dies-once,gd",
            "--seeds", "2", "--steps", "20", "--executor", "dask", "--scheduler", cluster.scheduler_address,
            "--store", str(store), "--out", str(tmp_path / "o")]
    result = bench(*args)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "died").exists()
    assert [s for _, _, s in statuses(store)] == ["done"] * 8
    again = bench(*args)  # resume: everything is already there, nothing is duplicated
    assert "8 of 8 runs are already in" in again.stderr
    assert len(statuses(store)) == 8


# Two stacks on two workers: one worker dies (always); the other stack is still training then
# (it waits for the death's marker, then 2 s more).  Only the dead worker's stack may be charged.
DIES_BESIDE_ANOTHER = """
import os, time
from ganopt import Strategy, register_scheme, register_strategy
from ganopt.schemes import Simultaneous

MARKER = {marker!r}
slept = []

@register_scheme
class Dies(Simultaneous):
    name = "dies"
    def step(self):
        open(MARKER, "w").close()
        os._exit(17)

@register_scheme
class OutlivesIt(Simultaneous):
    name = "outlives-it"
    def step(self):
        while not slept:
            if os.path.exists(MARKER):
                time.sleep(2)
                slept.append(1)
            time.sleep(0.05)
        super().step()

register_strategy(Strategy("dies", scheme="dies", base="sgd"))
register_strategy(Strategy("outlives-it", scheme="outlives-it", base="sgd"))
"""


@pytest.mark.slow
def test_only_the_stack_whose_worker_died_is_charged_a_try(tmp_path):
    plugin = tmp_path / "dies_beside.py"
    plugin.write_text(DIES_BESIDE_ANOTHER.format(marker=str(tmp_path / "died")))
    store = tmp_path / "s.sqlite"
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "dies,outlives-it",
                   "--seeds", "1", "--steps", "5", "--executor", "processes", "--workers", "2", "--retries", "0",
                   "--store", str(store), "--out", str(tmp_path / "o"), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "worker process died 1 times" in result.stderr
    assert statuses(store) == [("dies", 0, "error"), ("outlives-it", 0, "done")]


def test_usable_cpus_follow_the_cgroup_quota(tmp_path):
    from bench.executors import _cgroup_cpu_quota

    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert _cgroup_cpu_quota(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert _cgroup_cpu_quota(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cgroup_cpu_quota(v1) == 3.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_cpu_quota(v1) is None
    assert _cgroup_cpu_quota(tmp_path / "none") is None


@pytest.mark.slow
def test_threads_flag_sets_the_intra_op_threads_each_run_records(tmp_path):
    import json
    import os

    out = tmp_path / "out"
    result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "5",
                   "--threads", "1", "--executor", "inprocess", "--out", str(out), "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 0, result.stderr
    provenance = json.loads((out / "provenance.json").read_text())
    assert {p["torch_threads"] for p in provenance.values()} == {1}
    # training commands wait passively (bench/__main__.py) unless the caller chose a policy
    assert {p["omp_wait_policy"] for p in provenance.values()} == {os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    bad = bench("run", "--threads", "0", "--problems", "bilinear", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--threads must be >= 1" in bad.stderr
