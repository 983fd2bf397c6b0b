"""Base updates: the per-player rule that turns a gradient into a step direction d.

A scheme then moves the player by p <- p - lr * d.  State and hyperparameters carry the
stack's leading dimension K, so every run may have its own beta.  The rules match
torch.optim exactly (tests compare them on the same gradients):

- sgd:      d = g
- momentum: b <- beta * b + g ; d = b          (torch.optim.SGD, dampening 0; beta < 0 allowed:
                                                negative momentum, Gidel et al. 2019)
- adam:     m <- beta1 m + (1 - beta1) g ; v <- beta2 v + (1 - beta2) g^2 ;
            d = (m / (1 - beta1^t)) / (sqrt(v) / sqrt(1 - beta2^t) + eps)   (Kingma & Ba 2015)

Each update is a functional core behind a thin stateful class (as optax and torch.optim):
`apply(grads, state) -> (directions, new_state)` is pure and the only place its maths is
written, so a scheme can run it on a copy of the state and differentiate through it (unrolled
GAN); `direction(grads)` applies it to the update's own state and writes the new state into
the same buffers (in place: a captured CUDA graph reads those very tensors, ganopt.graphs).
`state_dict()` / `load_state_dict()` save and restore the whole state, step counter included.
A direction is always a fresh tensor, never one of the state's buffers.

To add one, subclass BaseUpdate (declare `hyperparameters` and `buffers`, write `apply`) and
register it with `register_base_update`.
"""

from __future__ import annotations

from typing import Any

import torch

from .hyperparameters import FIELD_HYPERPARAMETERS, RESERVED, Hyperparameter
from .registry import claim


def per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View a [K] tensor so that it broadcasts against a stacked tensor [K, ...]."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def per_run_dot(a: list[torch.Tensor], b: list[torch.Tensor], dtype: torch.dtype | None = None) -> torch.Tensor:
    """Per-run inner product [K] of two lists of stacked tensors (summed in `dtype` if given)."""
    return sum((x * y).flatten(1).to(dtype or x.dtype).sum(1) for x, y in zip(a, b))


class BaseUpdate:
    """One player's update for a stack.  `hyper` maps each declared hyperparameter's name to its
    per-run values [K] (given in float64; cast to the parameters' dtype unless `exact`); `state`
    maps each name in `buffers` to one zero-initialised tensor per parameter; `t` counts the
    directions computed so far."""

    name: str = ""
    hyperparameters: tuple[Hyperparameter, ...] = ()
    buffers: tuple[str, ...] = ()
    lr_like: str = "sgd"  # the built-in update whose default learning rate on a problem this one takes
    exact: tuple[str, ...] = ()  # hyperparameters kept in float64 (else cast to the parameters' dtype)

    def __init__(self, params: list[torch.Tensor], hyper: dict[str, torch.Tensor]):
        dtype = params[0].dtype
        self.hyper = {k: v if k in self.exact else v.to(dtype) for k, v in hyper.items()}
        self.t = 0
        self.state: dict[str, list[torch.Tensor]] = {b: [torch.zeros_like(p.detach()) for p in params]
                                                     for b in self.buffers}

    def apply(self, grads: list[torch.Tensor], state: dict[str, Any]) -> tuple[list[torch.Tensor], dict[str, Any]]:
        """Pure: the directions for `grads` and the state after them (differentiable; nothing is
        modified in place)."""
        raise NotImplementedError

    not_capturable: str = ""  # why a CUDA graph cannot hold this update's step ("": it can)

    @torch.no_grad()
    def direction(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        directions, new = self.apply(grads, {"t": self.t, **self.state})
        if isinstance(self.t, torch.Tensor):  # a CUDA graph's device counter: it reads these very tensors
            self.t.copy_(new["t"])
            for b in self.buffers:
                for x, value in zip(self.state[b], new[b]):
                    x.copy_(value)
        else:  # eager: the new tensors become the state (no copy)
            self.t = new["t"]
            self.state = {b: list(new[b]) for b in self.buffers}
        return directions

    def state_dict(self) -> dict[str, Any]:
        """A copy of the whole state (buffers and step counter)."""
        t = self.t.clone() if isinstance(self.t, torch.Tensor) else self.t  # a device counter (ganopt.graphs)
        return {"t": t, **{b: [x.clone() for x in self.state[b]] for b in self.buffers}}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.t, torch.Tensor):  # in place: a captured CUDA graph reads this very tensor
            self.t.copy_(torch.as_tensor(state["t"]))
        else:
            self.t = state["t"]
        for b in self.buffers:
            for x, saved in zip(self.state[b], state[b]):
                x.copy_(saved)

    def tensors(self) -> list[torch.Tensor]:
        return [x for b in self.buffers for x in self.state[b]]

    @torch.no_grad()
    def reset(self, runs: torch.Tensor) -> None:
        """Zero the state of the runs in the boolean mask `runs` (used to freeze diverged runs)."""
        for x in self.tensors():
            x[runs] = 0


# The built-in updates' hyperparameters, declared once: they are also Strategy fields (a suite's
# `beta = -0.5`), which Strategy checks against these declarations.
BETA = Hyperparameter("beta", 0.9, -1, 1, low_open=True, high_open=True,
                      help="momentum; negative for negative momentum")
BETA1 = Hyperparameter("beta1", 0.5, 0, 1, high_open=True)
BETA2 = Hyperparameter("beta2", 0.999, 0, 1, high_open=True)
EPS = Hyperparameter("eps", 1e-8, 0, None, low_open=True)


class SGD(BaseUpdate):
    name = "sgd"

    def apply(self, grads, state):
        return [g.clone() for g in grads], {"t": state["t"] + 1}

    def direction(self, grads):
        self.t += 1
        return list(grads)  # autograd's fresh gradients: nothing else holds them as a buffer


class Momentum(BaseUpdate):
    name = "momentum"
    hyperparameters = (BETA,)
    buffers = ("buf",)

    def apply(self, grads, state):
        beta = self.hyper["beta"]
        new = [per_run(beta, b) * b + g for b, g in zip(state["buf"], grads)]
        return list(new), {"t": state["t"] + 1, "buf": new}


class Adam(BaseUpdate):
    name = "adam"
    hyperparameters = (BETA1, BETA2, EPS)
    buffers = ("exp_avg", "exp_avg_sq")
    lr_like = "adam"
    exact = ("beta1", "beta2", "eps")  # 1 - beta2**t in float32 would lose digits

    def _scalars(self, t: int, dtype):
        # Scalars are formed in float64 and cast once, as torch.optim does with Python floats.
        b1, b2, eps = (self.hyper[k] for k in ("beta1", "beta2", "eps"))
        bias1 = (1 - b1**t).to(dtype)
        bias2_sqrt = torch.sqrt(1 - b2**t).to(dtype)
        return (1 - b1).to(dtype), b2.to(dtype), (1 - b2).to(dtype), eps.to(dtype), bias1, bias2_sqrt

    def apply(self, grads, state):
        t = state["t"] + 1
        one_minus_b1, b2, one_minus_b2, eps, bias1, bias2_sqrt = self._scalars(t, grads[0].dtype)
        # where a derivative is taken (unrolled), sqrt's at an exact 0 would be inf (dead units):
        # clamp there; the clamp changes no direction (sqrt(tiny) ~ 1e-19 vanishes beside eps)
        tiny = torch.finfo(grads[0].dtype).tiny if torch.is_grad_enabled() else None
        ms, vs, out = [], [], []
        for m, v, g in zip(state["exp_avg"], state["exp_avg_sq"], grads):
            m = m.lerp(g, per_run(one_minus_b1, m))
            v = torch.addcmul(v * per_run(b2, v), g, g * per_run(one_minus_b2, v))
            denom = (v if tiny is None else v.clamp_min(tiny)).sqrt() / per_run(bias2_sqrt, v) + per_run(eps, v)
            out.append(m / per_run(bias1, m) / denom)
            ms.append(m)
            vs.append(v)
        return out, {"t": t, "exp_avg": ms, "exp_avg_sq": vs}


BASE_UPDATES: dict[str, type[BaseUpdate]] = {cls.name: cls for cls in (SGD, Momentum, Adam)}


def register_base_update(cls: type[BaseUpdate] | None = None, *, replace: bool = False):
    """Class decorator: make a base update available by its `name` to strategies and suites.
    Its declared hyperparameters are then settable by name in a strategy (`alpha = 0.9`).
    A name already taken by another base update is refused unless
    `@register_base_update(replace=True)` (recorded: ganopt.registry_replacements)."""
    if cls is None:
        return lambda c: register_base_update(c, replace=replace)
    if not getattr(cls, "name", "") or cls.name == "mixed":
        raise ValueError("a base update class needs a non-empty `name` (not 'mixed')")
    if not issubclass(cls, BaseUpdate) or cls.apply is BaseUpdate.apply:
        raise ValueError(f"base update {cls.name!r}: subclass BaseUpdate and implement apply(grads, state)")
    if cls.lr_like not in ("sgd", "momentum", "adam"):
        raise ValueError(f"base update {cls.name!r}: lr_like must be sgd, momentum or adam, got {cls.lr_like!r}")
    for h in cls.hyperparameters:
        if not isinstance(h, Hyperparameter) or not h.per_run:
            raise ValueError(f"base update {cls.name!r}: hyperparameters must be real Hyperparameter declarations")
        if h.name in RESERVED and h.name not in FIELD_HYPERPARAMETERS:
            raise ValueError(f"base update {cls.name!r}: hyperparameter name {h.name!r} is a strategy field")
    claim("base update", BASE_UPDATES, cls.name, cls, replace, "register_base_update")
    return cls


def hyperparameter_names(base: str) -> tuple[str, ...]:
    return tuple(h.name for h in BASE_UPDATES[base].hyperparameters)


class MixedUpdate(BaseUpdate):
    """Different base updates for different runs of one stack: each group of runs keeps its
    own state, and the directions are gathered and scattered by run index.  This lets every
    strategy of one scheme share a stack (bigger stacks, fewer of them)."""

    name = "mixed"

    def __init__(self, params, hyper, bases: list[str]):
        super().__init__(params, hyper)
        self.groups = []
        for base in dict.fromkeys(bases):
            index = torch.tensor([i for i, b in enumerate(bases) if b == base], device=params[0].device)
            sub_params = [p.detach()[index] for p in params]
            sub_hyper = {k: v[index] for k, v in hyper.items() if k in hyperparameter_names(base)}
            self.groups.append((index, BASE_UPDATES[base](sub_params, sub_hyper)))

    def direction(self, grads):
        out = [torch.empty_like(g) for g in grads]
        for index, update in self.groups:
            for o, d in zip(out, update.direction([g[index] for g in grads])):
                o[index] = d
        return out

    def apply(self, grads, state):
        out = [torch.zeros_like(g) for g in grads]
        new_groups = []
        for (index, update), sub_state in zip(self.groups, state["groups"]):
            directions, new = update.apply([g[index] for g in grads], sub_state)
            out = [o.index_put((index,), d) for o, d in zip(out, directions)]  # out of place: differentiable
            new_groups.append(new)
        return out, {"groups": new_groups}

    def state_dict(self):
        return {"groups": [update.state_dict() for _, update in self.groups]}

    def load_state_dict(self, state):
        for (_, update), saved in zip(self.groups, state["groups"]):
            update.load_state_dict(saved)

    def tensors(self):
        return [x for _, update in self.groups for x in update.tensors()]

    def reset(self, runs: torch.Tensor) -> None:
        for index, update in self.groups:
            update.reset(runs[index])


def current_state(update: BaseUpdate) -> dict[str, Any]:
    """The update's live state in `apply`'s format, without copies (read it, do not modify it)."""
    if isinstance(update, MixedUpdate):
        return {"groups": [current_state(u) for _, u in update.groups]}
    return {"t": update.t, **update.state}


def make_update(params: list[torch.Tensor], bases: list[str], hyper: dict[str, torch.Tensor]) -> BaseUpdate:
    """The base update of one player of a stack; `bases` names each run's base update."""
    if len(set(bases)) == 1:
        wanted = hyperparameter_names(bases[0])
        return BASE_UPDATES[bases[0]](params, {k: v for k, v in hyper.items() if k in wanted})
    return MixedUpdate(params, hyper, bases)
