"""Train one stack: K runs of one problem and one scheme as a single batched computation.

The unit of work is the stack from the first line: parameters, optimizer state and per-run
hyperparameters carry a leading K dimension and no Python loop runs over runs inside a step.
Each run draws its randomness from its own seed (ganopt.rng), so its trajectory does not
depend on which stack it is in.  A run whose parameters become NaN/inf is marked diverged
at that step and frozen (learning rate 0, parameters and optimizer state zeroed so that they
stay finite); the others go on.

A run's wall seconds are a cost model, not a share of its stack's time: a stack of K runs
costs less than K runs alone, by a factor that depends on K, so any share would depend on the
stack-mates.  Instead a run is charged its steps times the seconds per step of its strategy
trained alone on the same device (`seconds_per_step`, measured when its stack trains).
"""

from __future__ import annotations

import signal
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .diagnostics import DIAGNOSTIC_METRICS, SPECTRUM_AT, diagnose, spectrum_steps
from .graphs import WARMUP_STEPS as GRAPH_WARMUP
from .graphs import EagerStep, check_cuda_graphs, step_runner
from .metrics import CONVERGENCE_METRICS, Metric
from .precision import DEFAULT_PRECISION, check_precision
from .problems import Problem
from .schedules import lr_factor
from .schemes import make_scheme
from .stack import Stack
from .strategies import Strategy


def declarations(problem: Problem) -> tuple[Metric, ...]:
    """Every metric a run of `problem` records: the problem's own, then the trainer's
    (convergence at every evaluation, diagnostics when asked for)."""
    return problem.metrics + CONVERGENCE_METRICS + DIAGNOSTIC_METRICS


class TimeLimitExceeded(RuntimeError):
    """Raised by train_stack when a stack runs past its time limit."""


@contextmanager
def alarm(seconds: float | None):
    """Raise TimeLimitExceeded in this thread once `seconds` have passed, wherever it is.

    Why a signal: a limit checked between steps never fires when a step does not return (a
    plugin's step that loops forever).  SIGALRM's handler runs in the main thread at the next
    Python bytecode, so it interrupts any Python-level loop (and sleeps), in-process and in
    each worker process of `--executor processes` (a worker trains in its main thread); native
    code that never returns to Python is out of its reach (the processes executor also kills
    such a worker from outside).  Signals reach only the main thread: elsewhere (a Dask
    worker's thread) this does nothing and the limit is checked between steps only.  The
    previous handler and timer are restored on the way out."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def expire(signum, frame):
        raise TimeLimitExceeded(f"exceeded the time limit of {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class StackResult:
    """What a stack produced, one entry per run (in the order of the strategies given)."""

    records: list[list[dict[str, Any]]]
    status: list[str]
    diverged_step: list[int | None]
    samples: Any  # numpy [K, N, 2] for problems with samples, else None
    wall_s: float  # training seconds of the whole stack, evaluation excluded
    step_seconds: list[float] = field(default_factory=list)  # per run: seconds per step alone (nan: not calibrated)
    extra: dict[str, Any] = field(default_factory=dict)


def _build(problem: Problem, options: dict[str, Any], strategies: list[Strategy], seeds: list[int],
           device: torch.device):
    """The game, stack and scheme of K = len(seeds) runs."""
    full_batch = torch.tensor([s.estimate == "full" for s in strategies])
    game = problem.build(options, torch.tensor(seeds, dtype=torch.int64), full_batch, device)
    stack = Stack(game, strategies, device)
    return game, stack, make_scheme(strategies[0].scheme, stack, strategies[0].d_steps)


def _train_step(stack: Stack, scheme, device: torch.device, precision: str = DEFAULT_PRECISION
                ) -> torch.Tensor | None:
    """One eager step (its arithmetic at `precision`, ganopt.precision); runs whose parameters became
    non-finite are frozen.  Returns the [K] mask of finite runs when some run is not finite, else None."""
    return EagerStep(stack, scheme, device, precision)()


def cost_key(strategy: Strategy) -> tuple[str, str]:
    """What sets the cost of a step within a stack (whose runs share the scheme)."""
    return strategy.base, strategy.estimate


def seconds_per_step(problem: Problem, options: dict[str, Any], strategy: Strategy, seed: int,
                     device: str | torch.device = "cpu", warmup: int = 3, min_steps: int = 5,
                     min_seconds: float = 0.2, max_seconds: float = 1.0,
                     precision: str = DEFAULT_PRECISION, cuda_graphs: bool = False) -> float:
    """Seconds per training step of `strategy` trained alone (a K = 1 stack) on `device`.

    Why: a run's wall time is charged as its steps times this, so that it does not depend on
    which runs share its stack (a stack's cost per run falls with K, by a factor that depends
    on the device and the problem).  The calibration builds its own game from `seed`; every
    run draws from streams keyed by its own seed, so the real stack's trajectories do not
    change.  After `warmup` untimed steps, single steps are timed until at least `min_steps`
    and `min_seconds` (or `max_seconds` in all); the median step is robust to interruptions
    by other work on the machine.  A diverging strategy is frozen as in a real stack.
    """
    device = torch.device(device)
    _, stack, scheme = _build(problem, options, [strategy], [seed], device)
    train_step = step_runner(stack, scheme, device, precision, cuda_graphs)
    for _ in range(warmup + (GRAPH_WARMUP + 1 if cuda_graphs else 0)):  # with graphs: time replays, not the capture
        train_step()
    times: list[float] = []
    while sum(times) < max_seconds and (len(times) < min_steps or sum(times) < min_seconds):
        start = time.perf_counter()
        train_step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_stack(
    problem: Problem,
    options: dict[str, Any],
    strategies: list[Strategy],
    seeds: list[int],
    steps: int,
    eval_every: int,
    device: str | torch.device = "cpu",
    on_progress: Callable[[int, int], None] | None = None,
    time_limit_s: float | None = None,
    calibrate: bool = True,
    lr_schedule: str = "constant",
    diagnostics: bool = False,
    diagnostics_at: tuple[float, ...] = SPECTRUM_AT,
    precision: str = DEFAULT_PRECISION,
    cuda_graphs: bool = False,
) -> StackResult:
    """Train K = len(seeds) runs as one stack and evaluate them every `eval_every` steps.

    All strategies must share a stack key (scheme and d_steps) and carry concrete learning
    rates (Strategy.resolve); base update, gradient estimate and hyperparameters may differ
    per run.
    Each record's `wall_s` is its step times the run's `step_seconds`: the seconds per step of
    its strategy alone on this device, measured once per cost_key before training
    (seconds_per_step, with the first run of that key); with `calibrate`
    False, nan.  StackResult.wall_s keeps the stack's own training seconds.
    `lr_schedule` (ganopt.schedules) scales every run's learning rates step by step.
    `diagnostics` (ganopt.diagnostics) adds the game-dynamics diagnostics to the records: the
    rotation share at every evaluation, the spectra at the evaluations nearest the fractions
    `diagnostics_at` of the budget (default first, middle, last), the path angles at the last;
    they never change the trajectory.
    `precision` (ganopt.precision: fp32, tf32, bf16) is the arithmetic of the training steps;
    evaluations run in the problem's dtype.
    `cuda_graphs` (ganopt.graphs) replays each step from a CUDA graph: the same steps, launched
    at once; CUDA only, for the schemes and base updates a graph can hold.
    `on_progress(step, steps)` is called after every step (cheap; the caller throttles).
    `time_limit_s` bounds the stack's wall time (calibration, training, evaluation and the
    `on_progress` calls): past it, TimeLimitExceeded is raised wherever the stack is (`alarm`;
    outside the main thread, at the end of the step).
    """
    if len(strategies) != len(seeds) or not seeds:
        raise ValueError("train_stack needs one strategy per seed and at least one run")
    keys = {s.stack_key for s in strategies}
    if len(keys) != 1:
        raise ValueError(f"strategies in one stack must share scheme and d_steps; got {sorted(keys)}")
    if any(s.lr_g is None or s.lr_d is None for s in strategies):
        raise ValueError("strategies must be resolved to concrete learning rates (Strategy.resolve)")
    if any(not 0 <= seed < 2**32 for seed in seeds):
        raise ValueError("seeds must lie in [0, 2**32)")
    lr_factor(lr_schedule, 1, steps)  # an unknown schedule is refused before anything is built
    check_precision(precision, torch.device(device).type, problem.dtype)
    if cuda_graphs:
        check_cuda_graphs(torch.device(device).type, strategies[0].scheme, [s.base for s in strategies], diagnostics)
    at = [0]  # the step in progress, for the time limit's message
    try:
        with alarm(time_limit_s):
            return _train(problem, options, strategies, seeds, steps, eval_every, torch.device(device), on_progress,
                          time_limit_s, calibrate, at, lr_schedule, diagnostics, diagnostics_at, precision,
                          cuda_graphs)
    except TimeLimitExceeded:
        where = f"at step {at[0]} of {steps}" if at[0] else "before the first step"
        raise TimeLimitExceeded(f"exceeded the time limit of {time_limit_s:g}s {where}") from None


def _train(problem, options, strategies, seeds, steps, eval_every, device, on_progress, time_limit_s, calibrate,
           at, lr_schedule="constant", diagnostics=False, diagnostics_at=SPECTRUM_AT,
           precision=DEFAULT_PRECISION, cuda_graphs=False) -> StackResult:
    k = len(seeds)
    started = time.perf_counter()
    # a step's cost depends on the base update and the gradient estimate (the scheme is the
    # stack's), not on learning rates: tuning trials share one calibration
    first: dict[tuple[str, str], tuple[Strategy, int]] = {}
    for strategy, seed in zip(strategies, seeds):
        first.setdefault(cost_key(strategy), (strategy, seed))
    calibrated = {key: seconds_per_step(problem, options, s, seed, device, precision=precision,
                                             cuda_graphs=cuda_graphs) if calibrate
                  else float("nan")
                  for key, (s, seed) in first.items()}
    step_seconds = [calibrated[cost_key(s)] for s in strategies]
    game, stack, scheme = _build(problem, options, strategies, seeds, device)

    records: list[list[dict]] = [[] for _ in range(k)]
    diverged_step: list[int | None] = [None] * k
    alive = torch.ones(k, dtype=torch.bool, device=device)
    train_seconds = 0.0

    seed_tensor = torch.tensor(seeds, dtype=torch.int64, device=device)
    start_point = [p.detach().clone() for p in game.theta + game.phi] if diagnostics else None
    spectra = spectrum_steps(steps, eval_every, tuple(diagnostics_at)) if diagnostics else set()

    def evaluate(step: int) -> None:
        if step == 0:
            stack.field("gd")  # losses and gradient norms at the start point
            stack.draws, stack.grad_evals = 0, 0.0
        metrics = {**stack.convergence_metrics(), **game.evaluate()}
        if diagnostics:
            metrics.update(diagnose(stack, seed_tensor, step in spectra, start_point if step == steps else None))
        values = {name: v.detach().cpu().tolist() for name, v in metrics.items()}
        for i in range(k):
            if diverged_step[i] is None:
                records[i].append({"step": step, "grad_evals": stack.grad_evals, "wall_s": step * step_seconds[i],
                                   **{name: values[name][i] for name in values}})

    base_lr = (stack.G.lr.clone(), stack.D.lr.clone())
    evaluate(0)
    train_step = step_runner(stack, scheme, device, precision, cuda_graphs)  # after evaluate(0): it resets the counters
    for step in range(1, steps + 1):
        at[0] = step
        if lr_schedule != "constant":  # frozen (diverged) runs keep a zero rate
            factor = lr_factor(lr_schedule, step, steps)
            for player, base in zip((stack.G, stack.D), base_lr):
                player.lr.copy_(torch.where(alive, base * factor, torch.zeros_like(base)))
        start = time.perf_counter()
        finite = train_step()
        if finite is not None:
            for i in (alive & ~finite).nonzero().flatten().tolist():
                diverged_step[i] = step
            alive &= finite
        train_seconds += time.perf_counter() - start
        if step % eval_every == 0 or step == steps:
            evaluate(step)
        if on_progress is not None:
            on_progress(step, steps)
        if time_limit_s is not None and time.perf_counter() - started > time_limit_s:
            raise TimeLimitExceeded  # where the alarm cannot reach (a thread other than the main one)

    samples = game.samples()
    return StackResult(
        records=records,
        status=["diverged" if d is not None else "done" for d in diverged_step],
        diverged_step=diverged_step,
        samples=None if samples is None else samples.detach().cpu().numpy(),
        wall_s=train_seconds,
        step_seconds=step_seconds,
    )
