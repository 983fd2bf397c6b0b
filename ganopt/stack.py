"""The stack: the batched two-player state that schemes act on.

A stack holds K runs of one problem and one scheme as one computation: both players'
parameters with a leading K dimension, their base updates and per-run learning rates [K],
the scheme's settings, and the counters of draws and gradient evaluations.  Schemes read the
game's joint field through it (`field`, `jvp`, `vjp`), so every evaluation is counted in one
place.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .metrics import stacked_norm
from .problems.base import Game
from .updates import hyperparameter_names, make_update, per_run


class Player:
    """One player's stacked parameters, base update and per-run learning rates [K]."""

    def __init__(self, params: list[torch.Tensor], base: str | list[str], lr: torch.Tensor,
                 hyper: dict[str, torch.Tensor]):
        self.params = params
        self.lr = lr
        self.update = make_update(params, [base] * lr.shape[0] if isinstance(base, str) else base, hyper)

    def direction(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The base update's direction for `grads` (fresh tensors; advances the update's state)."""
        return self.update.direction(grads)

    @torch.no_grad()
    def move(self, direction: list[torch.Tensor]) -> None:
        """p <- p - lr * d, with each run's own lr."""
        for p, d in zip(self.params, direction):
            p.addcmul_(per_run(self.lr, p), d, value=-1)

    def snapshot(self) -> list[torch.Tensor]:
        """A copy of the parameters (not the update's state: see save_state)."""
        return [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def restore(self, values: list[torch.Tensor]) -> None:
        for p, v in zip(self.params, values):
            p.copy_(v)

    def save_state(self) -> dict[str, Any]:
        """A copy of the player's whole state: parameters and the base update's state (every
        buffer of every group of a mixed stack, and the step counters)."""
        return {"params": self.snapshot(), "update": self.update.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.restore(state["params"])
        self.update.load_state_dict(state["update"])

    @torch.no_grad()
    def freeze(self, runs: torch.Tensor) -> None:
        self.lr[runs] = 0
        for p in self.params:
            p[runs] = 0
        self.update.reset(runs)


class Stack:
    """The state a scheme works on: the game, both players, the scheme's hyperparameters
    (`setting`), the evaluation counters, and the field's derivatives (`jvp`, `vjp`).

    Cost accounting (`grad_evals`): one evaluation of the joint field counts 1 (a single
    player's gradient ½); one Jacobian-vector or vector-Jacobian product of the joint field
    counts PRODUCT_EVALS = 2 (a Hessian-vector product costs about two gradient evaluations,
    Pearlmutter 1994).  Every budget and every cost column uses this count."""

    PRODUCT_EVALS = 2.0

    def __init__(self, game: Game, strategies: list, device):  # ganopt.strategies.Strategy, one per run
        dtype = game.theta[0].dtype

        def per_run(values):  # float64 [K]; nan for a run whose strategy has no such setting
            return torch.tensor([math.nan if v is None else v for v in values], dtype=torch.float64, device=device)

        bases = [s.base for s in strategies]
        names = {n for b in bases for n in hyperparameter_names(b)}
        # each base update reads its settings by its own names (float64: BaseUpdate.exact casts them)
        hypers = {n: per_run([s.base_setting(n) for s in strategies]) for n in names}
        self.game = game
        self.G = Player(game.theta, bases, per_run([s.lr_g for s in strategies]).to(dtype), hypers)
        self.D = Player(game.phi, bases, per_run([s.lr_d for s in strategies]).to(dtype), hypers)
        self.settings: dict[str, Any] = {}  # the schemes' settings by key (a wrapped scheme's: `inner.NAME`)
        for key, h in strategies[0].scheme_settings().items():
            self.settings[key] = (per_run([s.value(key) for s in strategies]).to(dtype) if h.per_run
                                  else strategies[0].value(key))
        self.draws = 0
        self.grad_evals = 0.0
        self.last: dict[str, Any] = {}

    def setting(self, name: str):
        """A scheme hyperparameter: per-run values [K] for a real one, else the stack's value."""
        return self.settings[name]

    def field(self, need: str = "gd", create_graph: bool = False
              ) -> tuple[list[torch.Tensor] | None, list[torch.Tensor] | None]:
        """Evaluate the gradients of the players in `need` ("g", "d" or "gd") at the current point.
        With `create_graph`, the gradients keep their graph so that `jvp` and `vjp` can
        differentiate them (pass the whole field, need "gd")."""
        with torch.enable_grad():
            loss_g, loss_d = self.game.losses(self.draws, need)
            grad_g = grad_d = None
            if loss_d is not None:
                grad_d = list(torch.autograd.grad(loss_d.sum(), self.game.phi, create_graph=create_graph,
                                                  retain_graph=loss_g is not None or create_graph))
            if loss_g is not None:
                grad_g = list(torch.autograd.grad(loss_g.sum(), self.game.theta, create_graph=create_graph))
        self.draws += 1
        self.grad_evals += len(need) / 2
        if loss_g is not None:
            self.last["loss_g"], self.last["grad_g"] = loss_g.detach(), [g.detach() for g in grad_g]
        if loss_d is not None:
            self.last["loss_d"], self.last["grad_d"] = loss_d.detach(), [g.detach() for g in grad_d]
        return grad_g, grad_d

    def vjp(self, field, vectors) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Jᵀu for every run at once: J is the Jacobian of the joint field v = (∇θ L_G, ∇φ L_D)
        with respect to (θ, φ), `field` a `field("gd", create_graph=True)`, `vectors` u = (u_G,
        u_D) shaped like the parameters.  Runs are independent, so the stacked product is each
        run's own product."""
        outputs, grad_outputs = _pairs(field, vectors)
        params = self.game.theta + self.game.phi
        with torch.enable_grad():
            out = torch.autograd.grad(outputs, params, grad_outputs=grad_outputs, retain_graph=True,
                                      allow_unused=True, materialize_grads=True)
        self.grad_evals += self.PRODUCT_EVALS
        return list(out[:len(self.game.theta)]), list(out[len(self.game.theta):])

    def jvp(self, field, vectors) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """J u for every run at once (see vjp), by the double-vector-Jacobian trick: Jᵀz is
        linear in a dummy z, and the derivative of ⟨Jᵀz, u⟩ with respect to z is J u."""
        flat_field = [*field[0], *field[1]]
        params = self.game.theta + self.game.phi
        with torch.enable_grad():
            dummies = [torch.zeros_like(v, requires_grad=True) for v in flat_field]
            outputs, grad_outputs = _pairs(field, (dummies[:len(field[0])], dummies[len(field[0]):]))
            transposed = torch.autograd.grad(outputs, params, grad_outputs=grad_outputs, create_graph=True,
                                             allow_unused=True, materialize_grads=True)
            flat_u = [*vectors[0], *vectors[1]]
            used = [(t, u) for t, u in zip(transposed, flat_u) if t.requires_grad]
            out = torch.autograd.grad([t for t, _ in used], dummies, grad_outputs=[u for _, u in used],
                                      retain_graph=True, allow_unused=True, materialize_grads=True) if used else \
                [torch.zeros_like(v) for v in flat_field]
        self.grad_evals += self.PRODUCT_EVALS
        return list(out[:len(self.game.theta)]), list(out[len(self.game.theta):])

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


def _pairs(field, vectors) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The field's tensors that depend on the parameters, each with its vector (the others'
    derivatives are zero).  A field without a graph would give zero products in silence."""
    flat = [*field[0], *field[1]]
    if not any(v.requires_grad for v in flat):
        raise ValueError("jvp / vjp need the field with its graph: Stack.field('gd', create_graph=True)")
    pairs = [(v, u) for v, u in zip(flat, [*vectors[0], *vectors[1]]) if v.requires_grad]
    return [v for v, _ in pairs], [u for _, u in pairs]
