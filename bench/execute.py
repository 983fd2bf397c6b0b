"""Run stacks in this process, one after another: progress on the terminal, fault isolation
(a stack that raises or runs past its time limit is recorded as such and the sweep goes on),
and every finished stack handed to the results store at once."""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import replace
from typing import Callable

import torch

from ganopt import get_problem, train_stack
from ganopt.train import StackResult, TimeLimitExceeded

from .spec import StackSpec, built_in


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available here (use cpu or auto)")
    return torch.device(name)


class Cadence:
    """on_progress(step, steps) that passes on a stack's progress at a steady cadence: at every
    10% of its steps, and at least every `period_s` seconds."""

    def __init__(self, report: Callable[[int, int], None], period_s: float = 30.0):
        self.report, self.period_s = report, period_s
        self.tenth, self.last = 0, time.perf_counter()

    def __call__(self, step: int, steps: int) -> None:
        now = time.perf_counter()
        if step < steps and (step * 10 // steps > self.tenth or now - self.last >= self.period_s):
            self.tenth, self.last = step * 10 // steps, now
            self.report(step, steps)


class Progress:
    """One line per stack; on a terminal the line updates in place while the stack trains.
    When stderr is not a terminal (a log, CI), a line every 10% of a stack's steps and at least
    every 30 s, so that a long stack is never silent until it finishes."""

    REDRAW_S = 0.1  # a terminal line is redrawn at most this often

    def __init__(self, n_stacks: int, n_runs: int, stream=sys.stderr):
        self.n_stacks, self.n_runs, self.stream = n_stacks, n_runs, stream
        self.tty = stream.isatty()
        self.start = time.perf_counter()
        self.runs_done = 0
        self.current, self.last, self.cadence = 0, 0.0, None

    def _line(self, index: int, stack: StackSpec, text: str) -> str:
        elapsed = time.perf_counter() - self.start
        return f"[{index}/{self.n_stacks}] {stack.describe()} · {text} · {elapsed:5.1f}s"

    def update(self, index: int, stack: StackSpec, step: int, steps: int) -> None:
        now = time.perf_counter()
        if index != self.current:  # a new stack
            self.current, self.last = index, 0.0
            self.cadence = Cadence(lambda s, n: self._write(self._line(index, stack, f"step {s}/{n}") + "\n"))
        if not self.tty:
            self.cadence(step, steps)
        elif now - self.last >= self.REDRAW_S or step == steps:
            self._write("\r\x1b[K" + self._line(index, stack, f"step {step}/{steps}"))
            self.last = now

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def finish(self, index: int, stack: StackSpec, text: str) -> None:
        self.runs_done += len(stack.runs)
        text += f" · runs {self.runs_done}/{self.n_runs}"
        self.stream.write(("\r\x1b[K" if self.tty else "") + self._line(index, stack, text) + "\n")
        self.stream.flush()


def run_stack(stack: StackSpec, device: torch.device, on_progress: Callable[[int, int], None] | None = None,
              time_limit_s: float | None = None) -> StackResult:
    """Train one stack: train_stack's keywords come from the stack's spec, where and how it runs
    (device, progress, time limit) from here."""
    settings = stack.settings
    problem = get_problem(settings.problem)
    if settings.inputs:  # the files may have changed since the suite was checked (or differ on a worker)
        found, _ = problem.check_inputs(settings.options)
        if found != settings.inputs:
            changed = ", ".join(k for k in settings.inputs if found.get(k) != settings.inputs[k])
            raise ValueError(f"the files of {settings.problem} changed since the suite was loaded ({changed}); "
                             "rerun the command to check them again")
    return train_stack(problem, **stack.train_arguments(), device=device, on_progress=on_progress,
                       time_limit_s=time_limit_s)


def calibrate_stacks(stacks: list[StackSpec], device: torch.device, threads: int | None = None) -> list[StackSpec]:
    """The stacks with every cost key of the sweep measured together (ganopt.train.calibrate_together):
    one step of each in turn, so that load on the machine hits them alike and a run's wall seconds
    compare with any other run's of the sweep.  Measured here with the `threads` the stacks will
    train with (a worker's share of the cores).  If anything fails here, each stack measures its
    own when it trains, where a failure is that stack's alone."""
    from ganopt.train import CostJob, calibrate_together, cost_key

    first: dict[tuple[int, tuple[str, str]], CostJob] = {}
    for stack in stacks:
        s = stack.settings
        problem = get_problem(s.problem)
        for run in stack.runs:  # runs of one settings object and cost key cost alike (tuning trials)
            if not built_in(problem, run.strategy):  # a plugin's step is measured where it trains
                continue
            first.setdefault((id(s), cost_key(run.strategy)),
                             CostJob(problem, s.options, run.strategy, run.seed, s.precision, s.cuda_graphs))
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(threads or saved)
        seconds = dict(zip(first, calibrate_together(list(first.values()), device)))
    except KeyboardInterrupt:
        raise
    except BaseException:  # a stack that cannot build fails when it trains, and says why there
        return stacks
    finally:
        torch.set_num_threads(saved)
    return [replace(stack, step_seconds=tuple((key, t) for (owner, key), t in seconds.items()
                                              if owner == id(stack.settings)))
            for stack in stacks]


def warm_up(stack: StackSpec, device: torch.device, time_limit_s: float | None = None) -> None:
    """Two untimed steps of one run, so that one-time costs (thread pools, allocator, kernel
    selection) are not charged to whichever stack happens to run first.  Under the stacks' time
    limit: a step that never returns must not hang the sweep here either."""
    first, settings = stack.runs[0], stack.settings
    try:
        train_stack(get_problem(settings.problem), options=settings.options, strategies=[first.strategy],
                    seeds=[first.seed], steps=2, eval_every=2, device=device, calibrate=False,
                    time_limit_s=time_limit_s, precision=settings.precision)
    except KeyboardInterrupt:
        raise
    except BaseException:  # the real stack will report its own failure
        pass


def failure_reason(e: BaseException) -> str:
    """One line: the exception and where it was raised."""
    frames = traceback.extract_tb(e.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def execute_in_process(
    stacks: list[StackSpec],
    device: torch.device,
    on_result: Callable[[StackSpec, StackResult], None],
    on_failure: Callable[[StackSpec, str, str], None],
    time_limit_s: float | None = None,
    show_progress: bool = True,
) -> None:
    """Train every stack; `on_failure(stack, status, reason)` gets "error" or "timeout"."""
    progress = Progress(len(stacks), sum(len(s.runs) for s in stacks)) if show_progress else None
    if stacks:
        warm_up(stacks[0], device, time_limit_s)
    for index, stack in enumerate(stacks, start=1):
        callback = (lambda step, steps, i=index, s=stack: progress.update(i, s, step, steps)) if progress else None
        try:
            result = run_stack(stack, device, callback, time_limit_s)
        except TimeLimitExceeded as e:
            on_failure(stack, "timeout", str(e))
            text = f"TIMEOUT: {e}"
        except KeyboardInterrupt:  # Ctrl-C (or SIGTERM, bench.cli) ends the sweep
            raise
        except BaseException as e:  # any other failure, sys.exit() included, is this stack's: record it, go on
            on_failure(stack, "error", failure_reason(e))
            text = f"ERROR: {type(e).__name__}: {e}"
        else:
            on_result(stack, result)
            diverged = result.status.count("diverged")
            text = f"done in {result.wall_s:.1f}s" + (f", {diverged} diverged" if diverged else "")
        if progress:
            progress.finish(index, stack, text)
