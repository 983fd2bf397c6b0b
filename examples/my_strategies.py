"""A plugin: a base update (RMSprop), a scheme with a hyperparameter, and strategies using them.

Run them against the presets with:
    python -m bench run --plugin examples/my_strategies.py --problems bilinear,ring8 \
        --strategies adam,rmsprop,consensus-rmsprop,gd,d-first
and set their hyperparameters from a suite like any other setting (examples/my_suite.toml):
    [strategy.rmsprop-slow]
    like = "rmsprop"
    alpha = 0.999
"""

from ganopt import BaseUpdate, Hyperparameter, Scheme, Strategy, register_base_update, register_scheme, register_strategy
from ganopt.updates import per_run


@register_base_update
class RMSprop(BaseUpdate):
    """torch.optim.RMSprop (centered=False, momentum 0): v <- alpha v + (1 - alpha) g^2,
    d = g / (sqrt(v) + eps).  `apply` is pure, so unrolled and wrapper schemes can use it."""

    name = "rmsprop"
    hyperparameters = (Hyperparameter("alpha", 0.99, 0, 1, help="smoothing of the squared gradients"),
                       Hyperparameter("eps", 1e-8, 0, None))  # eps: the strategy field of that name
    buffers = ("square_avg",)
    lr_like = "adam"  # a problem's default Adam learning rate suits it

    def apply(self, grads, state):
        alpha, eps = self.hyper["alpha"], self.hyper["eps"]
        squares = [per_run(alpha, v) * v + per_run(1 - alpha, v) * g * g for v, g in zip(state["square_avg"], grads)]
        directions = [g / (v.sqrt() + per_run(eps, v)) for g, v in zip(grads, squares)]
        return directions, {"t": state["t"] + 1, "square_avg": squares}


@register_scheme
class DFirst(Scheme):
    """`d_first` D-steps, then one G-step against the updated D (a declared hyperparameter,
    set from a suite as `d_first = 3`)."""

    name = "d-first"
    hyperparameters = (Hyperparameter("d_first", 2, 1, 100, kind="int", help="D-steps before each G-step"),)

    def step(self):
        s = self.stack  # s.field(need) -> gradients; s.G / s.D players; s.setting(name)
        for _ in range(self.setting("d_first")):
            _, grad_d = s.field("d")
            s.D.move(s.D.direction(grad_d))
        grad_g, _ = s.field("g")
        s.G.move(s.G.direction(grad_g))


register_strategy(Strategy("rmsprop", base="rmsprop", description="RMSprop (alpha 0.99), simultaneous"))
register_strategy(Strategy("consensus-rmsprop", scheme="consensus", base="rmsprop", hyper={"gamma": 10.0},
                           description="consensus optimization with RMSprop, gamma 10 (Mescheder et al. 2017's setting)"))
register_strategy(Strategy("d-first", scheme="d-first", base="adam", description="two Adam D-steps per G-step"))
