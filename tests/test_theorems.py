"""Known behaviour of the schemes on analytic games."""

import dataclasses
import math

import pytest
import torch

from ganopt import get_problem, get_strategy, train_stack

LR = 0.05
STEPS = 400


def distances(problem_name: str, strategy_name: str, steps=STEPS, lr=LR, seeds=(0, 1, 2)):
    problem = get_problem(problem_name)
    strategy = get_strategy(strategy_name)
    resolved = dataclasses.replace(strategy, lr_g=lr, lr_d=lr)
    result = train_stack(problem, problem.check_options({}), [resolved] * len(seeds), list(seeds), steps, 10)
    return torch.tensor([[r["dist_to_eq"] for r in run] for run in result.records])  # [K, evals]


def test_simultaneous_gd_spirals_out_on_the_bilinear_game_at_the_exact_rate():
    d = distances("bilinear", "gd")
    # For A = I, ||w_t|| = (1 + lr^2)^(t/2) ||w_0|| exactly.
    expected = (1 + LR**2) ** (STEPS / 2)
    assert torch.allclose(d[:, -1], torch.full((3,), expected, dtype=d.dtype), rtol=1e-9)
    assert (d[:, -1] > 1.5).all()


def test_alternating_gd_stays_bounded_on_the_bilinear_game():
    d = distances("bilinear", "alt-gd", steps=2000)
    assert (d.max(dim=1).values < 1.2).all() and (d.min(dim=1).values > 0.8).all()


@pytest.mark.parametrize("strategy", ["extragradient", "optimistic", "past-extragradient"])
def test_extrapolation_schemes_converge_on_the_bilinear_game(strategy):
    d = distances("bilinear", strategy, steps=2000)
    assert (d[:, -1] < 0.1).all()
    assert (d[:, 1:] <= d[:, :-1] + 1e-12).all()  # monotone at this step size


def test_extragradient_contracts_at_its_known_rate():
    d = distances("bilinear", "extragradient")
    # EG on x^T y with step lr: ||w_{t+1}||^2 = (1 - lr^2 + lr^4) ||w_t||^2.
    expected = (1 - LR**2 + LR**4) ** (STEPS / 2)
    assert torch.allclose(d[:, -1], torch.full((3,), expected, dtype=d.dtype), rtol=1e-9)


def test_gd_diverges_and_extragradient_converges_on_dirac_gan():
    assert (distances("dirac", "gd", steps=1000)[:, -1] > 1.0).all()
    assert (distances("dirac", "extragradient", steps=3000)[:, -1] < 0.5).all()


@pytest.mark.parametrize("loss", ["saturating", "nonsaturating"])
def test_dirac_gan_jacobian_at_equilibrium_has_eigenvalues_plus_minus_half_i(loss):
    problem = get_problem("dirac")
    game = problem.build(problem.check_options({"loss": loss}), torch.tensor([0]), True, "cpu")

    def field(w):
        theta = w[:1].view(1, 1).requires_grad_()
        psi = w[1:].view(1, 1).requires_grad_()
        game.theta, game.phi = [theta], [psi]
        loss_g, loss_d = game.losses(0, "gd")
        (g_theta,) = torch.autograd.grad(loss_g.sum(), theta, create_graph=True)
        (g_psi,) = torch.autograd.grad(loss_d.sum(), psi, create_graph=True)
        return torch.cat([g_theta.flatten(), g_psi.flatten()])

    jac = torch.autograd.functional.jacobian(field, torch.zeros(2, dtype=torch.float64))
    eig = torch.linalg.eigvals(jac)
    assert torch.allclose(eig.real, torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(eig.imag.abs(), torch.full((2,), 0.5, dtype=torch.float64), atol=1e-12)
    assert math.isclose(eig.imag.max().item(), 0.5) and math.isclose(eig.imag.min().item(), -0.5)
