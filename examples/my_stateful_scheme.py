"""A plugin: a scheme that keeps state between steps, in one file.

Extra anchored gradient (EAG, Yoon & Ryu 2021): an extragradient step whose both halves start
from a point pulled towards the run's starting point w₀ by β_t = 1/(t + 2),

    w½ = w + β_t (w₀ − w) − η u(v(w)),    w ← w + β_t (w₀ − w) − η u(v(w½)),

which reaches a small field norm at rate O(1/t) on monotone games (2 gradient evaluations a
step).  Plain simultaneous GD spirals out on the bilinear game; EAG closes in on it.

The scheme's state (the anchor and the step count) lives in `self.state`, made by `init_state`,
so ganopt can checkpoint it (ganopt.schemes.save_checkpoint) and, since every entry is a
tensor (the count too), capture its step in a CUDA graph: nothing else needs to know of it.

    python -m bench run --plugin examples/my_stateful_scheme.py --problems bilinear \\
        --strategies gd,extragradient,eag --seeds 3
"""

import torch

from ganopt import Scheme, Strategy, register_scheme, register_strategy
from ganopt.updates import per_run


@register_scheme
class ExtraAnchoredGradient(Scheme):
    name = "eag"

    def init_state(self):
        s = self.stack
        count = torch.zeros((), dtype=torch.float64, device=s.G.params[0].device)  # a tensor: graphs advance it
        return {"anchor": (s.G.snapshot(), s.D.snapshot()), "t": count}

    def _pull(self, start):
        """Both players at their `start` point moved towards the anchor by 1/(t + 2)."""
        beta = 1 / (self.state["t"] + 2)
        for player, begin, anchor in zip((self.stack.G, self.stack.D), start, self.state["anchor"]):
            frozen = player.lr == 0  # a diverged run stays as the trainer froze it
            player.restore([torch.where(per_run(frozen, p), p, torch.lerp(p, a, beta.to(p.dtype)))
                            for p, a in zip(begin, anchor)])

    def step(self):
        s = self.stack
        start = (s.G.snapshot(), s.D.snapshot())
        grad_g, grad_d = s.field("gd")
        self._pull(start)
        s.G.move(s.G.direction(grad_g))  # the half point w½
        s.D.move(s.D.direction(grad_d))
        grad_g, grad_d = s.field("gd")
        self._pull(start)
        s.G.move(s.G.direction(grad_g))
        s.D.move(s.D.direction(grad_d))
        self.state["t"] += 1


register_strategy(Strategy("eag", scheme="eag", base="sgd", estimate="full",
                           description="extra anchored gradient, full batch (Yoon & Ryu 2021)"))
