"""Base updates: the per-player rule that turns a gradient into a step direction d.

A scheme then moves the player by p <- p - lr * d.  State and hyperparameters carry the
stack's leading dimension K, so every run may have its own beta.  The rules match
torch.optim exactly (tests compare them on the same gradients):

- sgd:      d = g
- momentum: b <- beta * b + g ; d = b          (torch.optim.SGD, dampening 0; beta < 0 allowed:
                                                negative momentum, Gidel et al. 2019)
- adam:     m <- beta1 m + (1 - beta1) g ; v <- beta2 v + (1 - beta2) g^2 ;
            d = (m / (1 - beta1^t)) / (sqrt(v) / sqrt(1 - beta2^t) + eps)   (Kingma & Ba 2015)
"""

from __future__ import annotations

import torch


def per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View a [K] tensor so that it broadcasts against a stacked tensor [K, ...]."""
    return values.view(-1, *([1] * (like.dim() - 1)))


class BaseUpdate:
    name: str = ""
    hyperparameters: tuple[str, ...] = ()

    def __init__(self, params: list[torch.Tensor], hyper: dict[str, torch.Tensor]):
        self.hyper = hyper
        self.state: list[torch.Tensor] = []

    def direction(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        raise NotImplementedError

    def reset(self, runs: torch.Tensor) -> None:
        """Zero the state of the runs in the boolean mask `runs` (used to freeze diverged runs)."""
        for s in self.state:
            s[runs] = 0


class SGD(BaseUpdate):
    name = "sgd"

    def direction(self, grads):
        return list(grads)


class Momentum(BaseUpdate):
    name = "momentum"
    hyperparameters = ("beta",)

    def __init__(self, params, hyper):
        super().__init__(params, hyper)
        self.state = [torch.zeros_like(p) for p in params]

    def direction(self, grads):
        beta = self.hyper["beta"]
        for buf, g in zip(self.state, grads):
            buf.mul_(per_run(beta, buf)).add_(g)
        return self.state


class Adam(BaseUpdate):
    name = "adam"
    hyperparameters = ("beta1", "beta2", "eps")

    def __init__(self, params, hyper):
        super().__init__(params, hyper)
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.state = self.exp_avg + self.exp_avg_sq
        self.t = 0

    def direction(self, grads):
        self.t += 1
        # Scalars are formed in float64 and cast once, as torch.optim does with Python floats:
        # 1 - beta2**t in float32 would lose digits.
        b1, b2, eps = (self.hyper[k].double() for k in ("beta1", "beta2", "eps"))
        dtype = grads[0].dtype
        one_minus_b1, b2_, one_minus_b2, eps_ = (x.to(dtype) for x in (1 - b1, b2, 1 - b2, eps))
        bias1 = (1 - b1**self.t).to(dtype)
        bias2_sqrt = torch.sqrt(1 - b2**self.t).to(dtype)
        out = []
        for m, v, g in zip(self.exp_avg, self.exp_avg_sq, grads):
            m.lerp_(g, per_run(one_minus_b1, m))
            v.mul_(per_run(b2_, v)).addcmul_(g, g * per_run(one_minus_b2, v))
            denom = (v.sqrt() / per_run(bias2_sqrt, v)).add_(per_run(eps_, v))
            out.append(m / per_run(bias1, m) / denom)
        return out


BASE_UPDATES: dict[str, type[BaseUpdate]] = {cls.name: cls for cls in (SGD, Momentum, Adam)}


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
            sub_hyper = {k: v[index] for k, v in hyper.items() if k in BASE_UPDATES[base].hyperparameters}
            self.groups.append((index, BASE_UPDATES[base](sub_params, sub_hyper)))

    def direction(self, grads):
        out = [torch.empty_like(g) for g in grads]
        for index, update in self.groups:
            for o, d in zip(out, update.direction([g[index] for g in grads])):
                o[index] = d
        return out

    def reset(self, runs: torch.Tensor) -> None:
        for index, update in self.groups:
            update.reset(runs[index])


def make_update(params: list[torch.Tensor], bases: list[str], hyper: dict[str, torch.Tensor]) -> BaseUpdate:
    """The base update of one player of a stack; `bases` names each run's base update."""
    if len(set(bases)) == 1:
        wanted = BASE_UPDATES[bases[0]].hyperparameters
        return BASE_UPDATES[bases[0]](params, {k: v for k, v in hyper.items() if k in wanted})
    return MixedUpdate(params, hyper, bases)
