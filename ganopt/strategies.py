"""Strategies = scheme x base update x learning rates x gradient estimate, and the presets.

A Strategy whose learning rates are None takes them from the problem's defaults for its base
update (`Problem.lr`); `lr_ratio` then sets lr_D = lr_ratio * lr_G (TTUR, Heusel et al.
2017, use lr_D = 3e-4 and lr_G = 1e-4, a ratio of 3).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .schemes import SCHEMES
from .updates import BASE_UPDATES

ESTIMATES = ("full", "minibatch")
REAL_FIELDS = ("lr_g", "lr_d", "lr_ratio", "beta", "beta1", "beta2", "eps")


@dataclass(frozen=True)
class Strategy:
    name: str
    scheme: str = "simultaneous"
    base: str = "sgd"
    estimate: str = "minibatch"
    lr_g: float | None = None
    lr_d: float | None = None
    lr_ratio: float = 1.0
    beta: float = 0.9  # momentum
    beta1: float = 0.5  # adam; 0.5 is the usual GAN setting (Radford et al. 2016)
    beta2: float = 0.999
    eps: float = 1e-8
    d_steps: int = 1  # alternating: D-steps per G-step
    description: str = ""

    def __post_init__(self):
        for key in REAL_FIELDS:  # a real setting written as an integer (TOML `eps = 1`) is that float: stored
            value = getattr(self, key)  # as a REAL, and one beyond any float (10**400) refused here, not when stored
            if isinstance(value, int) and not isinstance(value, bool):
                try:
                    object.__setattr__(self, key, float(value))
                except OverflowError:
                    raise ValueError(f"strategy {self.name!r}: {key} is too large, got {value!r}") from None
        _choice("scheme", self.scheme, SCHEMES)
        _choice("base", self.base, BASE_UPDATES)
        _choice("estimate", self.estimate, ESTIMATES)
        for key in ("lr_g", "lr_d"):
            value = getattr(self, key)
            if value is not None and not _positive_number(value):
                raise ValueError(f"strategy {self.name!r}: {key} must be a positive number, got {value!r}")
        if not _positive_number(self.lr_ratio):
            raise ValueError(f"strategy {self.name!r}: lr_ratio must be a positive number, got {self.lr_ratio!r}")
        if not (_number(self.beta) and -1 < self.beta < 1):
            raise ValueError(f"strategy {self.name!r}: beta must lie in (-1, 1) (negative for negative momentum), got {self.beta!r}")
        for key in ("beta1", "beta2"):
            value = getattr(self, key)
            if not (_number(value) and 0 <= value < 1):
                raise ValueError(f"strategy {self.name!r}: {key} must lie in [0, 1), got {value!r}")
        if not _positive_number(self.eps):
            raise ValueError(f"strategy {self.name!r}: eps must be a positive number, got {self.eps!r}")
        if not (isinstance(self.d_steps, int) and not isinstance(self.d_steps, bool) and 1 <= self.d_steps <= 1000):
            raise ValueError(f"strategy {self.name!r}: d_steps must be an integer from 1 to 1000, got {self.d_steps!r}")
        if not isinstance(self.description, str):
            raise ValueError(f"strategy {self.name!r}: description must be a string")

    def resolve(self, default_lr: dict[str, float], tuned: tuple[float, float] | None = None) -> Strategy:
        """Fill missing learning rates: from `tuned` (lr_G, lr_D: the preset's tuned rates on
        the problem, ganopt.tuned) when given, else from the problem's defaults (base update ->
        lr).  Rates the strategy sets itself always win."""
        if tuned is not None and self.lr_g is None:
            lr_g = tuned[0]
            lr_d = self.lr_d if self.lr_d is not None else tuned[1]
            return dataclasses.replace(self, lr_g=lr_g, lr_d=lr_d)
        lr_g = self.lr_g if self.lr_g is not None else default_lr[self.base]
        lr_d = self.lr_d if self.lr_d is not None else lr_g * self.lr_ratio
        return dataclasses.replace(self, lr_g=lr_g, lr_d=lr_d)

    @property
    def stack_key(self) -> tuple:
        """Runs whose strategies share this key can train in one stack (base update, estimate
        and hyperparameters may differ per run)."""
        return (self.scheme, self.d_steps)

    def settings(self) -> dict:
        """The fields that define the strategy's behaviour (no name, no description)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("name", "description")}


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive_number(x) -> bool:
    return _number(x) and x > 0


def _choice(key: str, value, valid) -> None:
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"unknown {key} {value!r}; valid: {', '.join(sorted(valid))}")


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy, replace: bool = False) -> Strategy:
    """Make a strategy available by name to suites and the CLI.  A name already taken by another
    strategy is refused unless `replace` (a plugin silently redefining `adam` would change what
    every suite means by it); registering the same strategy again is harmless."""
    existing = STRATEGIES.get(strategy.name)
    if existing is not None and existing != strategy and not replace:
        raise ValueError(f"strategy {strategy.name!r} is already registered ({existing.description or existing.scheme}); "
                         "choose another name, or register_strategy(..., replace=True)")
    STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; valid: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


for _preset in [
    Strategy("gd", "simultaneous", "sgd", "full", description="plain gradient descent: full batch, simultaneous"),
    Strategy("sgd", "simultaneous", "sgd", description="stochastic gradient descent, simultaneous"),
    Strategy("momentum", "simultaneous", "momentum", beta=0.9, description="SGD with heavy-ball momentum 0.9"),
    Strategy("adam", "simultaneous", "adam", description="Adam (beta1 0.5, beta2 0.999), simultaneous"),
    Strategy("extragradient", "extragradient", "sgd", description="ExtraSGD (Gidel et al. 2019)"),
    Strategy("extra-adam", "extragradient", "adam", description="Extra-Adam (Gidel et al. 2019)"),
    Strategy("ttur", "simultaneous", "adam", lr_ratio=3.0, description="Adam with lr_D = 3 lr_G (Heusel et al. 2017)"),
    Strategy("optimistic", "optimistic", "sgd", description="optimistic gradient descent (Daskalakis et al. 2018)"),
    Strategy("optimistic-adam", "optimistic", "adam", description="optimistic Adam (Daskalakis et al. 2018)"),
    Strategy("past-extragradient", "past-extragradient", "sgd", description="extrapolation from the past (Gidel et al. 2019)"),
    Strategy("negative-momentum", "alternating", "momentum", beta=-0.5, description="alternating, momentum -0.5 (Gidel et al. 2019)"),
    Strategy("alt-gd", "alternating", "sgd", "full", description="plain gradient descent, alternating"),
    Strategy("alt-sgd", "alternating", "sgd", description="SGD, alternating"),
    Strategy("alt-adam", "alternating", "adam", description="Adam, alternating"),
]:
    register_strategy(_preset)

PRESETS: tuple[str, ...] = tuple(STRATEGIES)  # the built-in names (plugins may register more)
