"""What every problem provides: defaults, option checking, and a stacked game to train."""

from __future__ import annotations

import math
from contextlib import contextmanager

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..metrics import Metric, Target


class Game:
    """A two-player game on stacked parameters (leading dimension K, one slice per run).

    `theta` (generator / minimising player) and `phi` (discriminator) are leaf tensors with
    requires_grad set; schemes update them in place.  `losses` returns the per-run losses
    [K] of the players named in `need` ("g", "d" or "gd"), computed on the random draw number
    `draw` (a counter that the trainer advances at every gradient evaluation).  `losses` reads
    the tensors in `theta` and `phi` when it is called, so `parameters_at` can evaluate the game
    elsewhere (an unrolled discriminator, a point on a path) without touching the parameters.
    """

    theta: list[torch.Tensor]
    phi: list[torch.Tensor]

    @contextmanager
    def parameters_at(self, theta: list[torch.Tensor] | None = None, phi: list[torch.Tensor] | None = None):
        """Within the block, `losses` sees `theta` and/or `phi` in place of the players' own."""
        saved = list(self.theta), list(self.phi)
        if theta is not None:
            self.theta[:] = theta
        if phi is not None:
            self.phi[:] = phi
        try:
            yield
        finally:
            self.theta[:], self.phi[:] = saved

    def losses(self, draw: int, need: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        raise NotImplementedError

    def evaluate(self) -> dict[str, torch.Tensor]:
        """Problem metrics, one value per run [K]."""
        raise NotImplementedError

    def samples(self) -> torch.Tensor | None:
        """Samples for plots [K, N, 2], or None when the problem has none."""
        return None


@dataclass
class Problem:
    """A registered problem: defaults, options, and the metrics it declares (the harness knows
    a problem only through these: it never asks what kind of problem it is)."""

    name: str
    description: str
    steps: int
    eval_every: int
    lr: dict[str, float]  # default learning rate per base update
    options: dict[str, Any] = field(default_factory=dict)  # option name -> default
    metrics: tuple[Metric, ...] = ()  # what Game.evaluate reports; exactly one is primary (the trainer adds
    # its convergence and diagnostic metrics: ganopt.train.declarations)
    target: Target = Target("", "")  # when a run has solved the problem
    lr_schedule: str = "constant"  # ganopt.schedules: the default a suite without `lr_schedule` gets
    dtype: ClassVar[str] = "float32"  # of the game's parameters (provenance)

    @property
    def primary(self) -> Metric:
        return next(m for m in self.metrics if m.primary)

    def landmarks(self, options: dict[str, Any]):
        """Points to mark on sample plots (e.g. the true modes) as an array [M, 2], or None."""
        return None

    def metric_protocol(self, options: dict[str, Any]) -> dict[str, Any]:
        """What the metrics of a run mean, for its provenance record."""
        return {}

    def default_lr(self, options: dict[str, Any]) -> dict[str, float]:
        """The learning rate per base update for runs with these (checked) options."""
        return self.lr

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Merge `options` over the defaults; raise ValueError naming a bad key or value."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(
                f"unknown option {unknown[0]!r} for problem {self.name!r}; "
                f"valid: {', '.join(sorted(self.options))}"
            )
        merged = {**self.options, **options}
        self.validate(merged)
        return merged

    def validate(self, options: dict[str, Any]) -> None:
        pass

    # options that name files or folders: a suite file's relative paths are read from its folder
    PATH_OPTIONS: ClassVar[tuple[str, ...]] = ()

    def check_inputs(self, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Check the files that (checked) options name, before anything runs; raise ValueError
        or OSError naming a bad one.  Returns their identity (content checksums: it joins each
        run's id, so a resumed sweep never reuses results computed from other files) and
        warnings for the user."""
        return {}, []

    def build(self, options: dict[str, Any], seeds: torch.Tensor, full_batch, device) -> Game:
        """A game for K = len(seeds) runs; `full_batch` is a bool or a per-run bool tensor [K]."""
        raise NotImplementedError


def check_choice(key: str, value, valid) -> None:
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"unknown {key} {value!r}; valid: {', '.join(valid)}")


def check_positive_number(key: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{key} must be a positive number, got {value!r}")


def check_int(key: str, value, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise ValueError(f"{key} must be an integer from 1 to {maximum}, got {value!r}")
