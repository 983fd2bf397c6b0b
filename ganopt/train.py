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


# The longest time limit (seconds): about 115 days, well inside what setitimer takes (its
# OverflowError begins near 1e10 s on 64-bit Linux); inf or 1e12 is a typo, not a budget.
MAX_TIME_LIMIT_S = 1e7


def check_time_limit(seconds: float | None) -> None:
    """A time limit is None (none) or a finite positive number of seconds up to MAX_TIME_LIMIT_S."""
    if seconds is not None and not 0 < seconds <= MAX_TIME_LIMIT_S:
        raise ValueError(f"a time limit must be a positive number of seconds up to {MAX_TIME_LIMIT_S:g}, "
                         f"got {seconds:g}")


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
    change.  One cost alone: `calibrate_together` measures several under the same load."""
    job = CostJob(problem, options, strategy, seed, precision, cuda_graphs)
    return calibrate_together([job], device, warmup, min_steps, min_seconds, max_seconds)[0]


@dataclass(frozen=True)
class CostJob:
    """One cost to calibrate: a strategy alone (K = 1) on a problem, as its stack would train it."""

    problem: Problem
    options: dict[str, Any]
    strategy: Strategy
    seed: int
    precision: str = DEFAULT_PRECISION
    cuda_graphs: bool = False


def calibrate_together(jobs: list[CostJob], device: str | torch.device = "cpu", warmup: int = 3,
                       min_steps: int = 5, min_seconds: float = 0.2, max_seconds: float = 1.0) -> list[float]:
    """Seconds per step of each job, measured interleaved: one timed step of each in turn,
    round after round.  Why: costs measured one after another see whatever load the machine had
    at each moment (another process starting halfway makes the later ones look 2-4x dearer);
    interleaved, a change of load hits every job alike, so their ratios hold.  After `warmup`
    untimed steps each, rounds go on until every job has `min_steps` steps and `min_seconds`,
    or some job has `max_seconds`.  Each job's cost is its fastest step: other work on the
    machine only ever adds to a step, and a longer step is interrupted more often, so a median
    grows with load faster for the dearer job (on 2 cores at load 5, extragradient over
    simultaneous read 2.0-7.3 by medians, 1.7-2.3 by fastest steps).  A diverging strategy is
    frozen as in a real stack."""
    device = torch.device(device)
    runners = []
    for job in jobs:
        _, stack, scheme = _build(job.problem, job.options, [job.strategy], [job.seed], device)
        runners.append(step_runner(stack, scheme, device, job.precision, job.cuda_graphs))
        for _ in range(warmup + (GRAPH_WARMUP + 1 if job.cuda_graphs else 0)):  # with graphs: time replays
            runners[-1]()
    times: list[list[float]] = [[] for _ in jobs]
    def enough() -> bool:
        spent = [sum(t) for t in times]
        return max(spent) >= max_seconds or (len(times[0]) >= min_steps and min(spent) >= min_seconds)
    while jobs and not enough():
        for runner, timed in zip(runners, times):
            start = time.perf_counter()
            runner()
            timed.append(time.perf_counter() - start)
    return [min(t) for t in times]


@dataclass(frozen=True)
class TrainSettings:
    """How a stack trains, shared by all its runs; checked when built.

    `steps` and `eval_every`: the budget and how often every run is evaluated (and always at
    the last step).  `device`: where the stack trains.
    `lr_schedule` (ganopt.schedules) scales every run's learning rates step by step.
    `diagnostics` (ganopt.diagnostics) adds the game-dynamics diagnostics to the records: the
    rotation share at every evaluation, the spectra at the evaluations nearest the fractions
    `diagnostics_at` of the budget (default first, middle, last), the path angles at the last;
    they never change the trajectory.
    `precision` (ganopt.precision: fp32, tf32, bf16) is the arithmetic of the training steps;
    evaluations run in the problem's dtype.
    `cuda_graphs` (ganopt.graphs) replays each step from a CUDA graph: the same steps, launched
    at once; CUDA only, for the schemes and base updates a graph can hold.
    `calibrate`: measure each cost key's seconds per step alone (seconds_per_step), which every
    record's `wall_s` is charged from; without it, wall_s is nan.  `step_seconds`: those
    seconds, per run, measured beforehand with the rest of a sweep (calibrate_together): the
    stack then measures nothing.
    `time_limit_s` bounds the stack's wall time (calibration, training, evaluation and the
    progress calls): past it, TimeLimitExceeded is raised wherever the stack is (`alarm`;
    outside the main thread, at the end of the step)."""

    steps: int
    eval_every: int
    device: str | torch.device = "cpu"
    lr_schedule: str = "constant"
    diagnostics: bool = False
    diagnostics_at: tuple[float, ...] = SPECTRUM_AT
    precision: str = DEFAULT_PRECISION
    cuda_graphs: bool = False
    calibrate: bool = True
    time_limit_s: float | None = None
    step_seconds: tuple[float, ...] | None = None  # per run, measured by the sweep (calibrate_together)

    def __post_init__(self):
        object.__setattr__(self, "device", torch.device(self.device))
        object.__setattr__(self, "diagnostics_at", tuple(self.diagnostics_at))
        lr_factor(self.lr_schedule, 1, self.steps)  # an unknown schedule is refused before anything is built
        check_time_limit(self.time_limit_s)

    def check_stack(self, problem: Problem, strategies: list[Strategy], seeds: list[int]) -> None:
        """Refuse, before anything is built, a stack these settings cannot train."""
        if len(strategies) != len(seeds) or not seeds:
            raise ValueError("train_stack needs one strategy per seed and at least one run")
        keys = {s.stack_key for s in strategies}
        if len(keys) != 1:
            raise ValueError(f"strategies in one stack must share scheme and d_steps; got {sorted(keys)}")
        if any(s.lr_g is None or s.lr_d is None for s in strategies):
            raise ValueError("strategies must be resolved to concrete learning rates (Strategy.resolve)")
        if any(not 0 <= seed < 2**32 for seed in seeds):
            raise ValueError("seeds must lie in [0, 2**32)")
        check_precision(self.precision, self.device.type, problem.dtype)
        if self.cuda_graphs:
            check_cuda_graphs(self.device.type, strategies[0].scheme, [s.base for s in strategies], self.diagnostics)


def train_stack(problem: Problem, options: dict[str, Any], strategies: list[Strategy], seeds: list[int],
                steps: int, eval_every: int, device: str | torch.device = "cpu",
                on_progress: Callable[[int, int], None] | None = None, time_limit_s: float | None = None,
                calibrate: bool = True, lr_schedule: str = "constant", diagnostics: bool = False,
                diagnostics_at: tuple[float, ...] = SPECTRUM_AT, precision: str = DEFAULT_PRECISION,
                cuda_graphs: bool = False, step_seconds: list[float] | None = None) -> StackResult:
    """Train K = len(seeds) runs as one stack and evaluate them every `eval_every` steps.

    All strategies must share a stack key (scheme and d_steps) and carry concrete learning
    rates (Strategy.resolve); base update, gradient estimate and hyperparameters may differ
    per run.  The other arguments are the stack's TrainSettings (read there).  Each record's
    `wall_s` is its step times the run's `step_seconds`: the seconds per step of its strategy
    alone on this device, measured once per cost_key before training (or given: `step_seconds`,
    one per run, from a calibration of the whole sweep); StackResult.wall_s keeps
    the stack's own training seconds.  `on_progress(step, steps)` is called after every step
    (cheap; the caller throttles).
    """
    settings = TrainSettings(steps, eval_every, device, lr_schedule, diagnostics, diagnostics_at, precision,
                             cuda_graphs, calibrate, time_limit_s, None if step_seconds is None else tuple(step_seconds))
    settings.check_stack(problem, strategies, seeds)
    at = [0]  # the step in progress, for the time limit's message
    try:
        with alarm(time_limit_s):
            return _train(problem, options, strategies, seeds, settings, on_progress, at)
    except TimeLimitExceeded:
        where = f"at step {at[0]} of {steps}" if at[0] else "before the first step"
        raise TimeLimitExceeded(f"exceeded the time limit of {time_limit_s:g}s {where}") from None


def _train(problem: Problem, options: dict[str, Any], strategies: list[Strategy], seeds: list[int],
           settings: TrainSettings, on_progress, at: list[int]) -> StackResult:
    """The loop: calibrate, build, evaluate, then step, freeze what diverged, evaluate."""
    started = time.perf_counter()
    steps, limit = settings.steps, settings.time_limit_s
    step_seconds = _calibrate(problem, options, strategies, seeds, settings)
    game, stack, scheme = _build(problem, options, strategies, seeds, settings.device)
    recorder = Recorder(game, stack, seeds, settings, step_seconds)
    base_lr = (stack.G.lr.clone(), stack.D.lr.clone())
    recorder.evaluate(0)
    # built after evaluate(0), which resets the counters
    train_step = step_runner(stack, scheme, settings.device, settings.precision, settings.cuda_graphs)
    train_seconds = 0.0
    for step in range(1, steps + 1):
        at[0] = step
        _schedule_rates(stack, base_lr, recorder.alive, settings.lr_schedule, step, steps)
        start = time.perf_counter()
        recorder.mark_diverged(step, train_step())
        train_seconds += time.perf_counter() - start
        if step % settings.eval_every == 0 or step == steps:
            recorder.evaluate(step)
        if on_progress is not None:
            on_progress(step, steps)
        if limit is not None and time.perf_counter() - started > limit:
            raise TimeLimitExceeded  # where the alarm cannot reach (a thread other than the main one)
    return recorder.result(train_seconds)


def _calibrate(problem, options, strategies, seeds, settings: TrainSettings) -> list[float]:
    """Each run's seconds per step alone.  A step's cost depends on the base update and the
    gradient estimate (the scheme is the stack's), not on learning rates: runs of one cost key
    (tuning trials) share one calibration, with the first run of that key."""
    if settings.step_seconds is not None:  # measured with the whole sweep
        if len(settings.step_seconds) != len(strategies):
            raise ValueError(f"step_seconds: one per run, got {len(settings.step_seconds)} for {len(strategies)} runs")
        return list(settings.step_seconds)
    first: dict[tuple[str, str], tuple[Strategy, int]] = {}
    for strategy, seed in zip(strategies, seeds):
        first.setdefault(cost_key(strategy), (strategy, seed))
    calibrated = {key: seconds_per_step(problem, options, s, seed, settings.device, precision=settings.precision,
                                        cuda_graphs=settings.cuda_graphs) if settings.calibrate else float("nan")
                  for key, (s, seed) in first.items()}
    return [calibrated[cost_key(s)] for s in strategies]


def _schedule_rates(stack: Stack, base_lr, alive: torch.Tensor, schedule: str, step: int, steps: int) -> None:
    """Scale every run's rates for this step; frozen (diverged) runs keep a zero rate."""
    if schedule == "constant":
        return
    factor = lr_factor(schedule, step, steps)
    for player, base in zip((stack.G, stack.D), base_lr):
        player.lr.copy_(torch.where(alive, base * factor, torch.zeros_like(base)))


class Recorder:
    """The records of a stack's runs: evaluations, and the step at which each run diverged
    (a diverged run records nothing more)."""

    def __init__(self, game, stack: Stack, seeds: list[int], settings: TrainSettings, step_seconds: list[float]):
        k, device = len(seeds), settings.device
        self.game, self.stack, self.settings, self.step_seconds = game, stack, settings, step_seconds
        self.records: list[list[dict]] = [[] for _ in range(k)]
        self.diverged_step: list[int | None] = [None] * k
        self.alive = torch.ones(k, dtype=torch.bool, device=device)
        self.seeds = torch.tensor(seeds, dtype=torch.int64, device=device)
        diagnostics = settings.diagnostics
        self.start_point = [p.detach().clone() for p in game.theta + game.phi] if diagnostics else None
        self.spectra = spectrum_steps(settings.steps, settings.eval_every, settings.diagnostics_at) \
            if diagnostics else set()

    def evaluate(self, step: int) -> None:
        stack = self.stack
        if step == 0:
            stack.field("gd")  # losses and gradient norms at the start point
            stack.draws, stack.grad_evals = 0, 0.0
        metrics = {**stack.convergence_metrics(), **self.game.evaluate()}
        if self.settings.diagnostics:
            end = self.start_point if step == self.settings.steps else None
            metrics.update(diagnose(stack, self.seeds, step in self.spectra, end))
        values = {name: v.detach().cpu().tolist() for name, v in metrics.items()}
        for i, records in enumerate(self.records):
            if self.diverged_step[i] is None:
                records.append({"step": step, "grad_evals": stack.grad_evals, "wall_s": step * self.step_seconds[i],
                                **{name: values[name][i] for name in values}})

    def mark_diverged(self, step: int, finite: torch.Tensor | None) -> None:
        """`finite`: the step's [K] mask of finite runs, or None when every run is finite."""
        if finite is None:
            return
        for i in (self.alive & ~finite).nonzero().flatten().tolist():
            self.diverged_step[i] = step
        self.alive &= finite

    def result(self, train_seconds: float) -> StackResult:
        samples = self.game.samples()
        return StackResult(
            records=self.records,
            status=["diverged" if d is not None else "done" for d in self.diverged_step],
            diverged_step=self.diverged_step,
            samples=None if samples is None else samples.detach().cpu().numpy(),
            wall_s=train_seconds,
            step_seconds=self.step_seconds,
        )
