"""Train one stack: K runs of one problem and one scheme as a single batched computation.

The unit of work is the stack from the first line: parameters, optimizer state and per-run
hyperparameters carry a leading K dimension and no Python loop runs over runs inside a step.
Each run draws its randomness from its own seed (ganopt.rng), so its trajectory does not
depend on which stack it is in.  A run whose parameters become NaN/inf is marked diverged
at that step and frozen (learning rate 0, parameters and optimizer state zeroed so that they
stay finite); the others go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .metrics import stacked_norm
from .problems import Game, Problem
from .schemes import SCHEMES
from .strategies import Strategy
from .updates import BASE_UPDATES, make_update, per_run


class TimeLimitExceeded(RuntimeError):
    """Raised by train_stack when a stack runs past its time limit (checked after every step)."""


class Player:
    """One player's stacked parameters, base update and per-run learning rates [K]."""

    def __init__(self, params: list[torch.Tensor], base: str | list[str], lr: torch.Tensor,
                 hyper: dict[str, torch.Tensor]):
        self.params = params
        self.lr = lr
        self.update = make_update(params, [base] * lr.shape[0] if isinstance(base, str) else base, hyper)

    def direction(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.update.direction(grads)

    @torch.no_grad()
    def move(self, direction: list[torch.Tensor]) -> None:
        """p <- p - lr * d, with each run's own lr."""
        for p, d in zip(self.params, direction):
            p.addcmul_(per_run(self.lr, p), d, value=-1)

    def snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def restore(self, values: list[torch.Tensor]) -> None:
        for p, v in zip(self.params, values):
            p.copy_(v)

    @torch.no_grad()
    def freeze(self, runs: torch.Tensor) -> None:
        self.lr[runs] = 0
        for p in self.params:
            p[runs] = 0
        self.update.reset(runs)


class Stack:
    """The state a scheme works on: the game, both players, and the evaluation counters."""

    def __init__(self, game: Game, strategies: list[Strategy], device):
        def hyper(name):
            return torch.tensor([getattr(s, name) for s in strategies], dtype=torch.float64, device=device)

        dtype = game.theta[0].dtype
        bases = [s.base for s in strategies]
        names = {n for b in bases for n in BASE_UPDATES[b].hyperparameters}
        hypers = {n: hyper(n) for n in names}  # Adam's scalars stay float64, cast where used
        hypers = {n: v if n in ("beta1", "beta2", "eps") else v.to(dtype) for n, v in hypers.items()}
        self.game = game
        self.G = Player(game.theta, bases, hyper("lr_g").to(dtype), hypers)
        self.D = Player(game.phi, bases, hyper("lr_d").to(dtype), hypers)
        self.draws = 0
        self.grad_evals = 0.0
        self.last: dict[str, Any] = {}

    def field(self, need: str = "gd") -> tuple[list[torch.Tensor] | None, list[torch.Tensor] | None]:
        """Evaluate the gradients of the players in `need` ("g", "d" or "gd") at the current point."""
        with torch.enable_grad():
            loss_g, loss_d = self.game.losses(self.draws, need)
            grad_g = grad_d = None
            if loss_d is not None:
                grad_d = list(torch.autograd.grad(loss_d.sum(), self.game.phi, retain_graph=loss_g is not None))
            if loss_g is not None:
                grad_g = list(torch.autograd.grad(loss_g.sum(), self.game.theta))
        self.draws += 1
        self.grad_evals += len(need) / 2
        if loss_g is not None:
            self.last["loss_g"], self.last["grad_g"] = loss_g.detach(), grad_g
        if loss_d is not None:
            self.last["loss_d"], self.last["grad_d"] = loss_d.detach(), grad_d
        return grad_g, grad_d

    def finite_runs(self) -> torch.Tensor:
        """[K] bool: runs whose parameter sums are finite.  NaN and inf propagate through a sum,
        so a non-finite parameter always shows; a sum of finite parameters overflows only when
        they reach ~1e33 (float32), a run that has diverged all the same.  One pass over the
        parameters, where an exact isfinite check costs four."""
        total = sum(p.detach().flatten(1).sum(1) for p in self.G.params + self.D.params)
        return torch.isfinite(total)

    def convergence_metrics(self) -> dict[str, torch.Tensor]:
        grad_norm_g = stacked_norm(self.last["grad_g"])
        grad_norm_d = stacked_norm(self.last["grad_d"])
        return {
            "loss_g": self.last["loss_g"].double(),
            "loss_d": self.last["loss_d"].double(),
            "grad_norm_g": grad_norm_g,
            "grad_norm_d": grad_norm_d,
            "field_norm": torch.sqrt(grad_norm_g**2 + grad_norm_d**2),
        }


@dataclass
class StackResult:
    """What a stack produced, one entry per run (in the order of the strategies given)."""

    records: list[list[dict[str, Any]]]
    status: list[str]
    diverged_step: list[int | None]
    samples: Any  # numpy [K, N, 2] for problems with samples, else None
    wall_s: float  # training seconds of the whole stack, evaluation excluded
    extra: dict[str, Any] = field(default_factory=dict)


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
) -> StackResult:
    """Train K = len(seeds) runs as one stack and evaluate them every `eval_every` steps.

    All strategies must share a stack key (scheme and d_steps) and carry concrete learning
    rates (Strategy.resolve); base update, gradient estimate and hyperparameters may differ
    per run.
    `time_limit_s` bounds the stack's wall time (training and evaluation): past it,
    TimeLimitExceeded is raised at the end of the step.
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
    k = len(seeds)
    started = time.perf_counter()
    device = torch.device(device)
    seed_tensor = torch.tensor(seeds, dtype=torch.int64)
    game = problem.build(options, seed_tensor, torch.tensor([s.estimate == "full" for s in strategies]), device)
    stack = Stack(game, strategies, device)
    scheme = SCHEMES[strategies[0].scheme](stack, strategies[0].d_steps)

    records: list[list[dict]] = [[] for _ in range(k)]
    diverged_step: list[int | None] = [None] * k
    alive = torch.ones(k, dtype=torch.bool, device=device)
    train_seconds = 0.0

    def evaluate(step: int) -> None:
        if step == 0:
            stack.field("gd")  # losses and gradient norms at the start point
            stack.draws, stack.grad_evals = 0, 0.0
        metrics = {**stack.convergence_metrics(), **game.evaluate()}
        values = {name: v.detach().cpu().tolist() for name, v in metrics.items()}
        for i in range(k):
            if diverged_step[i] is None:
                records[i].append({"step": step, "grad_evals": stack.grad_evals, "wall_s": train_seconds / k,
                                   **{name: values[name][i] for name in values}})

    evaluate(0)
    for step in range(1, steps + 1):
        start = time.perf_counter()
        scheme.step()
        finite = stack.finite_runs()
        if not bool(finite.all()):
            for i in (alive & ~finite).nonzero().flatten().tolist():
                diverged_step[i] = step
            # (re-)freeze every non-finite run: a scheme's stored direction may still carry inf
            stack.G.freeze(~finite)
            stack.D.freeze(~finite)
            alive &= finite
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - start
        if step % eval_every == 0 or step == steps:
            evaluate(step)
            if on_progress is not None:
                on_progress(step, steps)
        if time_limit_s is not None and time.perf_counter() - started > time_limit_s:
            raise TimeLimitExceeded(f"exceeded the time limit of {time_limit_s:g}s at step {step} of {steps}")

    samples = game.samples()
    return StackResult(
        records=records,
        status=["diverged" if d is not None else "done" for d in diverged_step],
        diverged_step=diverged_step,
        samples=None if samples is None else samples.detach().cpu().numpy(),
        wall_s=train_seconds,
    )
