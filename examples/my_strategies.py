"""A user-defined scheme and two strategies, registered from a plugin file.

Run them against the presets with:
    python -m bench run --plugin examples/my_strategies.py --problems bilinear,ring8 \
        --strategies gd,extragradient,lookahead-gd,adam,lookahead-adam
"""

from ganopt import Scheme, Strategy, register_scheme, register_strategy


@register_scheme
class Lookahead(Scheme):
    """Lookahead on the game (Chavdarova et al. 2021, simplified): every 5 fast steps, pull both
    players halfway back towards the point where the 5 steps started."""

    name = "lookahead"
    k, alpha = 5, 0.5

    def __init__(self, stack, d_steps=1):
        super().__init__(stack, d_steps)
        self.t = 0
        self.slow = None

    def step(self):
        s = self.stack
        if self.slow is None:
            self.slow = (s.G.snapshot(), s.D.snapshot())
        grad_g, grad_d = s.field("gd")
        s.G.move(s.G.direction(grad_g))
        s.D.move(s.D.direction(grad_d))
        self.t += 1
        if self.t % self.k == 0:
            for player, slow in zip((s.G, s.D), self.slow):
                fast = player.snapshot()
                player.restore([w + self.alpha * (f - w) for w, f in zip(slow, fast)])
            self.slow = (s.G.snapshot(), s.D.snapshot())


register_strategy(Strategy("lookahead-gd", scheme="lookahead", base="sgd", estimate="full",
                           description="Lookahead over simultaneous GD (k=5, alpha=0.5)"))
register_strategy(Strategy("lookahead-adam", scheme="lookahead", base="adam",
                           description="Lookahead over simultaneous Adam (k=5, alpha=0.5)"))
