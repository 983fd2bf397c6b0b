"""Schemes: the game-level order in which the two players evaluate gradients and move.

On the joint vector field v(w) = (grad_theta L_G, grad_phi L_D) with per-player directions
u = base_update(v), learning rates eta, and J the Jacobian of v with respect to w = (theta, phi):

- simultaneous:       w <- w - eta u(v(w))                              (1 evaluation)
- alternating:        k D-steps, then one G-step against the updated D  ((k+1)/2 evaluations)
- extragradient:      w' = w - eta u(v(w));  w <- w - eta u(v(w'))      (2; Korpelevich 1976,
                      Gidel et al. 2019; the base update's state advances at both evaluations)
- optimistic:         w <- w - eta (2 u_t - u_{t-1})                     (1; Daskalakis et al. 2018)
- past-extragradient: w' = w - eta u_{t-1};  u_t = u(v(w'));  w <- w - eta u_t
                      (1; extrapolation from the past, Popov 1980, Gidel et al. 2019)
- consensus:          w <- w - eta u(v + gamma J^T v)   (Mescheder et al. 2017: v + gamma grad ½|v|²)
- sga:                w <- w - eta u(v + lambda A^T v), A = (J - J^T)/2, lambda's sign aligned
                      (symplectic gradient adjustment, Balduzzi et al. 2018)
- unrolled:           D steps as in simultaneous; G steps on grad_theta L_G(theta, phi_k(theta)),
                      phi_k: k unrolled D-steps, differentiated through (Metz et al. 2017)
- cgd:                competitive gradient descent: each player's step is the Nash equilibrium of
                      the local bilinear approximation of the game (Schäfer & Anandkumar 2019)
- lookahead:          wraps any scheme: every k steps, slow <- slow + alpha (fast - slow) and
                      the fast weights restart there (Lookahead-minmax, Chavdarova et al. 2021)

Costs (Stack.grad_evals): a field evaluation 1, a Jacobian-vector product 2 (Stack).  To add a
scheme, subclass Scheme (declare its `hyperparameters`, write `step`) and decorate it with
@register_scheme; a suite then sets its hyperparameters like any other strategy setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .hyperparameters import RESERVED, Hyperparameter
from .registry import claim
from .updates import current_state, per_run
from .updates import per_run_dot as _dot

if TYPE_CHECKING:  # pragma: no cover
    from .stack import Stack

SCHEMES: dict[str, type[Scheme]] = {}


def register_scheme(cls: type[Scheme] | None = None, *, replace: bool = False):
    """Class decorator: make a scheme available by its `name` to strategies and suites.
    A name already taken by another scheme is refused unless `@register_scheme(replace=True)`
    (the replacement is recorded: ganopt.registry_replacements)."""
    if cls is None:
        return lambda c: register_scheme(c, replace=replace)
    if not getattr(cls, "name", ""):
        raise ValueError("a scheme class needs a non-empty `name`")
    for h in cls.hyperparameters:
        if not isinstance(h, Hyperparameter):
            raise ValueError(f"scheme {cls.name!r}: hyperparameters must be Hyperparameter declarations")
        if h.name in RESERVED:
            raise ValueError(f"scheme {cls.name!r}: hyperparameter name {h.name!r} is a strategy field")
    claim("scheme", SCHEMES, cls.name, cls, replace, "register_scheme")
    return cls


class Scheme:
    """One training step of a stack.  Subclasses implement `step`; `self.stack` gives
    `field(need, create_graph)`, `jvp`, `vjp`, `setting(name)`, and the players `G` and `D`
    (`direction`, `move`, `snapshot`/`restore`, `save_state`/`load_state`).

    `hyperparameters` declares what a strategy may set (ganopt.hyperparameters); `bases` limits
    the base updates the scheme works with (None: any).

    State: whatever a scheme keeps from one step to the next lives in `self.state`, a dict made
    by `init_state` (as optax's `init`), never in other attributes.  `state_dict` and
    `load_state_dict` copy it (a checkpoint of a run is its players' state and this), and it
    decides CUDA-graph capture (ganopt.graphs): a graph replays fixed kernels on fixed memory,
    so an entry named in `host_state` (a Python value the step branches on, such as "no
    previous direction yet" or a step count) keeps the step out of a graph.  A scheme whose
    step cannot be captured for another reason says why in `not_capturable`."""

    name: str = ""
    hyperparameters: tuple[Hyperparameter, ...] = ()
    bases: tuple[str, ...] | None = None
    host_state: tuple[str, ...] = ()
    not_capturable: str = ""

    def __init__(self, stack: Stack, d_steps: int = 1, prefix: str = ""):
        self.stack = stack
        self.d_steps = d_steps
        self.prefix = prefix  # where this scheme's settings live: "" for the strategy's scheme, "inner." in a wrapper
        self.state: dict[str, Any] = self.init_state()

    def init_state(self) -> dict[str, Any]:
        """The state before the first step (default: none)."""
        return {}

    def setting(self, name: str):
        """One of this scheme's declared settings (a wrapped scheme reads its own, not its wrapper's)."""
        return self.stack.setting(self.prefix + name)

    def step(self) -> None:
        raise NotImplementedError

    @classmethod
    def capture_refusal(cls) -> str | None:
        """Why this scheme's step cannot be captured as a CUDA graph, or None when it can."""
        if cls.not_capturable:
            return cls.not_capturable
        if cls.host_state:
            return f"it keeps Python state between steps ({', '.join(cls.host_state)})"
        return None

    def state_dict(self) -> dict[str, Any]:
        """A copy of the scheme's state (tensors cloned)."""
        return _copy(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = _copy(state)


def _copy(value):
    """A deep copy of nested dicts, tuples and lists whose leaves are tensors or plain values."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def make_scheme(name: str, stack: Stack, d_steps: int = 1, prefix: str = "") -> Scheme:
    return SCHEMES[name](stack, d_steps, prefix)


def save_checkpoint(scheme: Scheme) -> dict[str, Any]:
    """Everything a stack's training carries from one step to the next: both players'
    parameters and base-update state, the scheme's declared state, and the draw and
    gradient-evaluation counters.  Loading it into a freshly built stack of the same runs
    continues the trajectories exactly."""
    s = scheme.stack
    return {"G": s.G.save_state(), "D": s.D.save_state(), "scheme": scheme.state_dict(),
            "draws": _copy(s.draws), "grad_evals": s.grad_evals}


def load_checkpoint(scheme: Scheme, saved: dict[str, Any]) -> None:
    s = scheme.stack
    s.G.load_state(saved["G"])
    s.D.load_state(saved["D"])
    scheme.load_state_dict(saved["scheme"])
    s.draws, s.grad_evals = _copy(saved["draws"]), saved["grad_evals"]


def _axpy(alpha: torch.Tensor, x: list[torch.Tensor], y: list[torch.Tensor]) -> list[torch.Tensor]:
    """y + alpha x with a per-run alpha [K]."""
    return [b + per_run(alpha, a) * a for a, b in zip(x, y)]


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
    host_state = ("previous",)  # None before the first step: a Python branch

    def init_state(self):
        return {"previous": None}  # (u_{t-1} of G, u_{t-1} of D); the first step is a plain step

    def step(self):
        s, previous = self.stack, self.state["previous"]
        grad_g, grad_d = s.field("gd")
        u_g, u_d = s.G.direction(grad_g), s.D.direction(grad_d)  # fresh tensors, safe to keep
        if previous is None:
            s.G.move(u_g)
            s.D.move(u_d)
        else:
            s.G.move([2 * a - b for a, b in zip(u_g, previous[0])])
            s.D.move([2 * a - b for a, b in zip(u_d, previous[1])])
        self.state["previous"] = (u_g, u_d)


@register_scheme
class PastExtragradient(Scheme):
    name = "past-extragradient"
    host_state = ("previous",)  # None before the first step: a Python branch

    def init_state(self):
        return {"previous": None}  # (u_{t-1} of G, u_{t-1} of D)

    def step(self):
        s, previous = self.stack, self.state["previous"]
        start_g, start_d = s.G.snapshot(), s.D.snapshot()
        if previous is not None:  # extrapolate with last step's direction, no new gradient
            s.G.move(previous[0])
            s.D.move(previous[1])
        grad_g, grad_d = s.field("gd")
        u_g, u_d = s.G.direction(grad_g), s.D.direction(grad_d)
        s.G.restore(start_g)
        s.D.restore(start_d)
        s.G.move(u_g)
        s.D.move(u_d)
        self.state["previous"] = (u_g, u_d)



def _detached(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach() for t in tensors]


@register_scheme
class Consensus(Scheme):
    """Consensus optimization (Mescheder et al. 2017): follow v + gamma ∇(½‖v‖²) = v + gamma Jᵀv,
    which damps the rotation of the field around an equilibrium."""

    name = "consensus"
    hyperparameters = (Hyperparameter("gamma", 1.0, 0, None, help="weight of the consensus term ∇½‖v‖²"),)

    def step(self):
        s = self.stack
        field = s.field("gd", create_graph=True)
        v = (_detached(field[0]), _detached(field[1]))
        jt_v = s.vjp(field, v)
        gamma = self.setting("gamma")
        s.G.move(s.G.direction(_axpy(gamma, jt_v[0], v[0])))
        s.D.move(s.D.direction(_axpy(gamma, jt_v[1], v[1])))


@register_scheme
class SymplecticGradientAdjustment(Scheme):
    """Symplectic gradient adjustment (Balduzzi et al. 2018, Algorithm 1): follow ξ + λ Aᵀξ, A =
    (J − Jᵀ)/2 the antisymmetric part of the game's Jacobian.  With `align`, each run's λ takes
    the sign of ⟨ξ, ∇H⟩⟨Aᵀξ, ∇H⟩/d + 1/10 (∇H = Jᵀξ, d parameters per run), so that the
    adjustment points towards stable fixed points and away from unstable ones."""

    name = "sga"
    hyperparameters = (
        Hyperparameter("sga_lambda", 1.0, 0, None, help="weight λ of the adjustment Aᵀξ"),
        Hyperparameter("align", 1, 0, 1, kind="int", help="1: λ's sign by the alignment criterion"),
    )

    def step(self):
        s = self.stack
        field = s.field("gd", create_graph=True)
        xi = (_detached(field[0]), _detached(field[1]))
        jt_xi = s.vjp(field, xi)  # Jᵀξ = ∇H, H = ½‖ξ‖²
        j_xi = s.jvp(field, xi)
        at_xi = [[(a - b) / 2 for a, b in zip(ta, tb)] for ta, tb in zip(jt_xi, j_xi)]  # Aᵀξ = (Jᵀ − J)ξ / 2
        lam = self.setting("sga_lambda")
        if self.setting("align"):
            grad_h, flat_xi, flat_at = [*jt_xi[0], *jt_xi[1]], [*xi[0], *xi[1]], [*at_xi[0], *at_xi[1]]
            d = sum(t[0].numel() for t in flat_xi)
            criterion = _dot(flat_xi, grad_h) * _dot(flat_at, grad_h) / d + 0.1
            lam = torch.where(criterion >= 0, lam, -lam)
        s.G.move(s.G.direction(_axpy(lam, at_xi[0], xi[0])))
        s.D.move(s.D.direction(_axpy(lam, at_xi[1], xi[1])))


@register_scheme
class Unrolled(Scheme):
    """Unrolled GAN (Metz et al. 2017).  D takes its usual step; G steps on the gradient of
    L_G(θ, φ_k(θ)), where φ_k is D after k more steps of its own base update (from its current
    state, on this step's batch), differentiated through all k steps.  The unrolled steps change
    nothing: D's real state advances once.  Cost: the field (1), then per unrolled step a
    D-gradient (½) and the back-propagation through it (a product, 2)."""

    name = "unrolled"
    hyperparameters = (Hyperparameter("unroll_steps", 5, 0, 100, kind="int", help="k: D-steps unrolled"),)

    def step(self):
        s = self.stack
        draw = s.draws.clone() if isinstance(s.draws, torch.Tensor) else s.draws  # (a device counter advances in place)
        grad_g, grad_d = s.field("gd")
        k = self.setting("unroll_steps")
        if k > 0:
            grad_g = self._unrolled_generator_gradient(draw, k)
            s.grad_evals += k * (0.5 + s.PRODUCT_EVALS)
        s.G.move(s.G.direction(grad_g))
        s.D.move(s.D.direction(grad_d))

    def _unrolled_generator_gradient(self, draw: int, k: int) -> list[torch.Tensor]:
        s, game = self.stack, self.stack.game
        phi, state = list(game.phi), current_state(s.D.update)  # `apply` is pure: the live state stays
        with torch.enable_grad():
            for _ in range(k):
                with game.parameters_at(phi=phi):
                    _, loss_d = game.losses(draw, "gd")  # "gd": L_D's dependence on θ through G(z)
                grads = torch.autograd.grad(loss_d.sum(), phi, create_graph=True)
                directions, state = s.D.update.apply(list(grads), state)
                phi = [p - per_run(s.D.lr, p) * d for p, d in zip(phi, directions)]
            with game.parameters_at(phi=phi):
                loss_g, _ = game.losses(draw, "g")
            return list(torch.autograd.grad(loss_g.sum(), game.theta))


@register_scheme
class CompetitiveGradientDescent(Scheme):
    """Competitive gradient descent (Schäfer & Anandkumar 2019).  With x = θ (minimising L_G),
    y = φ (minimising L_D), the field's blocks g_x, g_y and its mixed Jacobian blocks
    J_xy = ∂²L_G/∂θ∂φ, J_yx = ∂²L_D/∂φ∂θ, each player moves to the Nash equilibrium of the
    local bilinear game: Δx = −η_x (g_x + J_xy Δy), Δy = −η_y (g_y + J_yx Δx).  Solved for
    Δx = −η_x d_x:

        (I − η_x η_y J_xy J_yx) d_x = g_x − η_y J_xy g_y,    d_y = g_y − η_x J_yx d_x.

    The matrix is not symmetric unless the game is zero-sum, so each run's system is solved by
    conjugate gradient on its normal equations (CGNR), `cg_iters` iterations for every run (a
    fixed count: a run's cost and trajectory do not depend on its stack), a run whose residual
    is below `cg_tol` relative to the right-hand side no longer moving.  Cost: the field (1) and
    4 + 4 × cg_iters products (2 each)."""

    name = "cgd"
    bases = ("sgd",)
    not_capturable = "its conjugate-gradient solve is not captured"
    hyperparameters = (
        Hyperparameter("cg_iters", 5, 1, 1000, kind="int", help="conjugate-gradient iterations per step"),
        Hyperparameter("cg_tol", 1e-6, 0, 1, help="relative residual at which a run's solve stops"),
    )

    def step(self):
        s = self.stack
        field = s.field("gd", create_graph=True)
        g_x, g_y = _detached(field[0]), _detached(field[1])
        zeros_x, zeros_y = [torch.zeros_like(t) for t in g_x], [torch.zeros_like(t) for t in g_y]
        eta_x, eta_y = s.G.lr, s.D.lr
        coupling = eta_x * eta_y

        def j_xy(u_y):  # θ-block of J (0, u_y)
            return s.jvp(field, (zeros_x, u_y))[0]

        def j_yx(u_x):  # φ-block of J (u_x, 0)
            return s.jvp(field, (u_x, zeros_y))[1]

        def matrix(d):  # (I − η_x η_y J_xy J_yx) d
            return _axpy(-coupling, j_xy(j_yx(d)), d)

        def transposed(r):  # (I − η_x η_y J_yxᵀ J_xyᵀ) r
            j_xy_t_r = s.vjp(field, (r, zeros_y))[1]
            return _axpy(-coupling, s.vjp(field, (zeros_x, j_xy_t_r))[0], r)

        rhs = _axpy(-eta_y, j_xy(g_y), g_x)
        d_x = _cgnr(matrix, transposed, rhs, self.setting("cg_iters"), self.setting("cg_tol"))
        d_y = _axpy(-eta_x, j_yx(d_x), g_y)
        s.G.move(s.G.direction(d_x))
        s.D.move(s.D.direction(d_y))


def _cgnr(matrix, transposed, b: list[torch.Tensor], iterations: int, tol: torch.Tensor) -> list[torch.Tensor]:
    """Per-run conjugate gradient on the normal equations MᵀM x = Mᵀb, from x = 0 (Saad 2003,
    §8.3.1).  Scalars are per run [K]; a run whose residual ‖b − Mx‖ is below tol‖b‖ stops."""
    x = [torch.zeros_like(t) for t in b]
    r = list(b)
    z = transposed(r)
    p = list(z)
    zz = _dot(z, z)
    bb = _dot(b, b)
    active = _dot(r, r) > tol**2 * bb
    for _ in range(iterations):
        w = matrix(p)
        ww = _dot(w, w)
        alpha = torch.where(active & (ww > 0), zz / ww, torch.zeros_like(zz))
        x = _axpy(alpha, p, x)
        r = _axpy(-alpha, w, r)
        z = transposed(r)
        zz_new = _dot(z, z)
        beta = torch.where(active & (zz > 0), zz_new / zz, torch.zeros_like(zz))
        p = _axpy(beta, p, z)
        zz = zz_new
        active = active & (_dot(r, r) > tol**2 * bb)
    return x


@register_scheme
class Lookahead(Scheme):
    """Lookahead-minmax (Chavdarova et al. 2021) around any scheme: every `k` steps of the
    inner scheme (the fast weights), both players' slow weights move a fraction `alpha`
    towards the fast ones, slow <- slow + alpha (fast − slow), and the fast weights restart
    there.  The inner base update's state carries on.  alpha = 1 is the inner scheme itself.
    The inner scheme's own settings nest under `inner`: `inner = {scheme = "unrolled",
    unroll_steps = 3}` in a suite, `inner.unroll_steps` as a column."""

    name = "lookahead"
    hyperparameters = (
        Hyperparameter("inner", "simultaneous", kind="scheme", help="the wrapped scheme (with its settings)"),
        Hyperparameter("k", 5, 1, 100_000, kind="int", help="fast steps per slow step"),
        Hyperparameter("alpha", 0.5, 0, 1, help="slow weights' step towards the fast ones"),
    )

    host_state = ("t", "slow")  # a step count (every k-th step is a slow step) and None before the first

    def __init__(self, stack, d_steps=1, prefix=""):
        self.inner = make_scheme(stack.setting(prefix + "inner"), stack, d_steps, prefix + "inner.")
        super().__init__(stack, d_steps, prefix)

    def init_state(self):
        return {"t": 0, "slow": None, "inner": self.inner.state}

    def step(self):
        s, state = self.stack, self.state
        if state["slow"] is None:
            state["slow"] = (s.G.snapshot(), s.D.snapshot())
        self.inner.step()
        state["t"] += 1
        if state["t"] % self.setting("k") == 0:
            alpha = self.setting("alpha")
            for player, slow in zip((s.G, s.D), state["slow"]):
                frozen = player.lr == 0  # a diverged run stays as the trainer froze it
                # lerp's weight 1 returns the end point exactly: alpha = 1 is the inner scheme
                player.restore([torch.where(per_run(frozen, p), p.detach(), torch.lerp(w, p.detach(), per_run(alpha, w)))
                                for w, p in zip(slow, player.params)])
            state["slow"] = (s.G.snapshot(), s.D.snapshot())

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.inner.load_state_dict(state["inner"])
        self.state["inner"] = self.inner.state  # one dict: the inner scheme's own
