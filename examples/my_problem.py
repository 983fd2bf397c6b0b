"""A plugin: a problem with a metric of its own, and a plot kind of its own, in one file.

The strongly monotone quadratic game min_x max_y  (a/2)‖x‖² + xᵀy − (a/2)‖y‖²  has its
equilibrium at the origin and, unlike the bilinear game, attracts simultaneous gradient descent
(the Jacobian's eigenvalues a ± i have positive real parts).  Besides the distance to the
equilibrium it reports its duality gap,

    max_y' L(x, y') − min_x' L(x', y) = (a + 1/a)/2 · (‖x‖² + ‖y‖²),

a metric the built-in problems do not have.  Its declaration is all the harness needs to store
it and put it in the tables.  It is drawn by a plot kind this file adds, "final-box": each
strategy's final values over its seeds as a box, written as final_METRIC_PROBLEM.png.  (A
report made without this plugin leaves that figure out; every number stays.)

    python -m bench run --plugin examples/my_problem.py --problems quadratic \\
        --strategies gd,extragradient,adam --seeds 3
"""

import math

import matplotlib.pyplot as plt
import torch

from bench.plots import Figure, register_plot_kind, save

from ganopt import Game, Problem, register_problem
from ganopt.metrics import Metric, Target, stacked_norm
from ganopt.problems.base import check_int, check_positive_number
from ganopt.rng import Stream, normal, stream_keys


def final_boxes(f: Figure) -> list:
    """One box plot per metric declared `plot="final-box"`: every finished run's last value."""
    written = []
    for metric in f.card.drawn("final-box"):
        if metric.name not in f.curves:
            continue
        last = f.curves.sort_values("step").groupby("run_id").tail(1)
        strategies = list(dict.fromkeys(f.runs["strategy"]))
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(strategies), 3.2))
        ax.boxplot([last.loc[last["strategy"] == s, metric.name].dropna() for s in strategies])
        ax.set_xticks(range(1, len(strategies) + 1), strategies)
        ax.set(ylabel=metric.label, title=f"{f.problem}: final {metric.label}", yscale="log" if metric.log else "linear")
        written.append(save(fig, f.out / f"final_{metric.name}_{f.problem}.png"))
    return written


register_plot_kind("final-box", "each strategy's final values over its seeds, as a box", final_boxes)


class QuadraticGame(Game):
    def __init__(self, seeds: torch.Tensor, dim: int, strength: float, device):
        w = normal(stream_keys(seeds.to(device), Stream.INIT_POINT, 0), (2 * dim,), torch.float64)
        w = w / w.norm(dim=1, keepdim=True)  # every run starts at distance 1, in its own direction
        self.theta, self.phi = [w[:, :dim].contiguous().requires_grad_()], [w[:, dim:].contiguous().requires_grad_()]
        self.a = strength

    def losses(self, draw: int, need: str):
        x, y = self.theta[0], self.phi[0]
        value = self.a / 2 * (x * x).sum(1) + (x * y).sum(1) - self.a / 2 * (y * y).sum(1)
        return (value if "g" in need else None), (-value if "d" in need else None)

    @torch.no_grad()
    def evaluate(self):
        distance = stacked_norm(self.theta + self.phi)
        return {"dist_to_eq": distance, "duality_gap": (self.a + 1 / self.a) / 2 * distance**2}


class QuadraticProblem(Problem):
    dtype = "float64"

    def validate(self, options):
        check_int("dim", options["dim"], 1_000_000)
        check_positive_number("strength", options["strength"])

    def build(self, options, seeds, full_batch, device) -> Game:
        return QuadraticGame(seeds, options["dim"], float(options["strength"]), device)


register_problem(QuadraticProblem(
    name="quadratic", description="min_x max_y (a/2)|x|^2 + x^T y - (a/2)|y|^2 (strongly monotone); equilibrium at 0",
    steps=300, eval_every=10, lr={"sgd": 0.1, "momentum": 0.1, "adam": 0.01},
    options={"dim": 2, "strength": 0.5},
    metrics=(Metric("dist_to_eq", "distance to equilibrium", higher_is_better=False, diverged=math.inf,
                    primary=True, digits=4, log=True, tolerance=0.1),
             Metric("duality_gap", "duality gap", higher_is_better=False, diverged=math.inf, digits=4, log=True,
                    plot="final-box")),
    target=Target("dist_to_eq <= 0.01", "distance to equilibrium ≤ 0.01")))
