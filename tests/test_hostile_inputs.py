"""Hostile input and a hostile machine, through the real CLI: unusable or full output folders,
damaged or read-only stores, garbage report folders, specs that disagree, numbers out of range.
Each case is one clear line and a documented exit code, never a traceback."""

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from helpers import run_bench

from bench.compare import compare_sets
from bench.results import load_results
from bench.spec import SpecError, suite_from_data
from bench.store import StoreError
from ganopt import Strategy, register_strategy
from ganopt.strategies import STRATEGIES

V1_FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.sqlite"
bench = run_bench


def one_error_line(result, code: int, *words: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A store and its report folder from a tiny game sweep."""
    base = tmp_path_factory.mktemp("results")
    store = base / "s.sqlite"
    result = bench("run", "--problems", "bilinear", "--strategies", "gd,extragradient", "--seeds", "2", "--steps", "20",
                   "--store", str(store), "--out", str(base / "out"))
    assert result.returncode == 0, result.stderr
    return base, store


def mount_tmpfs(folder: Path, size: str = "1m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")


@pytest.fixture
def mounts():
    """Mount small file systems (root only); every one is unmounted afterwards."""
    mounted = []

    def mount(folder: Path, size: str = "1m") -> Path:
        mount_tmpfs(folder, size)
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount_readonly(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


# -- B5: every run of a problem failed -----------------------------------------------------------

@pytest.mark.slow
def test_a_game_whose_every_run_errored_is_reported_from_the_store_and_the_folder(tmp_path):
    plugin = tmp_path / "faulty.py"
    plugin.write_text("from ganopt import Scheme, Strategy, register_scheme, register_strategy\n"
                      "@register_scheme\nclass Faulty(Scheme):\n    name = 'faulty'\n"
                      "    def step(self):\n        raise RuntimeError('boom')\n"
                      "register_strategy(Strategy('faulty', scheme='faulty'))\n")
    store, out = tmp_path / "s.sqlite", tmp_path / "out"
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "faulty", "--seeds", "2",
                   "--steps", "5", "--store", str(store), "--out", str(out))
    assert result.returncode == 1 and "2 runs failed" in result.stderr, result.stderr
    for source, again in [(store, tmp_path / "from_store"), (out, tmp_path / "from_folder")]:
        report = bench("report", str(source), "--out", str(again))
        assert report.returncode == 0, report.stderr
        assert "every run diverged or failed" in (again / "summary.md").read_text()


# -- B6, B9: numbers beyond the machine's ------------------------------------------------------

def test_integer_settings_beyond_int64_are_stored_as_reals(tmp_path):
    suite = tmp_path / "big.toml"
    suite.write_text('problems = ["bilinear"]\nstrategies = ["big-eps", "big-lr"]\nseeds = 1\nsteps = 5\n'
                     f'[strategy.big-eps]\nlike = "adam"\neps = {10**30}\n'
                     f'[strategy.big-lr]\nlike = "sgd"\nlr_g = {10**30}\n')
    store = tmp_path / "s.sqlite"
    result = bench("run", "--suite", str(suite), "--store", str(store), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(store) as con:
        rows = {s: (status, eps, lr) for s, status, eps, lr in con.execute("SELECT strategy, status, eps, lr_g FROM runs")}
    assert rows["big-eps"][:2] == ("done", 1e30) and rows["big-lr"][1:] == (1e-8, 1e30)


LR_CASES = {
    "lr_ratio overflows": ({"lr_g": 10, "lr_ratio": 1e308}, {}, "lr_d must be a positive number, got inf"),
    "lr_ratio underflows": ({"lr_g": 1e-300, "lr_ratio": 1e-300}, {}, "lr_d must be a positive number, got 0.0"),
    "eps beyond float": ({"eps": 10**400}, {}, "eps is too large"),
    "lr_g beyond float": ({"lr_g": 10**400}, {}, "lr_g is too large"),
    "tuning range overflows": ({}, {"lr_range": [1e-300, 1e300]}, "lr_g must be a positive number"),
}


@pytest.mark.parametrize("case", LR_CASES)
def test_learning_rates_out_of_floating_point_range_are_bad_input(case):
    settings, tuning, message = LR_CASES[case]
    data = {"problems": ["bilinear"], "strategies": ["z"], "seeds": 1, "strategy": {"z": {"like": "sgd", **settings}}}
    with pytest.raises(SpecError, match=message):
        suite_from_data({**data, **({"tuning": tuning} if tuning else {})})


def test_an_overflowing_learning_rate_is_one_line_and_exit_2(tmp_path):
    suite = tmp_path / "lr.toml"
    suite.write_text('problems = ["bilinear"]\nstrategies = ["z"]\nseeds = 1\n'
                     '[strategy.z]\nlike = "sgd"\nlr_g = 10\nlr_ratio = 1e308\n')
    result = bench("run", "--suite", str(suite), "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o"))
    one_error_line(result, 2, "on bilinear, strategy 'z': lr_d must be a positive number, got inf")
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "o").exists()


# -- B7: output folders that cannot be written -----------------------------------------------

@pytest.mark.slow
def test_an_unusable_out_folder_is_refused_before_anything_runs(tmp_path, mounts):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    readonly = mounts(tmp_path / "ro")
    remount_readonly(readonly)
    for out, words in [(str(readonly / "out"), ["cannot write in", "Read-only file system"]),
                       (str(readonly), ["cannot write in"]),
                       (str(a_file / "sub"), ["a_file is not a directory"]),
                       ("", ["--out", "expected a path"])]:
        result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "5",
                       "--store", str(tmp_path / "s.sqlite"), "--out", out)
        one_error_line(result, 2, *words)
        assert not (tmp_path / "s.sqlite").exists()
    report = bench("report", str(V1_FIXTURE), "--out", str(readonly / "r"))
    one_error_line(report, 2, "cannot write in")


# -- B8: a full disk ---------------------------------------------------------------------------

def test_a_full_out_folder_is_one_line_and_leaves_no_truncated_file(tmp_path, mounts):
    out = mounts(tmp_path / "small", "200k")
    store = tmp_path / "s.sqlite"
    result = bench("run", "--problems", "bilinear,dirac", "--strategies", "gd,extragradient,adam", "--seeds", "2",
                   "--steps", "20", "--store", str(store), "--out", str(out))
    one_error_line(result, 1, "cannot write the report", "No space left on device", "bench report")
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0] == 12
    written = list(out.iterdir())
    assert written and all(f.stat().st_size > 0 for f in written), [(f.name, f.stat().st_size) for f in written]
    assert not [f for f in written if f.name.endswith(".tmp")]


def test_a_full_store_disk_keeps_the_finished_stacks(tmp_path, mounts):
    disk = mounts(tmp_path / "small", "200k")
    suite = tmp_path / "fill.toml"  # bilinear first (tiny records), then ring8 (80 kB of samples per run)
    suite.write_text('problems = ["bilinear", "ring8"]\nstrategies = ["gd"]\nseeds = 3\nsteps = 5\n'
                     '[problem.ring8]\ng_hidden = [8]\nd_hidden = [8]\nbatch_size = 16\n')
    store = disk / "s.sqlite"
    result = bench("run", "--suite", str(suite), "--store", str(store), "--out", str(tmp_path / "o"))
    one_error_line(result, 1, "cannot write to the store", "full", "the stacks finished before are kept")
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT problem, status FROM runs").fetchall() == [("bilinear", "done")] * 3


# -- B10, C16, C17: stores that are damaged, read-only or not files ---------------------------

@pytest.mark.slow
def test_a_store_with_damaged_pages_is_refused_when_opened(tmp_path, results):
    _, good = results
    store = tmp_path / "damaged.sqlite"
    with sqlite3.connect(good) as src, sqlite3.connect(store) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    data = bytearray(store.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[3 * page + 100: 5 * page] = os.urandom(2 * page - 100)  # a table page and an index page
    store.write_bytes(bytes(data))
    for args in (["report", str(store), "--out", str(tmp_path / "o")],
                 ["compare", str(store), str(good)],
                 ["run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--store", str(store),
                  "--out", str(tmp_path / "o")]):
        one_error_line(bench(*args), 2, str(store))
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_report_and_compare_read_a_store_on_a_read_only_mount(tmp_path, results, mounts):
    _, good = results
    disk = mounts(tmp_path / "ro", "16m")
    shutil.copy(good, disk / "s.sqlite")
    shutil.copy(V1_FIXTURE, disk / "v1.sqlite")
    remount_readonly(disk)
    assert bench("report", str(disk / "s.sqlite"), "--out", str(tmp_path / "r")).returncode == 0
    compared = bench("compare", str(disk / "s.sqlite"), str(good))
    assert compared.returncode == 0 and "no significant regression" in compared.stderr, compared.stderr
    v1 = bench("report", str(disk / "v1.sqlite"), "--out", str(tmp_path / "r1"))  # migrated in memory
    assert v1.returncode == 0, v1.stderr
    assert "modes covered (of 8)" in (tmp_path / "r1" / "summary.md").read_text()


def test_a_store_that_is_not_a_regular_file_is_refused(tmp_path):
    existed = Path("/dev/null-journal").exists()
    result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--store", "/dev/null",
                   "--out", str(tmp_path / "o"))
    one_error_line(result, 2, "/dev/null is not a regular file")
    assert existed or not Path("/dev/null-journal").exists()


# -- B11: report folders that ganopt did not write --------------------------------------------

GARBAGE = ["", "\x00\x01garbage\xff" * 50, "a,b,c\n1,2,3\n", 'run_id,problem\n"x,1\n']


@pytest.mark.slow
def test_a_report_folder_with_a_garbage_summary_is_refused(tmp_path, results):
    _, good = results
    for i, content in enumerate(GARBAGE):
        folder = tmp_path / f"folder{i}"
        folder.mkdir()
        (folder / "summary.csv").write_text(content, errors="surrogateescape")
        with pytest.raises(StoreError, match="summary.csv"):
            compare_sets(folder, good, None, 0.05)
        with pytest.raises(StoreError, match="summary.csv"):
            load_results(folder)
    out = tmp_path / "new"
    for i in (0, 2):  # empty, other columns: through the CLI
        one_error_line(bench("report", str(tmp_path / f"folder{i}"), "--out", str(out)), 2, "summary.csv")
        assert not out.exists()
    one_error_line(bench("compare", str(tmp_path / "folder1"), str(good)), 2, "summary.csv")


# -- C13: compare refuses results of different specs ------------------------------------------

@pytest.mark.slow
def test_compare_refuses_result_sets_of_different_specs(tmp_path, results):
    base, good = results
    short = tmp_path / "short.sqlite"
    result = bench("run", "--problems", "bilinear", "--strategies", "gd,extragradient", "--seeds", "2", "--steps", "7",
                   "--store", str(short), "--out", str(tmp_path / "short"))
    assert result.returncode == 0, result.stderr
    for a, b in [(good, short), (base / "out", tmp_path / "short")]:  # stores, then report folders
        one_error_line(bench("compare", str(a), str(b)), 2, "bilinear", "steps 20", "steps 7")
    suite = tmp_path / "wide.toml"
    suite.write_text('problems = ["bilinear"]\nstrategies = ["gd", "extragradient"]\nseeds = 2\nsteps = 20\n'
                     '[problem.bilinear]\ncoupling = 2.0\n')
    wide = tmp_path / "wide.sqlite"
    assert bench("run", "--suite", str(suite), "--store", str(wide), "--out", str(tmp_path / "w")).returncode == 0
    one_error_line(bench("compare", str(good), str(wide)), 2, "options")


# -- C15: plugins see __file__ on worker processes --------------------------------------------

def test_a_plugin_using_its_file_path_runs_on_worker_processes(tmp_path):
    plugin = tmp_path / "here.py"
    plugin.write_text("from pathlib import Path\nfrom ganopt import Strategy, register_strategy\n"
                      "HERE = Path(__file__).parent\n"
                      "register_strategy(Strategy('here-' + Path(__file__).stem, base='sgd'))\n")
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", "here-here", "--seeds", "1",
                   "--steps", "5", "--executor", "processes", "--workers", "1", "--store", str(tmp_path / "s.sqlite"),
                   "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr


# -- C18, C19, C20: registries, messages, plans too large -------------------------------------

def test_registering_a_taken_strategy_name_is_refused_unless_replacing():
    with pytest.raises(ValueError, match="'adam' is already registered"):
        register_strategy(Strategy("adam", base="sgd"))
    assert STRATEGIES["adam"].base == "adam"
    register_strategy(STRATEGIES["adam"])  # the same strategy again: harmless
    mine = register_strategy(Strategy("hostile-test-x", base="sgd"))
    try:
        register_strategy(Strategy("hostile-test-x", base="adam"), replace=True)
        assert STRATEGIES["hostile-test-x"].base == "adam"
    finally:
        STRATEGIES.pop(mine.name)


def test_a_plugin_redefining_a_preset_is_bad_input(tmp_path):
    plugin = tmp_path / "evil.py"
    plugin.write_text("from ganopt import Strategy, register_strategy\n"
                      "register_strategy(Strategy('adam', base='sgd'))\n")
    result = bench("run", "--plugin", str(plugin), "--problems", "bilinear", "--out", str(tmp_path / "o"),
                   "--store", str(tmp_path / "s.sqlite"))
    one_error_line(result, 2, "'adam' is already registered")


@pytest.mark.slow
def test_suite_paths_that_are_not_files_are_named_for_what_they_are(tmp_path):
    fifo = tmp_path / "suite.fifo"
    os.mkfifo(fifo)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for args, words in [(["--suite", str(tmp_path)], ["is a directory"]),
                        (["--suite", str(fifo)], ["not a regular file"]),
                        (["--suite", "/dev/null"], ["not a regular file"]),
                        (["--problems", "mnist", "--strategies", "adam", "--data-dir", str(a_file)],
                         ["a_file: is a file, not a data folder"])]:
        result = bench("run", *args, "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s.sqlite"), timeout=60)
        one_error_line(result, 2, *words)
        assert "does not exist" not in result.stderr and "not found" not in result.stderr


def test_a_plan_of_a_million_runs_is_refused_at_once(tmp_path):
    start = time.perf_counter()
    result = bench("run", "--seeds", "100000", "--problems", "ring8,grid25", "--out", str(tmp_path / "o"),
                   "--store", str(tmp_path / "s.sqlite"))
    one_error_line(result, 2, "1,400,000 runs", "--max-runs 20,000")  # quick: 7 strategies
    assert time.perf_counter() - start < 30
    with pytest.raises(SpecError, match="more than --max-runs 5"):
        suite_from_data({"problems": ["bilinear"], "strategies": ["gd", "sgd"], "seeds": 3}, max_runs=5)
    assert len(suite_from_data({"problems": ["bilinear"], "strategies": ["gd", "sgd"], "seeds": 3},
                               max_runs=None).runs) == 6


# -- issue 28: flags refused before anything runs ------------------------------------------------

def test_an_infinite_or_absurd_timeout_is_refused_before_anything_runs(tmp_path):
    """`--timeout inf` once passed and every stack was then recorded as `error: OverflowError`
    (setitimer takes up to about 1e10 s)."""
    from ganopt.train import MAX_TIME_LIMIT_S, TrainSettings

    for value in ["inf", "1e12", "nan"]:
        result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "20",
                       "--timeout", value, "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s.sqlite"))
        one_error_line(result, 2, "--timeout", "finite", f"{MAX_TIME_LIMIT_S:g}")
        assert not (tmp_path / "s.sqlite").exists()
    with pytest.raises(ValueError, match="time limit"):
        TrainSettings(steps=10, eval_every=5, time_limit_s=float("inf"))
    TrainSettings(steps=10, eval_every=5, time_limit_s=MAX_TIME_LIMIT_S)  # the largest is accepted


def test_a_suite_name_that_cannot_name_a_folder_is_refused_before_training(tmp_path):
    """A name with a NUL or of 300 characters once trained the whole sweep, then failed when
    the report folder was made."""
    for name, word in [("a\\u0000b", "control characters"), ("x" * 300, "300 characters")]:
        suite = tmp_path / "named.toml"
        suite.write_text(f'name = "{name}"\nproblems = ["bilinear"]\nstrategies = ["gd"]\nseeds = 1\nsteps = 20\n')
        result = bench("run", "--suite", str(suite), "--store", str(tmp_path / "s.sqlite"))
        one_error_line(result, 2, "named.toml", "name must be a folder name", word)
        assert not (tmp_path / "s.sqlite").exists()
    with pytest.raises(SpecError, match="name must be a folder name"):
        suite_from_data({"name": "é" * 51, "problems": ["bilinear"], "strategies": ["gd"], "seeds": 1})  # 102 bytes
    assert suite_from_data({"name": "é" * 50, "problems": ["bilinear"], "strategies": ["gd"], "seeds": 1}).name


def test_store_and_out_on_one_path_are_refused_before_training(tmp_path):
    for store, out in [(tmp_path / "x", tmp_path / "x"), (tmp_path / "x", tmp_path / "x" / "report")]:
        result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "20",
                       "--store", str(store), "--out", str(out))
        one_error_line(result, 2, "--store", "--out", "different paths")
        assert not store.exists()


def test_a_bad_perf_baseline_file_is_refused_before_measuring(tmp_path):
    """A truncated file, an entry without `threshold`, a JSON list or a folder once ran the
    whole measurement, then printed a traceback."""
    committed = Path(__file__).parents[1] / "benchmarks" / "perf_baseline.json"
    truncated, no_threshold, a_list, folder = (tmp_path / n for n in ("cut.json", "nothr.json", "list.json", "dir"))
    truncated.write_text(committed.read_text()[:200])
    no_threshold.write_text('{"cpus": {"AMD EPYC AVX2": {"normalized_cost": {"ring8/simultaneous/adam/K=16": 1.5}}}}')
    a_list.write_text("[1, 2]")
    folder.mkdir()
    cases = [("--baseline", truncated, "not a readable JSON file"), ("--baseline", no_threshold, '"threshold"'),
             ("--baseline", a_list, '"cpus" object'), ("--baseline", folder, "is a directory"),
             ("--save-baseline", folder, "is a directory"), ("--save-baseline", a_list, '"cpus" object')]
    for flag, path, words in cases:
        out = tmp_path / "out"
        result = bench("perf", "--problems", "bilinear", "--k", "1", "--schemes", "simultaneous", "--bases", "sgd",
                       "--seconds", "0.01", flag, str(path), "--out", str(out))
        one_error_line(result, 2, flag, path.name, words)
        assert not out.exists(), f"{flag} {path.name}: measured before refusing"
    assert a_list.read_text() == "[1, 2]"


def test_a_bad_dask_scheduler_address_is_one_line_before_anything_runs(tmp_path):
    """`--scheduler 'not a url'` once gave a traceback at once, an address nobody listens on
    one after 30 s."""
    import socket

    pytest.importorskip("distributed")
    from bench.executors import check_scheduler

    for address, words in [("not a url", ["not a Dask scheduler address", "tcp://HOST:PORT"]),
                           ("http://127.0.0.1:8786", ["not a Dask scheduler address"]),
                           ("tcp://127.0.0.1:1", ["cannot reach 127.0.0.1:1"])]:
        result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "20",
                       "--executor", "dask", "--scheduler", address, "--out", str(tmp_path / "o"),
                       "--store", str(tmp_path / "s.sqlite"), timeout=60)
        one_error_line(result, 2, "--scheduler", *words)
        assert not (tmp_path / "s.sqlite").exists()
    with socket.socket() as listening:  # a well-formed address something listens on passes
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        for address in (f"tcp://127.0.0.1:{port}", f"127.0.0.1:{port}", f"tcp://localhost:{port}"):
            check_scheduler(address)
    for address in ("tcp://:8786", "tcp://host", "tcp://host:70000", "tcp://a b:1"):
        with pytest.raises(SpecError, match="not a Dask scheduler address"):
            check_scheduler(address)


def test_a_bad_flag_value_is_blamed_on_the_flag_not_on_the_suite_file(tmp_path):
    for flag, value, words in [("--diagnostics-at", "nan", ["fractions of the budget in [0, 1]", "nan"]),
                               ("--precision", "bf16", ["bilinear", "float64"])]:
        result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "20",
                       flag, value, "--out", str(tmp_path / "o"), "--store", str(tmp_path / "s.sqlite"))
        one_error_line(result, 2, *words)
        line = next(x for x in result.stderr.splitlines() if x.startswith("error:"))
        assert line.startswith(f"error: {flag}") and "quick.toml" not in line, line


def test_more_workers_than_cpus_are_capped_with_a_warning(tmp_path):
    """`--workers 1000` once started 20 processes on 2 cores, with no word."""
    import torch

    from bench.cli import Execution, stacks_to_fill
    from bench.executors import usable_cpus
    from bench.spec import build_suite

    cpus = usable_cpus()
    execution = Execution(store=tmp_path / "s.sqlite", device=torch.device("cpu"), device_name="cpu",
                          executor="processes", workers=1000, scheduler=None, retries=0, timeout=None, force=False,
                          quiet=True)
    assert execution.workers == cpus
    assert execution.warnings == (f"--workers 1000 is more than the {cpus} CPUs this process may use: using {cpus}",)
    big = build_suite(None, "ring8", "gd,adam,extragradient,optimistic", 4, 6000)
    assert stacks_to_fill(execution, list(big.stacks), torch.device("cpu")) == cpus
    fits = Execution(store=tmp_path / "s.sqlite", device=torch.device("cpu"), device_name="cpu",
                     executor="processes", workers=cpus, scheduler=None, retries=0, timeout=None, force=False, quiet=True)
    assert fits.workers == cpus and fits.warnings == ()
    result = bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "20",
                   "--executor", "processes", "--workers", "1000", "--out", str(tmp_path / "o"),
                   "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: --workers")]
    assert warnings == [f"warning: --workers 1000 is more than the {cpus} CPUs this process may use: using {cpus}"]
