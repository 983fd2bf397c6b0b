"""Hostile steps and signals: a step that never returns, a step that calls sys.exit, SIGTERM and
SIGINT, in-process and on worker processes.  Each case is a real CLI run on a tiny grid."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ENV, ROOT, default_sigint, run_bench

def scheme_plugin(tmp_path: Path, name: str, body: str) -> Path:
    """A plugin registering strategy `name` whose scheme's step runs `body`."""
    path = tmp_path / f"{name}.py"
    path.write_text(
        "import sys, time\n"
        "from ganopt import Scheme, Strategy, register_scheme, register_strategy\n"
        "@register_scheme\n"
        "class Hostile(Scheme):\n"
        f"    name = {name!r}\n"
        "    def step(self):\n"
        f"        {body}\n"
        f"register_strategy(Strategy({name!r}, scheme={name!r}))\n")
    return path


def statuses(store: Path) -> dict:
    with sqlite3.connect(store) as con:
        return dict(con.execute("SELECT strategy, status || ': ' || COALESCE(reason, '') FROM runs").fetchall())


def grid(plugin: Path, strategy: str, tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--plugin", str(plugin), "--problems", "bilinear", "--strategies", f"{strategy},gd",
            "--seeds", "1", "--steps", "5", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o"), *extra]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inprocess", "processes"])
def test_a_step_that_never_returns_is_stopped_at_the_time_limit(tmp_path, executor):
    forever = scheme_plugin(tmp_path, "forever", "while True: pass")
    args = grid(forever, "forever", tmp_path, "--timeout", "3", "--executor", executor,
                *(["--workers", "1"] if executor == "processes" else []))
    result = run_bench(*args, timeout=120)
    assert result.returncode == 1, result.stderr
    found = statuses(tmp_path / "s.sqlite")
    assert found["gd"] == "done: "
    assert found["forever"].startswith("timeout: exceeded the time limit of 3s"), found
    if executor == "inprocess":  # the resume runs it again under the same limit: it must not hang either
        again = run_bench(*args, timeout=120)
        assert again.returncode == 1 and "1 of 2 runs are already in" in again.stderr, again.stderr
        assert statuses(tmp_path / "s.sqlite")["forever"].startswith("timeout:")


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inprocess", "processes"])
def test_sys_exit_in_a_step_is_that_stacks_error_and_the_sweep_goes_on(tmp_path, executor):
    exits = scheme_plugin(tmp_path, "exits", "sys.exit(3)")
    result = run_bench(*grid(exits, "exits", tmp_path, "--executor", executor), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "1 runs failed" in result.stderr
    found = statuses(tmp_path / "s.sqlite")
    assert found["gd"] == "done: " and found["exits"].startswith("error: SystemExit: 3"), found


def children(pid: int) -> set[int]:
    """The worker processes (spawned interpreters) that `pid` started."""
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return {c for c in found if b"spawn_main" in _cmdline(c)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc")
@pytest.mark.parametrize("executor, workers, sig, code", [
    ("processes", 2, signal.SIGTERM, 143),
    ("processes", 1, signal.SIGINT, 130),  # to the main process alone, not its process group
    ("inprocess", 0, signal.SIGTERM, 143),
])
@pytest.mark.slow
def test_a_signal_ends_a_stuck_sweep_and_every_worker(tmp_path, executor, workers, sig, code):
    forever = scheme_plugin(tmp_path, "forever", "while True: pass")
    args = ["run", "--plugin", str(forever), "--problems", "bilinear,dirac", "--strategies", "forever",
            "--seeds", "1", "--steps", "5", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o"),
            "--executor", executor, *(["--workers", str(workers)] if workers else [])]
    with open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                                preexec_fn=default_sigint,
                                stderr=err)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:  # until the sweep is stuck in its step
            if len(children(proc.pid)) == workers and "stacks on" in (tmp_path / "err").read_text():
                break
            time.sleep(0.2)
        time.sleep(2)
        workers_seen = children(proc.pid)
        assert len(workers_seen) == workers
        proc.send_signal(sig)
        try:  # the main process ends its workers (SIGKILL, then a join of up to 10 s each) before it exits
            assert proc.wait(timeout=60) == code
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not end within 60 s of the signal; its stderr:\n{(tmp_path / 'err').read_text()}")
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = (tmp_path / "err").read_text()
    assert "interrupted" in stderr and "rerun the same command to resume" in stderr, stderr
    deadline = time.time() + 10
    while time.time() < deadline and any(_cmdline(w) for w in workers_seen):
        time.sleep(0.1)
    assert not any(_cmdline(w) for w in workers_seen), "a worker process outlived the sweep"


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inprocess", "processes"])
def test_progress_lines_at_a_steady_cadence_when_stderr_is_not_a_terminal(tmp_path, executor):
    slow = scheme_plugin(tmp_path, "slow", "time.sleep(0.05); self.stack.field('gd')")
    result = run_bench("run", "--plugin", str(slow), "--problems", "bilinear", "--strategies", "slow", "--seeds", "1",
                       "--steps", "40", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "o"),
                       "--executor", executor, timeout=120)
    assert result.returncode == 0, result.stderr
    steps = [int(line.split(" step ")[1].split("/")[0]) for line in result.stderr.splitlines()
             if "bilinear · slow" in line and " step " in line]
    assert steps == [4, 8, 12, 16, 20, 24, 28, 32, 36], result.stderr  # every 10% of the stack's steps


@pytest.mark.slow
def test_a_step_stuck_in_native_code_is_stopped_at_the_time_limit_by_default(tmp_path):
    """Issue 28, item 8: a step that blocks SIGALRM and sleeps (native code no Python signal
    reaches) is stopped at --timeout with the default executor: it trains in a worker."""
    native = scheme_plugin(tmp_path, "native", "import signal; signal.pthread_sigmask(signal.SIG_BLOCK, "
                           "[signal.SIGALRM]); time.sleep(600)")
    start = time.time()
    result = run_bench(*grid(native, "native", tmp_path, "--timeout", "3"), timeout=120)
    assert time.time() - start < 60, "the limit did not hold"
    assert result.returncode == 1, result.stderr
    assert statuses(tmp_path / "s.sqlite")["native"].startswith("timeout: exceeded the time limit of 3s")


@pytest.mark.slow
def test_a_plugin_that_ends_the_interpreter_costs_its_stack_only_by_default(tmp_path):
    """Issue 28, item 13: os._exit in a plugin's step, default executor: its stack is recorded
    as an error, the other stacks train, and the sweep says what failed."""
    exits = scheme_plugin(tmp_path, "hard-exit", "import os; os._exit(3)")
    result = run_bench(*grid(exits, "hard-exit", tmp_path), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "1 runs failed" in result.stderr
    found = statuses(tmp_path / "s.sqlite")
    assert found["gd"] == "done: " and found["hard-exit"].startswith("error:"), found


def test_auto_trains_in_a_worker_when_only_a_worker_can_keep_a_promise():
    from bench import cli
    from bench.spec import suite_from_data

    stacks = list(suite_from_data({"problems": ["bilinear"], "strategies": ["gd"], "seeds": 1, "steps": 3}).stacks)

    def chosen(**flags):
        execution = cli.Execution(store=Path("s.sqlite"), device=cli.torch.device("cpu"), device_name="cpu",
                                  executor="auto", workers=None, scheduler=None, retries=1, force=False, quiet=True,
                                  **{"timeout": None, **flags})
        return cli.choose_executor(execution, stacks, 1)

    assert chosen() == ("inprocess", 1)  # a small plan: a worker's start would cost more than it saves
    assert chosen(timeout=5.0) == ("processes", 1)
    assert chosen(plugins=(Path("mine.py"),)) == ("processes", 1)


@pytest.mark.parametrize("command", ["run", "report"])
def test_a_signal_while_the_report_is_written_says_where_the_runs_are(command, tmp_path, capsys, monkeypatch):
    """Issue 28, item 14: SIGTERM (as Terminated) while writing the report: exit 143, the runs
    are kept and the line says how to write the report; `report` leaves no half-written folder."""
    from bench import cli

    installed = {}
    monkeypatch.setattr(cli.signal, "signal", lambda sig, handler: installed.setdefault(sig, handler))
    store, out = tmp_path / "s.sqlite", tmp_path / "out"
    run = ["run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "3",
           "--store", str(store), "--out", str(tmp_path / "first"), "--quiet"]
    if command == "report":
        assert cli.main(run) == 0
    monkeypatch.setattr(cli, "write_report", lambda out, *a, **k: (out.mkdir(parents=True), cli._terminate(15, None)))
    argv = run[:-3] + ["--out", str(out)] if command == "run" else ["report", str(store), "--out", str(out)]
    assert cli.main(argv) == 143
    assert installed[signal.SIGTERM] is cli._terminate  # every command, not only run
    err = capsys.readouterr().err
    assert "interrupted (SIGTERM)" in err
    if command == "run":
        assert f"1 of 1 runs are in {store}" in err and "python -m bench report" in err, err
    else:
        assert not out.exists()


WORKER_ORPHANED = """
import multiprocessing, os
from bench import executors
from bench.spec import suite_from_data

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    worker = context.Process(target=executors._worker, args=(child, os.getpid()))
    worker.start()
    child.close()
    stack = suite_from_data({"problems": ["bilinear"], "strategies": ["gd"], "seeds": 1, "steps": 200}).stacks[0]
    parent.send(executors.StackTask(stack, "cpu"))
    parent.close()  # the submitter is gone before the result (a second Ctrl-C)
    worker.join(120)
    print("exit", worker.exitcode)
"""


def test_a_worker_whose_submitter_is_gone_ends_quietly(tmp_path):
    """Issue 28, item 15: a worker that cannot send its result (the submitting process is gone)
    ends with no traceback printed after the sweep's last line."""
    script = tmp_path / "orphan.py"
    script.write_text(WORKER_ORPHANED)
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=180)
    assert result.stdout.strip() == "exit 0", result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr


@pytest.mark.slow
def test_a_worker_that_died_and_was_retried_is_said(tmp_path):
    """Issue 28, item 17: a stack whose worker died once and then trained on a fresh worker is
    done, and the sweep says that a worker died and that it was retried."""
    marker = tmp_path / "died-once"
    once = scheme_plugin(tmp_path, "dies-once", f"import os, pathlib; m = pathlib.Path({str(marker)!r}); "
                         "(m.exists() or (m.touch(), os._exit(7)))")
    result = run_bench(*grid(once, "dies-once", tmp_path, "--executor", "processes", "--workers", "1"), timeout=180)
    assert result.returncode == 0, result.stderr
    assert "a worker process died (exit code 7)" in result.stderr and "try 2 of" in result.stderr, result.stderr
    assert statuses(tmp_path / "s.sqlite")["dies-once"] == "done: "
