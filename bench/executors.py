"""Executors beyond this process: local worker processes, or an existing Dask cluster.

The unit of work is a stack: a picklable StackTask (its StackSpec, device, time limit, and the
source of any plugin files, so that a worker without the submitter's files can still run a
user's scheme) goes out; a TaskOutcome (the StackResult, or the failure and its reason, plus
the worker's provenance) comes back.  Only the submitting process writes the store, as each
outcome arrives: a stack is stored once, whole, or not at all.  A worker that dies takes its
stack with it: the stack is retried a bounded number of times, then recorded as an error.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import connection, get_context
from pathlib import Path
from typing import Any, Callable

import torch

from .execute import Cadence
from .spec import SpecError, StackSpec

DEFAULT_RETRIES = 2  # a stack whose worker died is tried at most 1 + DEFAULT_RETRIES times


@dataclass
class StackTask:
    stack: StackSpec  # as expansion made it (bench.spec), split by the plan
    device: str  # "cpu", "cuda" or "auto" (resolved on the worker)
    time_limit_s: float | None = None
    plugins: list[tuple[str, str]] = field(default_factory=list)  # (file name, source)
    threads: int | None = None  # torch threads on the worker (None: leave as is)


@dataclass
class TaskOutcome:
    status: str  # "done" (result holds every run's status), "error" or "timeout"
    result: Any = None
    reason: str | None = None
    env: dict[str, Any] = field(default_factory=dict)


_LOADED_PLUGINS: set[str] = set()
_PLUGIN_STRATEGIES: set[str] = set()  # names registered by plugins run in this worker


def _load_plugins(plugins: list[tuple[str, str]]) -> None:
    """Run each plugin's source once per worker process (registers its schemes/strategies).
    `__file__` is the plugin's path on the submitting machine, as when it runs in-process (it
    may not exist here: workers need no shared filesystem)."""
    from ganopt.strategies import STRATEGIES

    new = [(path, source) for path, source in plugins if f"{path}\0{source}" not in _LOADED_PLUGINS]
    if new:  # a long-lived (Dask) worker may hold an older version of a plugin: its strategies give way
        for name in _PLUGIN_STRATEGIES:
            STRATEGIES.pop(name, None)
    for path, source in new:
        before = set(STRATEGIES)
        exec(compile(source, path, "exec"), {"__name__": f"ganopt_plugin_{Path(path).stem}", "__file__": path})
        _PLUGIN_STRATEGIES.update(set(STRATEGIES) - before)
        _LOADED_PLUGINS.add(f"{path}\0{source}")


def run_task(task: StackTask, on_progress: Callable[[int, int], None] | None = None) -> TaskOutcome:
    """Train one stack on this worker; every failure inside comes back as an outcome."""
    from ganopt.train import TimeLimitExceeded

    from .execute import failure_reason, resolve_device, run_stack

    if task.threads:
        torch.set_num_threads(task.threads)
    try:
        device = resolve_device(task.device)
        _load_plugins(task.plugins)
        env = run_environment(device)  # after the plugins: the names they replaced are part of it
        result = run_stack(task.stack, device, on_progress, time_limit_s=task.time_limit_s)
        return TaskOutcome("done", result=result, env=env)
    except TimeLimitExceeded as e:
        return TaskOutcome("timeout", reason=str(e))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # sys.exit() in a plugin included: the stack's error, not the worker's end
        return TaskOutcome("error", reason=failure_reason(e))


def run_environment(device) -> dict[str, Any]:
    """The provenance of this process's runs (bench.store.environment), with the registry names
    that plugins replaced (ganopt.registry_replacements) when there are any."""
    from ganopt import registry_replacements

    from .store import environment

    env = environment(device)
    replaced = registry_replacements()
    if replaced:
        env["registry_replacements"] = replaced
    return env


def plugin_sources(paths: list[Path]) -> list[tuple[str, str]]:
    """(path, source) of each plugin file: the source travels, the path names it (`__file__`)."""
    return [(str(Path(p).absolute()), Path(p).read_text()) for p in paths]


def _report(stack: StackSpec, outcome: TaskOutcome, on_result, on_failure, progress) -> None:
    if outcome.status == "done":
        on_result(stack, outcome.result, outcome.env)
        text = f"done in {outcome.result.wall_s:.1f}s"
    else:
        on_failure(stack, outcome.status, outcome.reason)
        text = f"{outcome.status.upper()}: {outcome.reason}"
    if progress is not None:
        progress(stack, text)


# A worker's own alarm ends a stack at its time limit; past the limit and this grace (time for a
# fresh worker to import torch, and to send its result), the worker is killed from outside: a
# step stuck in native code never returns to Python for the alarm to fire.
KILL_GRACE_S = 30.0


def _worker(conn, parent: int) -> None:
    """A worker process: train the stacks it is sent, one at a time, until told to stop."""
    # Ctrl-C reaches the whole process group: only the submitting process acts on it (it ends
    # every worker), so that no worker dies half-way through sending a result
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):  # a submitter killed with -9 cannot end its workers: the kernel does
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # it died before that took effect
            return
    try:
        while True:
            task = conn.recv()
            if task is None:
                return
            conn.send(run_task(task, Cadence(lambda step, steps: conn.send((step, steps)))))
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the submitting process is gone (Ctrl-C twice):
        return  # nobody is left to read a result, and a traceback would print after its resume line


@dataclass
class _Worker:
    process: Any
    conn: Any
    index: int = -1  # the stack it trains (-1: idle)
    deadline: float = math.inf

    @classmethod
    def start(cls, context) -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, os.getpid()), name="ganopt-worker")
        process.start()
        child.close()
        return cls(process, parent)

    def end(self) -> None:
        self.process.kill()
        self.process.join(10)
        self.conn.close()


def execute_processes(stacks: list[StackSpec], tasks: list[StackTask], workers: int,
                      on_result: Callable, on_failure: Callable, progress: Callable | None = None,
                      retries: int = DEFAULT_RETRIES) -> None:
    """Local worker processes (spawned, so each starts clean), each sent one stack at a time.

    Why not a ProcessPoolExecutor: when one of its workers dies the whole pool breaks and every
    stack in flight fails with it, so a try would be charged to stacks that did nothing wrong.
    Here each worker holds one known stack: a worker that dies charges a try to its own stack
    only (retried on a fresh worker, at most `retries` extra times, then recorded as an error);
    a worker past its stack's time limit (plus KILL_GRACE_S) is killed and the stack recorded
    as `timeout`; and every worker is killed when this function leaves, normally or not (Ctrl-C,
    SIGTERM), so that none is orphaned."""
    context = get_context("spawn")
    queue = deque(range(len(stacks)))
    attempts = {i: 0 for i in range(len(stacks))}
    busy: list[_Worker] = []
    idle: list[_Worker] = []
    try:
        while queue or busy:
            while queue and len(busy) < workers:
                i = queue.popleft()
                busy.append(_dispatch(idle.pop() if idle else _Worker.start(context), i, tasks[i]))
            ready = set(connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0))
            for worker in list(busy):
                i = worker.index
                state, outcome = _poll(worker, ready, tasks[i], stacks[i], progress)
                if state == "running":
                    continue
                busy.remove(worker)
                if state == "answered":
                    idle.append(worker)
                else:  # died, or past its deadline
                    worker.end()
                if state == "died":
                    attempts[i] += 1
                    if attempts[i] <= retries:  # said, not hidden: a crash that a retry cured is still a crash
                        print(f"warning: a worker process died (exit code {worker.process.exitcode}) training "
                              f"{stacks[i].describe()}; retrying it on a fresh worker (try {attempts[i] + 1} of "
                              f"{retries + 1})", file=sys.stderr, flush=True)
                        queue.append(i)
                        continue
                    outcome = TaskOutcome("error", reason=f"worker process died {attempts[i]} times "
                                                          f"(last exit code {worker.process.exitcode})")
                _report(stacks[i], outcome, on_result, on_failure, progress)
    finally:
        for worker in busy + idle:
            worker.end()


def _dispatch(worker: _Worker, index: int, task: StackTask) -> _Worker:
    """Send a worker its stack, with the deadline past which it is killed."""
    worker.index = index
    limit = task.time_limit_s
    worker.deadline = time.monotonic() + limit + KILL_GRACE_S if limit else math.inf
    try:
        worker.conn.send(task)
    except OSError:  # died before it could take the stack: noticed when polled
        pass
    return worker


def _poll(worker: _Worker, ready: set, task: StackTask, stack: StackSpec,
          progress: Callable | None) -> tuple[str, TaskOutcome | None]:
    """What a busy worker has to say: ("running", None) (a progress report, or nothing yet),
    ("answered", its outcome), ("died", None), or ("late", a timeout) past its deadline."""
    if worker.conn in ready or worker.process.sentinel in ready:
        try:
            message = worker.conn.recv() if worker.conn.poll() else None
        except (EOFError, OSError):
            message = None
        if isinstance(message, tuple):  # (step, steps): the stack is still training
            if progress is not None:
                progress(stack, f"step {message[0]}/{message[1]}", finished=False)
            return "running", None
        return ("died", None) if message is None else ("answered", message)
    if time.monotonic() > worker.deadline:
        return "late", TaskOutcome("timeout", reason=f"exceeded the time limit of {task.time_limit_s:g}s "
                                                     "(its worker did not respond and was killed)")
    return "running", None


# Dask's address forms: [PROTOCOL://]HOST:PORT (an IPv6 host in brackets); all but ucx are TCP.
_SCHEDULER = re.compile(r"(?:(?P<protocol>[A-Za-z]+)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})")
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")
CONNECT_TIMEOUT_S = 10  # a Dask scheduler that does not answer in this long is reported unreachable


def check_scheduler(address: str) -> None:
    """Refuse (SpecError, one line) a Dask scheduler address that is malformed or that nothing
    listens on, before anything runs (else Dask's traceback, after its 30 s connect timeout)."""
    import socket

    form = f"expected tcp://HOST:PORT (protocols: {', '.join(SCHEDULER_PROTOCOLS)})"
    match = _SCHEDULER.fullmatch(address.strip())
    protocol = (match and match["protocol"] or "tcp").lower()
    if not match or protocol not in SCHEDULER_PROTOCOLS or not 1 <= int(match["port"]) <= 65535:
        raise SpecError(f"--scheduler {address!r} is not a Dask scheduler address: {form}")
    if protocol == "ucx":  # not a TCP socket: Dask's own connect says
        return
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise SpecError(f"--scheduler {address}: cannot reach {host}:{port} ({e.strerror or e}); is the Dask "
                        "scheduler running there?") from None


def execute_dask(stacks: list[StackSpec], tasks: list[StackTask], scheduler: str, on_result: Callable,
                 on_failure: Callable, progress: Callable | None = None, retries: int = DEFAULT_RETRIES) -> None:
    """Ship stacks to an existing Dask distributed cluster; gather outcomes here as they finish.
    Dask reschedules a task whose worker died; past `retries` extra tries (or the cluster's
    allowed-failures) the stack is recorded as an error."""
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as e:  # it went away since check_scheduler, or is no Dask scheduler
        raise SpecError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no answer'})") from None
    with client:
        futures = {client.submit(run_task, task, key=f"ganopt-stack-{i}-{time.time_ns()}", retries=retries,
                                 pure=False): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(list(futures)):
                i = futures[future]
                try:
                    outcome = future.result()
                except Exception as e:  # KilledWorker and friends: the cluster gave up on this stack
                    outcome = TaskOutcome("error", reason=f"{type(e).__name__}: {e}")
                _report(stacks[i], outcome, on_result, on_failure, progress)
        except BaseException:  # interrupted (or the store failed): the cluster must not train on for nobody
            client.cancel(list(futures))
            raise


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (a
    container limited to 1.5 CPUs of a 64-core host gets 2, not 64)."""
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cpus = max(1, (os.cpu_count() or 1))
    quota = _cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def _cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`);
    None when unlimited or unknown."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def default_workers() -> int:
    """Worker processes by default: one per usable CPU."""
    return usable_cpus()


def printer(n_stacks: int, stream=sys.stderr) -> Callable[..., None]:
    """A line per finished stack, and per progress report of a stack still training."""
    count = {"done": 0}
    start = time.perf_counter()

    def show(stack: StackSpec, text: str, finished: bool = True) -> None:
        count["done"] += finished
        where = f"{count['done']}/{n_stacks}" if finished else "running"
        stream.write(f"[{where}] {stack.describe()} · {text} · {time.perf_counter() - start:5.1f}s\n")
        stream.flush()

    return show
