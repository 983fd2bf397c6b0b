"""Executors beyond this process: local worker processes, or an existing Dask cluster.

The unit of work is a stack: a picklable StackTask (run specs, device, time limit, and the
source of any plugin files, so that a worker without the submitter's files can still run a
user's scheme) goes out; a TaskOutcome (the StackResult, or the failure and its reason, plus
the worker's provenance) comes back.  Only the submitting process writes the store, as each
outcome arrives: a stack is stored once, whole, or not at all.  A worker that dies takes its
stack with it: the stack is retried a bounded number of times, then recorded as an error.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import torch

from .plan import StackPlan
from .spec import RunSpec

DEFAULT_RETRIES = 2  # a stack whose worker died is tried at most 1 + DEFAULT_RETRIES times


@dataclass
class StackTask:
    runs: list[RunSpec]
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


def _load_plugins(plugins: list[tuple[str, str]]) -> None:
    """Run each plugin's source once per worker process (registers its schemes/strategies)."""
    for name, source in plugins:
        key = f"{name}\0{source}"
        if key in _LOADED_PLUGINS:
            continue
        exec(compile(source, name, "exec"), {"__name__": f"ganopt_plugin_{Path(name).stem}"})
        _LOADED_PLUGINS.add(key)


def run_task(task: StackTask) -> TaskOutcome:
    """Train one stack on this worker; every failure inside comes back as an outcome."""
    from ganopt.train import TimeLimitExceeded

    from .execute import resolve_device, run_stack
    from .store import environment

    if task.threads:
        torch.set_num_threads(task.threads)
    try:
        device = resolve_device(task.device)
        env = environment(device)
        _load_plugins(task.plugins)
        result = run_stack(StackPlan(task.runs), device, time_limit_s=task.time_limit_s)
        return TaskOutcome("done", result=result, env=env)
    except TimeLimitExceeded as e:
        return TaskOutcome("timeout", reason=str(e))
    except Exception as e:
        frame = traceback.extract_tb(e.__traceback__)[-1]
        return TaskOutcome("error", reason=f"{type(e).__name__}: {e} (at {frame.filename}:{frame.lineno})")


def plugin_sources(paths: list[Path]) -> list[tuple[str, str]]:
    return [(Path(p).name, Path(p).read_text()) for p in paths]


def _report(stack: StackPlan, outcome: TaskOutcome, on_result, on_failure, progress) -> None:
    if outcome.status == "done":
        on_result(stack, outcome.result, outcome.env)
        text = f"done in {outcome.result.wall_s:.1f}s"
    else:
        on_failure(stack, outcome.status, outcome.reason)
        text = f"{outcome.status.upper()}: {outcome.reason}"
    if progress is not None:
        progress(stack, text)


def execute_processes(stacks: list[StackPlan], tasks: list[StackTask], workers: int,
                      on_result: Callable, on_failure: Callable, progress: Callable | None = None,
                      retries: int = DEFAULT_RETRIES) -> None:
    """Local worker processes (spawned, so each starts clean).  When a worker dies the pool
    breaks: every stack in flight is retried on a fresh pool, up to `retries` times."""
    attempts = {i: 0 for i in range(len(stacks))}
    pending = list(range(len(stacks)))
    context = get_context("spawn")
    while pending:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(run_task, tasks[i]): i for i in pending}
            pending = []
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    i = futures.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        attempts[i] += 1
                        if attempts[i] > retries:
                            _report(stacks[i], TaskOutcome("error", reason=f"worker process died {attempts[i]} times"),
                                    on_result, on_failure, progress)
                        else:
                            pending.append(i)
                        continue
                    _report(stacks[i], outcome, on_result, on_failure, progress)


def execute_dask(stacks: list[StackPlan], tasks: list[StackTask], scheduler: str, on_result: Callable,
                 on_failure: Callable, progress: Callable | None = None, retries: int = DEFAULT_RETRIES) -> None:
    """Ship stacks to an existing Dask distributed cluster; gather outcomes here as they finish.
    Dask reschedules a task whose worker died; past `retries` extra tries (or the cluster's
    allowed-failures) the stack is recorded as an error."""
    from distributed import Client, as_completed

    with Client(scheduler, timeout=30) as client:
        futures = {client.submit(run_task, task, key=f"ganopt-stack-{i}-{time.time_ns()}", retries=retries,
                                 pure=False): i for i, task in enumerate(tasks)}
        for future in as_completed(list(futures)):
            i = futures[future]
            try:
                outcome = future.result()
            except Exception as e:  # KilledWorker and friends: the cluster gave up on this stack
                outcome = TaskOutcome("error", reason=f"{type(e).__name__}: {e}")
            _report(stacks[i], outcome, on_result, on_failure, progress)


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))


def printer(n_stacks: int, stream=sys.stderr) -> Callable[[StackPlan, str], None]:
    count = {"done": 0}
    start = time.perf_counter()

    def show(stack: StackPlan, text: str) -> None:
        count["done"] += 1
        stream.write(f"[{count['done']}/{n_stacks}] {stack.describe()} · {text} · "
                     f"{time.perf_counter() - start:5.1f}s\n")
        stream.flush()

    return show
