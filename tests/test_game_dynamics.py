"""Second-order and wrapper schemes (consensus, SGA, unrolled, CGD, Lookahead-minmax) and the
scheme API under them: exact reductions, theorems on the analytic games, peers for every
derivative, stack independence, explicit optimizer state."""

import dataclasses
import math

import pytest
import torch

from ganopt import Game, Strategy, get_problem, get_strategy, train_stack
from ganopt.schemes import make_scheme
from ganopt.stack import Stack

TINY = {"g_hidden": [8], "d_hidden": [8], "latent_dim": 3, "batch_size": 16, "activation": "tanh"}
SMALL = {"g_hidden": [16, 16], "d_hidden": [16, 16], "batch_size": 32}


def resolved(name, problem, options=None, **changes):
    hyper = changes.pop("hyper", None)
    strategy = dataclasses.replace(get_strategy(name), **changes)
    if hyper is not None:
        strategy = dataclasses.replace(strategy, hyper={**dict(strategy.hyper), **hyper})
    return strategy.resolve(problem.default_lr(problem.check_options(options or {})))


def trajectory(problem_name, strategies, seeds, steps, options=None, eval_every=1):
    problem = get_problem(problem_name)
    result = train_stack(problem, problem.check_options(options or {}), strategies, seeds, steps, eval_every,
                         calibrate=False)
    return result


def same_records(a, b, keys, exact=True):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for key in keys:
            if exact:
                assert ra[key] == rb[key], (ra["step"], key, ra[key], rb[key])
            else:
                assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-6), (ra["step"], key)


# -- exact reductions ------------------------------------------------------------------------

MIXTURE_KEYS = ("loss_g", "loss_d", "grad_norm_g", "grad_norm_d", "mode_overlap")


@pytest.mark.parametrize("problem_name,options,keys", [
    ("bilinear", {}, ("dist_to_eq", "traj_x", "traj_y")),
    ("ring8", SMALL, MIXTURE_KEYS),
])
@pytest.mark.slow
@pytest.mark.parametrize("name,zero", [("consensus-adam", {"gamma": 0.0}), ("sga-adam", {"sga_lambda": 0.0}),
                                       ("unrolled", {"unroll_steps": 0})])
def test_the_second_order_schemes_reduce_exactly_to_simultaneous(problem_name, options, keys, name, zero):
    problem = get_problem(problem_name)
    reduced = resolved(name, problem, options, hyper=zero)
    plain = dataclasses.replace(reduced, name="plain", scheme="simultaneous", hyper={})
    a = trajectory(problem_name, [reduced] * 2, [3, 4], 12, options, eval_every=3)
    b = trajectory(problem_name, [plain] * 2, [3, 4], 12, options, eval_every=3)
    for run_a, run_b in zip(a.records, b.records):
        same_records(run_a, run_b, keys)


@pytest.mark.parametrize("inner,base", [("simultaneous", "adam"), ("extragradient", "adam"), ("alternating", "sgd")])
def test_lookahead_with_alpha_one_is_its_inner_scheme(inner, base):
    problem = get_problem("ring8")
    wrapped = resolved("lookahead-extra-adam", problem, SMALL, base=base,
                       hyper={"inner": inner, "alpha": 1.0, "k": 2})
    plain = dataclasses.replace(wrapped, name="plain", scheme=inner, hyper={})
    a = trajectory("ring8", [wrapped], [5], 10, SMALL)
    b = trajectory("ring8", [plain], [5], 10, SMALL)
    same_records(a.records[0], b.records[0], MIXTURE_KEYS)


def test_lookahead_every_step_is_gradient_descent_at_alpha_times_the_rate():
    # k = 1: w + alpha (w - eta v - w) = w - alpha eta v, to rounding
    problem = get_problem("bilinear")
    wrapped = resolved("lookahead-gd", problem, hyper={"k": 1, "alpha": 0.25})
    plain = dataclasses.replace(get_strategy("gd"), lr_g=wrapped.lr_g * 0.25, lr_d=wrapped.lr_d * 0.25)
    a = trajectory("bilinear", [wrapped], [1], 50, eval_every=10)
    b = trajectory("bilinear", [plain], [1], 50, eval_every=10)
    same_records(a.records[0], b.records[0], ("dist_to_eq", "traj_x", "traj_y"), exact=False)


def test_a_wrapped_scheme_reads_its_own_settings_not_its_wrappers():
    # lookahead(alpha 1) around lookahead(k 1, alpha 0.25) is the inner lookahead alone: both
    # declare alpha, and only if each reads its own does the outer one stay the identity
    problem = get_problem("bilinear")
    nested = resolved("lookahead-gd", problem, hyper={"alpha": 1.0, "k": 3,
                                                      "inner": {"scheme": "lookahead", "k": 1, "alpha": 0.25}})
    assert dict(nested.hyper) == {"alpha": 1.0, "k": 3, "inner": "lookahead", "inner.alpha": 0.25, "inner.k": 1,
                                  "inner.inner": "simultaneous"}
    single = resolved("lookahead-gd", problem, hyper={"k": 1, "alpha": 0.25})
    a = trajectory("bilinear", [nested], [1], 30, eval_every=10)
    b = trajectory("bilinear", [single], [1], 30, eval_every=10)
    same_records(a.records[0], b.records[0], ("dist_to_eq", "traj_x", "traj_y"))


def test_a_wrapped_schemes_settings_nest_under_inner_and_split_stacks():
    problem = get_problem("bilinear")
    u1 = resolved("lookahead-gd", problem, hyper={"inner": {"scheme": "unrolled", "unroll_steps": 1}})
    u3 = resolved("lookahead-gd", problem, hyper={"inner": "unrolled", "inner.unroll_steps": 3})
    assert dict(u1.hyper)["inner.unroll_steps"] == 1 and dict(u3.hyper)["inner.unroll_steps"] == 3
    assert u1.stack_key != u3.stack_key  # an integer setting of the inner scheme shapes its state
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'inner.gamma'"):
        Strategy("x", "lookahead", "sgd", hyper={"inner": {"scheme": "unrolled", "gamma": 1.0}})
    with pytest.raises(ValueError, match=r"unroll_steps must lie in \[0, 100\]"):
        Strategy("x", "lookahead", "sgd", hyper={"inner": {"scheme": "unrolled", "unroll_steps": 101}})


# -- theorems on the analytic games -----------------------------------------------------------

def final_distance(problem_name, name, steps, options=None, **changes):
    problem = get_problem(problem_name)
    s = resolved(name, problem, options, **changes)
    result = trajectory(problem_name, [s] * 3, [0, 1, 2], steps, options, eval_every=steps)
    return torch.tensor([run[-1]["dist_to_eq"] for run in result.records])


@pytest.mark.parametrize("name", ["consensus", "sga", "cgd", "lookahead-gd"])
def test_second_order_and_lookahead_schemes_converge_on_the_bilinear_game_where_gd_spirals_out(name):
    assert (final_distance("bilinear", "gd", 600, lr_g=0.1, lr_d=0.1) > 10).all()  # spirals out from 1
    assert (final_distance("bilinear", name, 600, lr_g=0.1, lr_d=0.1) < 0.15).all()


def test_consensus_contracts_the_bilinear_game_at_its_eigenvalue_rate():
    # v = (a y, -a x), J^T v = a^2 (x, y): w <- (1 - eta gamma a^2) w + rotation; |lambda|^2 =
    # (1 - eta gamma a^2)^2 + eta^2 a^2 per step
    eta, gamma, steps = 0.1, 1.0, 200
    rate = math.sqrt((1 - eta * gamma) ** 2 + eta**2)
    d = final_distance("bilinear", "consensus", steps, lr_g=eta, lr_d=eta, hyper={"gamma": gamma})
    assert d == pytest.approx(torch.full((3,), rate**steps, dtype=torch.float64), rel=1e-9)


@pytest.mark.parametrize("loss", ["saturating", "nonsaturating"])
def test_consensus_converges_on_dirac_gan(loss):
    # Mescheder et al. 2018, Section 2.2: simultaneous GD does not converge on the Dirac-GAN;
    # the consensus term makes the equilibrium attracting
    options = {"loss": loss}
    assert (final_distance("dirac", "gd", 1000, options, lr_g=0.1, lr_d=0.1) > 0.3).all()  # circles, never arrives
    assert (final_distance("dirac", "consensus", 1000, options, lr_g=0.1, lr_d=0.1) < 0.05).all()


class MatrixGame(Game):
    """f(x, y) = xᵀ A y with A drawn per run: min over x, max over y (L_G = f, L_D = -f)."""

    def __init__(self, a, x, y):
        self.a = a
        self.theta, self.phi = [x.clone().requires_grad_()], [y.clone().requires_grad_()]

    def losses(self, draw, need):
        f = torch.einsum("ki,kij,kj->k", self.theta[0], self.a, self.phi[0])
        return (f if "g" in need else None), (-f if "d" in need else None)


def test_cgd_step_equals_its_closed_form_on_a_bilinear_game():
    # Schäfer & Anandkumar 2019, eq. (4) for f = xᵀAy:  Δx = −η (I + η² A Aᵀ)⁻¹ (A y + η A Aᵀ x),
    # Δy = η (I + η² Aᵀ A)⁻¹ (Aᵀ x − η Aᵀ A y)
    torch.manual_seed(0)
    k, n, m, eta = 3, 4, 3, 0.3
    a = torch.randn(k, n, m, dtype=torch.float64)
    x, y = torch.randn(k, n, dtype=torch.float64), torch.randn(k, m, dtype=torch.float64)
    strategy = dataclasses.replace(get_strategy("cgd"), lr_g=eta, lr_d=eta, hyper={"cg_iters": 20, "cg_tol": 0.0})
    stack = Stack(MatrixGame(a, x, y), [strategy] * k, "cpu")
    make_scheme("cgd", stack).step()
    eye_n, eye_m = torch.eye(n, dtype=torch.float64), torch.eye(m, dtype=torch.float64)
    aat, ata = a @ a.transpose(1, 2), a.transpose(1, 2) @ a
    dx = -eta * torch.linalg.solve(eye_n + eta**2 * aat, (a @ y[..., None] + eta * aat @ x[..., None]))[..., 0]
    dy = eta * torch.linalg.solve(eye_m + eta**2 * ata, (a.transpose(1, 2) @ x[..., None] - eta * ata @ y[..., None]))[..., 0]
    torch.testing.assert_close(stack.G.params[0].detach(), x + dx, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(stack.D.params[0].detach(), y + dy, rtol=1e-10, atol=1e-12)
    assert stack.grad_evals == 1 + 2 * (4 + 4 * 20)


# -- derivatives of the joint field against torch.autograd.functional, per run ----------------

def tiny_stack(seeds, name="adam"):
    problem = get_problem("ring8")
    opts = problem.check_options(TINY)
    s = resolved(name, problem, TINY)
    game = problem.build(opts, torch.tensor(seeds), False, "cpu")
    return game, Stack(game, [s] * len(seeds), "cpu")


def dense_jacobian_of_one_run(seed):
    """The Jacobian of the joint field of one run (a K = 1 game), by torch.autograd.functional."""
    game, _ = tiny_stack([seed])
    shapes = [p.shape for p in game.theta + game.phi]
    sizes = [math.prod(s) for s in shapes]
    n_theta = len(game.theta)

    def field(w):
        parts = list(torch.split(w, sizes))
        params = [p.reshape(s) for p, s in zip(parts, shapes)]
        saved_theta, saved_phi = list(game.theta), list(game.phi)
        game.theta[:], game.phi[:] = params[:n_theta], params[n_theta:]
        try:
            loss_g, loss_d = game.losses(0, "gd")
            g = torch.autograd.grad(loss_g.sum(), game.theta, create_graph=True)
            d = torch.autograd.grad(loss_d.sum(), game.phi, create_graph=True)
        finally:
            game.theta[:], game.phi[:] = saved_theta, saved_phi
        return torch.cat([t.flatten() for t in (*g, *d)])

    w0 = torch.cat([p.detach().flatten() for p in game.theta + game.phi])
    return torch.autograd.functional.jacobian(field, w0), n_theta, shapes


def test_jacobian_vector_products_equal_the_dense_jacobian_of_each_run():
    seeds = [3, 8, 5]
    game, stack = tiny_stack(seeds)
    field = stack.field("gd", create_graph=True)
    torch.manual_seed(1)
    u = ([torch.randn_like(p) for p in game.theta], [torch.randn_like(p) for p in game.phi])
    jv, jtv = stack.jvp(field, u), stack.vjp(field, u)
    for i, seed in enumerate(seeds):
        dense, n_theta, _ = dense_jacobian_of_one_run(seed)
        u_i = torch.cat([t[i].flatten() for t in (*u[0], *u[1])])
        got_jv = torch.cat([t[i].flatten() for t in (*jv[0], *jv[1])])
        got_jtv = torch.cat([t[i].flatten() for t in (*jtv[0], *jtv[1])])
        torch.testing.assert_close(got_jv, dense @ u_i, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(got_jtv, dense.T @ u_i, rtol=1e-4, atol=1e-6)
    assert stack.grad_evals == 1 + 2 * Stack.PRODUCT_EVALS


def test_the_generators_hessian_vector_product_equals_autograd_functional_hvp_per_run():
    seeds = [2, 6]
    game, stack = tiny_stack(seeds)
    field = stack.field("gd", create_graph=True)
    torch.manual_seed(2)
    u = [torch.randn_like(p) for p in game.theta]
    h_u = stack.jvp(field, (u, [torch.zeros_like(p) for p in game.phi]))[0]  # θθ block: ∇²θ L_G u
    for i, seed in enumerate(seeds):
        alone, _ = tiny_stack([seed])
        phi = list(alone.phi)

        def loss_g(*theta):
            saved = list(alone.theta)
            alone.theta[:] = list(theta)
            try:
                return alone.losses(0, "g")[0].sum()
            finally:
                alone.theta[:] = saved

        _, expected = torch.autograd.functional.hvp(loss_g, tuple(p.detach() for p in alone.theta),
                                                    tuple(t[i:i + 1] for t in u))
        assert phi == alone.phi
        for got, want in zip(h_u, expected):
            torch.testing.assert_close(got[i:i + 1], want, rtol=1e-4, atol=1e-6)


# -- unrolled GAN against a hand-written torch.func loop ------------------------------------

def test_unrolled_generator_gradient_equals_a_hand_written_torch_func_unroll():
    k_unroll = 3
    game, stack = tiny_stack([4], name="unrolled")
    scheme = make_scheme("unrolled", stack)
    for _ in range(2):  # Adam's state and counter are not at their start
        scheme.step()
    draw = stack.draws
    got = scheme._unrolled_generator_gradient(draw, k_unroll)

    b1, b2, eps = 0.5, 0.999, 1e-8
    lr_d = float(stack.D.lr[0])
    state = stack.D.update.state_dict()

    def losses(theta, phi):
        saved = list(game.theta), list(game.phi)
        game.theta[:], game.phi[:] = list(theta), list(phi)
        try:
            return game.losses(draw, "gd")
        finally:
            game.theta[:], game.phi[:] = saved

    def unrolled_loss_g(theta):
        phi = [p.detach() for p in game.phi]
        m, v, t = list(state["exp_avg"]), list(state["exp_avg_sq"]), state["t"]
        for _ in range(k_unroll):
            grads = torch.func.grad(lambda ph: losses(theta, ph)[1].sum())(phi)
            t += 1
            m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
            v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
            phi = [p - lr_d * (mi / (1 - b1**t)) / (vi.sqrt() / math.sqrt(1 - b2**t) + eps)
                   for p, mi, vi in zip(phi, m, v)]
        return losses(theta, phi)[0].sum()

    expected = torch.func.grad(unrolled_loss_g)([p.detach() for p in game.theta])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-7)
    # the unroll changed neither D's parameters nor its optimizer state
    assert stack.D.update.t == state["t"]
    # and it differs from the plain gradient: the unroll matters
    plain = stack.field("g")[0]
    assert not all(torch.allclose(g, p, rtol=1e-3) for g, p in zip(got, plain))


# -- every new scheme in a stack ------------------------------------------------------------

NEW = ["consensus-adam", "sga-adam", "unrolled", "cgd", "lookahead-extra-adam", "lookahead-alt-adam"]


@pytest.mark.parametrize("name", NEW)
def test_a_run_of_every_new_scheme_alone_and_in_a_stack_agree(name):
    problem = get_problem("ring8")
    target = resolved(name, problem, SMALL)
    others = [dataclasses.replace(target, lr_g=target.lr_g * f, lr_d=target.lr_d * f) for f in (0.5, 2.0)]
    alone = trajectory("ring8", [target], [7], 8, SMALL, eval_every=2)
    stacked = trajectory("ring8", [others[0], target, others[1]], [3, 7, 7], 8, SMALL, eval_every=2)
    same_records(alone.records[0], stacked.records[1], MIXTURE_KEYS, exact=False)


@pytest.mark.parametrize("name", NEW + ["consensus", "sga", "lookahead-gd"])
def test_a_diverging_run_of_every_new_scheme_is_frozen_and_the_others_go_on(name):
    problem = get_problem("ring8")
    good = resolved(name, problem, SMALL)
    bad = dataclasses.replace(good, lr_g=1e30, lr_d=1e30)
    with_bad = trajectory("ring8", [good, bad], [0, 1], 10, SMALL, eval_every=5)
    without = trajectory("ring8", [good], [0], 10, SMALL, eval_every=5)
    assert with_bad.status == ["done", "diverged"]
    same_records(with_bad.records[0], without.records[0], MIXTURE_KEYS, exact=False)


# -- explicit state and fresh directions ------------------------------------------------------

def test_a_players_whole_state_restores_exactly_in_a_mixed_stack():
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    strategies = [resolved(n, problem, SMALL) for n in ("adam", "momentum", "sgd")]
    game = problem.build(opts, torch.tensor([1, 2, 3]), False, "cpu")
    stack = Stack(game, strategies, "cpu")
    scheme = make_scheme("simultaneous", stack)
    for _ in range(3):
        scheme.step()
    saved = stack.D.save_state(), stack.G.save_state(), stack.draws
    scheme.step()
    first = [p.detach().clone() for p in game.theta + game.phi]
    stack.D.load_state(saved[0])
    stack.G.load_state(saved[1])
    stack.draws = saved[2]
    scheme.step()
    for a, b in zip(first, game.theta + game.phi):
        assert torch.equal(a, b)
    adam_group = stack.D.update.groups[0][1]
    assert adam_group.name == "adam" and adam_group.t == 4  # 3 steps, restored to 3, one more


def test_a_direction_is_a_fresh_value_never_a_live_buffer():
    problem = get_problem("bilinear")
    game = problem.build(problem.check_options({}), torch.tensor([0]), True, "cpu")
    stack = Stack(game, [resolved("momentum", problem)], "cpu")
    grads = [torch.ones_like(p) for p in game.theta]
    first = stack.G.direction(grads)
    kept = [d.clone() for d in first]
    stack.G.direction(grads)
    assert all(torch.equal(a, b) for a, b in zip(first, kept))


@pytest.mark.parametrize("base", ["sgd", "momentum", "adam"])
def test_the_functional_core_of_each_base_update_equals_its_in_place_step(base):
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    game = problem.build(opts, torch.tensor([1, 2]), False, "cpu")
    stack = Stack(game, [resolved(base if base != "sgd" else "sgd", problem, SMALL)] * 2, "cpu")
    update = stack.D.update
    torch.manual_seed(0)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in game.phi]
        state = update.state_dict()
        pure, new = update.apply(grads, state)
        live = update.direction(grads)
        for a, b in zip(pure, live):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
        assert new["t"] == update.t


# -- hyperparameters: declared, checked, per run or per stack ------------------------------------

def test_undeclared_or_out_of_range_hyperparameters_are_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'gama'.*valid: gamma"):
        Strategy("x", "consensus", "sgd", hyper={"gama": 1.0})
    with pytest.raises(ValueError, match=r"unroll_steps must be an integer"):
        Strategy("x", "unrolled", "adam", hyper={"unroll_steps": 2.5})
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        Strategy("x", "lookahead", "adam", hyper={"alpha": 2})
    with pytest.raises(ValueError, match=r"inner must name a scheme; valid: .*extragradient"):
        Strategy("x", "lookahead", "adam", hyper={"inner": "extragradiant"})
    Strategy("x", "lookahead", "adam", hyper={"inner": "lookahead"})  # nested settings: a chain, not a loop
    with pytest.raises(ValueError, match=r"'cgd' works with the base updates sgd only"):
        Strategy("x", "cgd", "adam")


def test_a_wrapper_whose_default_inner_scheme_is_itself_is_refused_not_followed_forever():
    from ganopt import Hyperparameter, Scheme, register_scheme
    from ganopt.schemes import SCHEMES

    @register_scheme
    class SelfWrapping(Scheme):
        name = "selfwrap-test"
        hyperparameters = (Hyperparameter("inner", "selfwrap-test", kind="scheme"),)

    try:
        with pytest.raises(ValueError, match=r"wrap each other more than 8 deep: selfwrap-test -> selfwrap-test"):
            Strategy("x", "selfwrap-test", "sgd")
        s = Strategy("y", "selfwrap-test", "sgd", hyper={"inner": {"scheme": "selfwrap-test", "inner": "simultaneous"}})
        assert dict(s.hyper) == {"inner": "selfwrap-test", "inner.inner": "simultaneous"}
    finally:
        SCHEMES.pop("selfwrap-test", None)


def test_real_hyperparameters_vary_within_a_stack_and_integer_ones_split_stacks():
    a = Strategy("a", "consensus", "adam", hyper={"gamma": 1})
    b = Strategy("b", "consensus", "adam", hyper={"gamma": 10})
    assert a.stack_key == b.stack_key and dict(a.hyper) == {"gamma": 1.0}
    u3 = Strategy("u3", "unrolled", "adam", hyper={"unroll_steps": 3})
    u5 = Strategy("u5", "unrolled", "adam")
    assert u3.stack_key != u5.stack_key
    # two gammas in one stack: each run follows its own
    problem = get_problem("bilinear")
    strategies = [dataclasses.replace(s, lr_g=0.1, lr_d=0.1) for s in (a, b)]
    together = trajectory("bilinear", strategies, [0, 0], 20, eval_every=20)
    alone = trajectory("bilinear", strategies[1:], [0], 20, eval_every=20)
    assert together.records[1][-1]["dist_to_eq"] == alone.records[0][-1]["dist_to_eq"]
    assert together.records[0][-1]["dist_to_eq"] != together.records[1][-1]["dist_to_eq"]
    assert problem.name == "bilinear"


def test_lookahead_leaves_a_frozen_run_as_the_trainer_froze_it():
    problem = get_problem("ring8")
    good = resolved("lookahead-extra-adam", problem, SMALL, hyper={"k": 2})
    bad = dataclasses.replace(good, lr_g=1e30, lr_d=1e30)
    game = problem.build(problem.check_options(SMALL), torch.tensor([0, 1]), False, "cpu")
    stack = Stack(game, [good, bad], "cpu")
    scheme = make_scheme("lookahead", stack)
    from ganopt.train import _train_step
    for _ in range(6):
        _train_step(stack, scheme, torch.device("cpu"))
    assert stack.G.lr[1] == 0 and all((p[1] == 0).all() for p in game.theta + game.phi)
    assert all(torch.isfinite(p[0]).all() and (p[0] != 0).any() for p in game.theta)


def test_products_of_a_field_without_its_graph_are_refused_not_zero():
    problem = get_problem("bilinear")
    game = problem.build(problem.check_options({}), torch.tensor([0]), True, "cpu")
    stack = Stack(game, [resolved("consensus", problem)], "cpu")
    field = stack.field("gd")  # no create_graph
    with pytest.raises(ValueError, match="create_graph=True"):
        stack.vjp(field, field)


def test_a_name_declared_by_both_the_scheme_and_the_base_update_keeps_two_values():
    from ganopt import BaseUpdate, Hyperparameter, register_base_update
    from ganopt.updates import BASE_UPDATES

    class Clashing(BaseUpdate):
        name = "clashing-test"
        hyperparameters = (Hyperparameter("gamma", 0.5, 0, 1),)

        def apply(self, grads, state):
            return [g * self.hyper["gamma"] for g in grads], {"t": state["t"] + 1}

    register_base_update(Clashing)
    try:  # the scheme's by its name, the base update's under the update's name (a TOML dotted key)
        s = Strategy("x", "consensus", "clashing-test", lr_g=0.1, lr_d=0.1,
                     hyper={"gamma": 3.0, "clashing-test": {"gamma": 0.2}})
        assert dict(s.hyper) == {"gamma": 3.0, "clashing-test.gamma": 0.2}
        problem = get_problem("bilinear")
        stack = Stack(problem.build(problem.check_options({}), torch.tensor([0]), True, "cpu"), [s], "cpu")
        assert stack.setting("gamma").tolist() == [3.0]
        assert stack.G.update.hyper["gamma"].tolist() == [pytest.approx(0.2)]
        with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\], got 3.0"):
            Strategy("z", "consensus", "clashing-test", hyper={"clashing-test.gamma": 3.0})
        Strategy("y", "simultaneous", "clashing-test", hyper={"gamma": 0.2})  # alone: by its name

        class Reserved(Clashing):
            name = "reserved-test"
            hyperparameters = (Hyperparameter("lr_g", 0.5, 0, 1),)

        with pytest.raises(ValueError, match="'lr_g' is a strategy field"):
            register_base_update(Reserved)
    finally:
        BASE_UPDATES.pop("clashing-test", None)
