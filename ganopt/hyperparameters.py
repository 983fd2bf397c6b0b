"""Declared hyperparameters of schemes and base updates (consensus's `gamma`, RMSprop's `alpha`).

A scheme or base update lists what it reads as `Hyperparameter`s; a strategy then sets them by
name (in Python, `Strategy(..., hyper={"gamma": 10})`; in a suite, `gamma = 10` in its
`[strategy.NAME]` table), every value is checked against the declaration before anything runs,
and unset ones take the declared default.  Kinds:

- "real": a number; each run of a stack has its own (a [K] tensor, like the learning rates), so
  runs that differ only in it share a stack;
- "int":  an integer; one value per stack (it changes the computation's shape, e.g. unroll steps);
- "scheme": the name of a registered scheme (a wrapper's inner scheme); one value per stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("real", "int", "scheme")
# Strategy fields and suite keys: no declared hyperparameter may take these names (a suite's
# `lr_g = ...` must keep meaning the field), except that a base update may read the built-in
# updates' hyperparameter fields (beta, beta1, beta2, eps) as its own.
RESERVED = ("name", "scheme", "base", "estimate", "lr_g", "lr_d", "lr_ratio", "beta", "beta1", "beta2", "eps",
            "d_steps", "description", "hyper", "like")
FIELD_HYPERPARAMETERS = ("beta", "beta1", "beta2", "eps")


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    default: float | int | str
    low: float | None = None  # bounds ("real" and "int"), inclusive unless declared open
    high: float | None = None
    kind: str = "real"
    help: str = ""
    low_open: bool = False
    high_open: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"hyperparameter {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def per_run(self) -> bool:
        """Whether each run of a stack may have its own value (else it is part of the stack key)."""
        return self.kind == "real"

    def check(self, value, where: str, schemes=()):
        """The value, normalised (an integer given for a real is that float); ValueError otherwise.
        A "scheme" value must be one of `schemes`, the registered names (passed in by the caller:
        this module sits below the schemes)."""
        if self.kind == "scheme":
            if not isinstance(value, str) or value not in schemes:
                raise ValueError(f"{where}: {self.name} must name a scheme; valid: {', '.join(sorted(schemes))}; "
                                 f"got {value!r}")
            return value
        integral = isinstance(value, int) and not isinstance(value, bool)
        if self.kind == "int" and not integral:
            raise ValueError(f"{where}: {self.name} must be an integer, got {value!r}")
        if self.kind == "real":
            if integral:
                try:
                    value = float(value)
                except OverflowError:
                    raise ValueError(f"{where}: {self.name} is too large, got {value!r}") from None
            if not (isinstance(value, float) and math.isfinite(value)):
                raise ValueError(f"{where}: {self.name} must be a finite number, got {value!r}")
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if below or above:
            raise ValueError(f"{where}: {self.name} must lie in {self.interval()}, got {value!r}")
        return value

    def interval(self) -> str:
        """The allowed range in interval notation: [0, 1) for beta1."""
        return f"{'(' if self.low_open else '['}{_bound(self.low)}, {_bound(self.high)}{')' if self.high_open else ']'}"

    def describe(self) -> str:
        bounds = f" in {self.interval()}" if self.kind != "scheme" else ""
        return f"{self.name} = {self.default!r} ({self.kind}{bounds}{'; ' + self.help if self.help else ''})"


def _bound(x) -> str:
    return "…" if x is None else f"{x:g}"
