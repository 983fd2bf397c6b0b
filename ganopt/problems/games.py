"""Analytic games with a known equilibrium at the origin.

- `bilinear`: min_x max_y x^T A y with A = a * I (dimension `dim`).  Simultaneous GD spirals
  out, alternating GD stays bounded, extragradient and optimistic GD converge
  (Gidel et al. 2019; Daskalakis et al. 2018).
- `dirac`: the Dirac-GAN of Mescheder et al. 2018: data delta_0, generator delta_theta,
  discriminator d(x) = psi * x.  Its vector field has Jacobian eigenvalues +-i/2 at (0, 0).

Both start at distance 1 from the equilibrium, in a direction drawn from the run's seed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn.functional import softplus

from ..losses import LOSSES, generator_loss
from ..metrics import Metric, Target, stacked_norm
from ..rng import Stream, normal, stream_keys
from .base import Game, Problem, check_choice, check_int, check_positive_number


def _unit_start(seeds: torch.Tensor, dim: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    w = normal(stream_keys(seeds.to(device), Stream.INIT_POINT, 0), (2 * dim,), torch.float64)
    w = w / w.norm(dim=1, keepdim=True)
    return w[:, :dim].contiguous(), w[:, dim:].contiguous()


class AnalyticGame(Game):
    """Parameters are [K, dim] float64 tensors; the trajectory columns follow coordinate 0."""

    def __init__(self, seeds, dim: int, device):
        x, y = _unit_start(seeds, dim, device)
        self.theta, self.phi = [x.requires_grad_()], [y.requires_grad_()]

    @torch.no_grad()
    def evaluate(self) -> dict[str, torch.Tensor]:
        return {
            "dist_to_eq": stacked_norm(self.theta + self.phi),
            "traj_x": self.theta[0][:, 0].double().clone(),
            "traj_y": self.phi[0][:, 0].double().clone(),
        }


class BilinearGame(AnalyticGame):
    def __init__(self, seeds, opts, device):
        super().__init__(seeds, opts["dim"], device)
        self.coupling = float(opts["coupling"])

    def losses(self, draw: int, need: str):
        value = self.coupling * (self.theta[0] * self.phi[0]).sum(1)  # x^T (a I) y per run
        return (value if "g" in need else None), (-value if "d" in need else None)


class DiracGame(AnalyticGame):
    def __init__(self, seeds, opts, device):
        super().__init__(seeds, 1, device)
        self.loss = opts["loss"]

    def losses(self, draw: int, need: str):
        fake_logit = (self.phi[0] * self.theta[0]).unsqueeze(2)  # d(G(z)) = psi * theta
        loss_g = generator_loss(fake_logit, self.loss) if "g" in need else None
        # the real term softplus(-psi * 0) = log 2 has no gradient but keeps L_D's true value
        loss_d = (math.log(2.0) + softplus(fake_logit).flatten(1).mean(1)) if "d" in need else None
        return loss_g, loss_d


GAME_METRICS = (
    Metric("dist_to_eq", "distance to equilibrium", higher_is_better=False, diverged=math.inf, primary=True,
           digits=4, log=True, tolerance=0.1),
    Metric("traj_x", "generator parameter θ₀", show=False, plot="trajectory"),
    Metric("traj_y", "discriminator parameter φ₀", show=False, plot="trajectory"),
)
GAME_TARGET = Target("dist_to_eq <= 0.1", "distance to equilibrium ≤ 0.1")


class AnalyticProblem(Problem):
    """A game with a known equilibrium at the origin; the metric is the distance to it."""

    dtype = "float64"

    def __init__(self, **kwargs):
        super().__init__(metrics=GAME_METRICS, target=GAME_TARGET, **kwargs)

    def metric_protocol(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"metric": "euclidean distance of (theta, phi) to the equilibrium"}


class BilinearProblem(AnalyticProblem):
    def validate(self, opts: dict[str, Any]) -> None:
        check_int("dim", opts["dim"], 1_000_000)
        check_positive_number("coupling", opts["coupling"])

    def build(self, options, seeds, full_batch, device) -> Game:
        return BilinearGame(seeds, options, device)


class DiracProblem(AnalyticProblem):
    def validate(self, opts: dict[str, Any]) -> None:
        check_choice("loss", opts["loss"], LOSSES)

    def build(self, options, seeds, full_batch, device) -> Game:
        return DiracGame(seeds, options, device)
