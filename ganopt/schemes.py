"""Schemes: the game-level order in which the two players evaluate gradients and move.

On the joint vector field v(w) = (grad_theta L_G, grad_phi L_D) with per-player directions
u = base_update(v) and learning rates eta:

- simultaneous:       w <- w - eta u(v(w))                              (1 evaluation)
- alternating:        k D-steps, then one G-step against the updated D  ((k+1)/2 evaluations)
- extragradient:      w' = w - eta u(v(w));  w <- w - eta u(v(w'))      (2; Korpelevich 1976,
                      Gidel et al. 2019; the base update's state advances at both evaluations)
- optimistic:         w <- w - eta (2 u_t - u_{t-1})                     (1; Daskalakis et al. 2018)
- past-extragradient: w' = w - eta u_{t-1};  u_t = u(v(w'));  w <- w - eta u_t
                      (1; extrapolation from the past, Popov 1980, Gidel et al. 2019)

A gradient evaluation is one evaluation of the joint field; a single player's gradient
counts one half.  To add a scheme, subclass Scheme and decorate it with @register_scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .train import Stack

SCHEMES: dict[str, type[Scheme]] = {}


def register_scheme(cls: type[Scheme]) -> type[Scheme]:
    """Class decorator: make a scheme available by its `name` to strategies and suites."""
    if not getattr(cls, "name", ""):
        raise ValueError("a scheme class needs a non-empty `name`")
    SCHEMES[cls.name] = cls
    return cls


class Scheme:
    """One training step of a stack.  Subclasses implement `step`; `self.stack` gives
    `field(need)`, the players `G` and `D` (`direction`, `move`, `snapshot`, `restore`)."""

    name: str = ""

    def __init__(self, stack: Stack, d_steps: int = 1):
        self.stack = stack
        self.d_steps = d_steps

    def step(self) -> None:
        raise NotImplementedError


@register_scheme
class Simultaneous(Scheme):
    name = "simultaneous"

    def step(self):
        s = self.stack
        grad_g, grad_d = s.field("gd")
        s.G.move(s.G.direction(grad_g))
        s.D.move(s.D.direction(grad_d))


@register_scheme
class Alternating(Scheme):
    name = "alternating"

    def step(self):
        s = self.stack
        for _ in range(self.d_steps):
            _, grad_d = s.field("d")
            s.D.move(s.D.direction(grad_d))
        grad_g, _ = s.field("g")
        s.G.move(s.G.direction(grad_g))


@register_scheme
class Extragradient(Scheme):
    name = "extragradient"

    def step(self):
        s = self.stack
        start_g, start_d = s.G.snapshot(), s.D.snapshot()
        grad_g, grad_d = s.field("gd")
        s.G.move(s.G.direction(grad_g))  # look-ahead point w'
        s.D.move(s.D.direction(grad_d))
        grad_g, grad_d = s.field("gd")
        s.G.restore(start_g)
        s.D.restore(start_d)
        s.G.move(s.G.direction(grad_g))
        s.D.move(s.D.direction(grad_d))


@register_scheme
class Optimistic(Scheme):
    name = "optimistic"

    def __init__(self, stack, d_steps=1):
        super().__init__(stack, d_steps)
        self.previous = None  # (u_{t-1} of G, u_{t-1} of D); the first step is a plain step

    def step(self):
        s = self.stack
        grad_g, grad_d = s.field("gd")
        u_g = [d.clone() for d in s.G.direction(grad_g)]
        u_d = [d.clone() for d in s.D.direction(grad_d)]
        if self.previous is None:
            s.G.move(u_g)
            s.D.move(u_d)
        else:
            s.G.move([2 * a - b for a, b in zip(u_g, self.previous[0])])
            s.D.move([2 * a - b for a, b in zip(u_d, self.previous[1])])
        self.previous = (u_g, u_d)


@register_scheme
class PastExtragradient(Scheme):
    name = "past-extragradient"

    def __init__(self, stack, d_steps=1):
        super().__init__(stack, d_steps)
        self.previous = None

    def step(self):
        s = self.stack
        start_g, start_d = s.G.snapshot(), s.D.snapshot()
        if self.previous is not None:  # extrapolate with last step's direction, no new gradient
            s.G.move(self.previous[0])
            s.D.move(self.previous[1])
        grad_g, grad_d = s.field("gd")
        u_g = [d.clone() for d in s.G.direction(grad_g)]
        u_d = [d.clone() for d in s.D.direction(grad_d)]
        s.G.restore(start_g)
        s.D.restore(start_d)
        s.G.move(u_g)
        s.D.move(u_d)
        self.previous = (u_g, u_d)

