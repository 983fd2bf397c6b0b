"""The problem registry: name -> Problem (a data distribution or game, its models and metrics)."""

from __future__ import annotations

from ..registry import claim
from .base import Game, Problem
from .games import BilinearProblem, DiracProblem
from .mixtures import GRID_PRESETS, RING_PRESETS, MixtureProblem

PROBLEMS: dict[str, Problem] = {}


def register_problem(problem: Problem, replace: bool = False) -> Problem:
    """Make a problem available by its name.  A name already taken by another problem is
    refused unless `replace=True` (recorded: ganopt.registry_replacements); registering the
    same problem again is harmless."""
    claim("problem", PROBLEMS, problem.name, problem, replace, "register_problem")
    return problem


def get_problem(name: str) -> Problem:
    if name not in PROBLEMS:
        raise KeyError(f"unknown problem {name!r}; valid: {', '.join(sorted(PROBLEMS))}")
    return PROBLEMS[name]


register_problem(MixtureProblem(
    "ring8", "8 Gaussians on a ring (presets r1: radius 1, std 0.01; r2: radius 2, std 0.02)",
    RING_PRESETS, 8, hidden=(64, 64), steps=6000, eval_every=500, lr_schedule="linear-decay",
    lr={"sgd": 0.05, "momentum": 0.01, "adam": 4e-3}))
register_problem(MixtureProblem(
    "grid25", "25 Gaussians on a 5x5 grid, means {-4,-2,0,2,4}^2 (presets s2: std 0.05; s2-wide: std 0.1)",
    GRID_PRESETS, 25, steps=10000, eval_every=500, lr_schedule="linear-decay",
    lr={"sgd": 0.05, "momentum": 0.01, "adam": 4e-3}))
# The second geometry preset of each mixture under its own name, so one suite can hold both.
register_problem(MixtureProblem(
    "ring8-r2", "ring8 with preset r2: radius 2, std 0.02 (Metz et al. 2017)",
    RING_PRESETS, 8, preset="r2", hidden=(64, 64), steps=6000, eval_every=500, lr_schedule="linear-decay",
    lr={"sgd": 0.05, "momentum": 0.01, "adam": 4e-3}))
register_problem(MixtureProblem(
    "grid25-wide", "grid25 with preset s2-wide: std 0.1",
    GRID_PRESETS, 25, preset="s2-wide", steps=10000, eval_every=500, lr_schedule="linear-decay",
    lr={"sgd": 0.05, "momentum": 0.01, "adam": 4e-3}))
register_problem(BilinearProblem(
    name="bilinear", description="min_x max_y x^T A y, A = coupling * I; equilibrium at the origin",
    steps=300, eval_every=5, lr={"sgd": 0.1, "momentum": 0.1, "adam": 0.01},
    options={"dim": 2, "coupling": 1.0}))
register_problem(DiracProblem(
    name="dirac", description="Dirac-GAN (Mescheder et al. 2018): data delta_0, G = delta_theta, D(x) = psi x",
    steps=300, eval_every=5, lr={"sgd": 0.1, "momentum": 0.1, "adam": 0.01},
    options={"loss": "saturating"}))

__all__ = ["PROBLEMS", "Game", "Problem", "get_problem", "register_problem"]

# Image problems (issue 4): stacked image GANs evaluated by the committed digit classifier.
from .mnist import ImageProblem  # noqa: E402

register_problem(ImageProblem(
    "mnist", "MNIST digits (5,000 bundled, or data_dir IDX files); arch dcgan or mlp; classifier metrics and FID",
    1, min_eval_samples=2048, eval_samples=5000, steps=2000, eval_every=200,
    lr={"sgd": 0.01, "momentum": 0.002, "adam": 2e-3}))
register_problem(ImageProblem(
    "stacked-mnist", "Stacked MNIST: three independent digits as RGB channels, 1,000 modes; arch dcgan or mlp",
    3, min_eval_samples=10000, eval_samples=10000, steps=2000, eval_every=500,
    lr={"sgd": 0.01, "momentum": 0.002, "adam": 2e-3}))
