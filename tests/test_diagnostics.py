"""Game-dynamics diagnostics: exact spectra of the analytic games, the batched estimates against
dense eigen-decompositions, and diagnostics that neither depend on the stack nor change training."""

import dataclasses
import math

import pytest
import torch

from ganopt import Game, get_problem, get_strategy, train_stack
from ganopt import diagnostics as dg
from ganopt.schemes import make_scheme
from ganopt.stack import Stack

TINY = {"g_hidden": [8], "d_hidden": [8], "latent_dim": 3, "batch_size": 16, "activation": "tanh"}


def stack_at(game, name="gd", k=None):
    strategy = dataclasses.replace(get_strategy(name), lr_g=0.01, lr_d=0.01)
    return Stack(game, [strategy] * (k or game.theta[0].shape[0]), "cpu")


def diagnose(stack, seeds, spectrum=True):
    return dg.diagnose(stack, torch.tensor(seeds), spectrum, None)


class MatrixGame(Game):
    """L_G = xᵀAy, and L_D = −xᵀAy (zero-sum) or +xᵀAy plus ½‖·‖² terms (a potential game)."""

    def __init__(self, a, potential=False):
        k, n, m = a.shape
        self.a, self.potential = a, potential
        gen = torch.Generator().manual_seed(0)
        self.theta = [torch.randn(k, n, generator=gen, dtype=torch.float64).requires_grad_()]
        self.phi = [torch.randn(k, m, generator=gen, dtype=torch.float64).requires_grad_()]

    def losses(self, draw, need):
        x, y = self.theta[0], self.phi[0]
        f = torch.einsum("ki,kij,kj->k", x, self.a, y)
        if self.potential:  # both players minimise one function: J is its (symmetric) Hessian
            f = f + 0.5 * (x * x).sum(1) + 0.5 * (y * y).sum(1)
            return f, f
        return f, -f


def test_the_bilinear_jacobian_has_eigenvalues_plus_minus_i_sigma_and_is_purely_rotational():
    torch.manual_seed(0)
    a = torch.randn(3, 4, 4, dtype=torch.float64)
    out = diagnose(stack_at(MatrixGame(a)), [0, 1, 2])
    sigma = torch.linalg.svdvals(a)  # [K, 4], descending
    for i in range(3):
        got = sorted(abs(out[f"jac_eig{j}_im"][i].item()) for j in range(dg.N_EIGENVALUES))
        want = sorted([s for s in sigma[i].tolist() for _ in (0, 1)][:dg.N_EIGENVALUES])
        assert got == pytest.approx(want, rel=1e-10)
        assert max(abs(out[f"jac_eig{j}_re"][i].item()) for j in range(dg.N_EIGENVALUES)) < 1e-12
    assert torch.equal(out["rotation_share"], torch.ones(3, dtype=torch.float64))
    assert out["jac_eig_max_abs"] == pytest.approx(sigma[:, 0], rel=1e-10)


def test_the_built_in_bilinear_problem_is_plus_minus_i_times_its_coupling():
    problem = get_problem("bilinear")
    game = problem.build(problem.check_options({"coupling": 2.5, "dim": 3}), torch.tensor([0, 1]), True, "cpu")
    out = diagnose(stack_at(game), [0, 1])
    assert out["jac_eig_max_abs"] == pytest.approx(torch.full((2,), 2.5, dtype=torch.float64), rel=1e-12)
    assert (out["rotation_share"] == 1).all()
    assert (out["hess_g_min"] == 0).all() and (out["hess_d_max"] == 0).all()


def test_a_potential_game_has_real_eigenvalues_and_no_rotation():
    torch.manual_seed(1)
    a = torch.randn(2, 3, 3, dtype=torch.float64)
    out = diagnose(stack_at(MatrixGame(a, potential=True)), [0, 1])
    assert torch.equal(out["rotation_share"], torch.zeros(2, dtype=torch.float64))
    for j in range(dg.N_EIGENVALUES):
        assert (out[f"jac_eig{j}_im"].abs() < 1e-12).all()
    # J = [[I, A], [Aᵀ, I]]: eigenvalues 1 ± σ(A), so the most negative real part is 1 − σ_max
    assert out["jac_eig_min_real"] == pytest.approx(1 - torch.linalg.svdvals(a)[:, 0], rel=1e-10)


@pytest.mark.parametrize("loss", ["saturating", "nonsaturating"])
def test_dirac_gan_at_the_equilibrium_has_eigenvalues_plus_minus_half_i(loss):
    # Mescheder et al. 2018, Lemma 2.2: the Jacobian at (0, 0) has eigenvalues ±f''(0) i = ±i/2
    problem = get_problem("dirac")
    game = problem.build(problem.check_options({"loss": loss}), torch.tensor([0, 1]), True, "cpu")
    with torch.no_grad():
        for p in game.theta + game.phi:
            p.zero_()
    out = diagnose(stack_at(game), [0, 1])
    eigs = sorted((out[f"jac_eig{j}_re"][0].item(), out[f"jac_eig{j}_im"][0].item()) for j in range(2))
    assert eigs == [pytest.approx((0.0, -0.5), abs=1e-12), pytest.approx((0.0, 0.5), abs=1e-12)]
    assert out["rotation_share"][0].item() == pytest.approx(1.0, abs=1e-12)


def trained_tiny_stack(seeds, steps=40):
    problem = get_problem("ring8")
    game = problem.build(problem.check_options(TINY), torch.tensor(seeds), False, "cpu")
    stack = Stack(game, [get_strategy("adam").resolve(problem.lr)] * len(seeds), "cpu")
    scheme = make_scheme("simultaneous", stack)
    for _ in range(steps):
        scheme.step()
    return stack


def test_the_batched_estimates_equal_a_dense_jacobian_eigendecomposition_per_run():
    seeds = [3, 5, 9]
    stack = trained_tiny_stack(seeds)
    assert dg.parameters_per_run(stack) > dg.EXACT_LIMIT  # Arnoldi and Hutchinson, not the dense path
    out = diagnose(stack, seeds)
    with torch.enable_grad():
        dense = dg.FieldDerivatives(stack, stack.draws).dense()
    eig = torch.linalg.eigvals(dense)
    n_theta = sum(p[0].numel() for p in stack.game.theta)
    for i in range(len(seeds)):
        top = eig[i][eig[i].abs().argsort(descending=True)][:3]
        got = [complex(out[f"jac_eig{j}_re"][i].item(), out[f"jac_eig{j}_im"][i].item()) for j in range(3)]
        for g in got:  # each of the top three Ritz values is one of the top three eigenvalues (±conjugates)
            assert min(abs(g - t.item()) for t in top) < 1e-6 * abs(top[0].item())
        assert out["jac_eig_max_abs"][i].item() == pytest.approx(eig[i].abs().max().item(), rel=1e-6)
        hess_g = torch.linalg.eigvalsh((dense[i, :n_theta, :n_theta] + dense[i, :n_theta, :n_theta].T) / 2)
        hess_d = torch.linalg.eigvalsh((dense[i, n_theta:, n_theta:] + dense[i, n_theta:, n_theta:].T) / 2)
        assert out["hess_g_max"][i].item() == pytest.approx(hess_g[-1].item(), rel=1e-4)
        assert out["hess_d_max"][i].item() == pytest.approx(hess_d[-1].item(), rel=1e-4)
        sym = ((dense[i] + dense[i].T) / 2).pow(2).sum()
        anti = ((dense[i] - dense[i].T) / 2).pow(2).sum()
        # Hutchinson with 16 Rademacher probes: a stated tolerance of 0.1 on a share in [0, 1]
        assert out["rotation_share"][i].item() == pytest.approx((anti / (sym + anti)).item(), abs=0.1)


def test_a_runs_diagnostics_do_not_depend_on_its_stack():
    alone = diagnose(trained_tiny_stack([5]), [5])
    stacked = diagnose(trained_tiny_stack([3, 5, 9]), [3, 5, 9])
    for name, value in alone.items():
        if name != "diagnostics_stack_s":
            assert value[0].item() == pytest.approx(stacked[name][1].item(), rel=1e-4, abs=1e-7), name


def test_diagnostics_do_not_change_the_trajectory_and_are_recorded_where_promised():
    problem = get_problem("ring8")
    opts = problem.check_options(TINY)
    s = get_strategy("adam").resolve(problem.lr)
    plain = train_stack(problem, opts, [s, s], [1, 2], 40, 10, calibrate=False)
    watched = train_stack(problem, opts, [s, s], [1, 2], 40, 10, calibrate=False, diagnostics=True)
    for a_run, b_run in zip(plain.records, watched.records):
        for a, b in zip(a_run, b_run):
            assert {k: a[k] for k in a if k != "wall_s"} == {k: b[k] for k in a if k != "wall_s"}
            assert math.isfinite(b["rotation_share"])
            assert ("jac_eig_max_abs" in b) == (b["step"] in (0, 20, 40))
            assert ("path_cos0" in b) == (b["step"] == 40)
            assert b["grad_evals"] == a["grad_evals"]  # diagnostics are not charged to training


@pytest.mark.slow
def test_the_cli_draws_the_diagnostics_panel_and_records_them(tmp_path):
    from helpers import run_bench
    import pandas as pd

    out = tmp_path / "out"
    result = run_bench("run", "--problems", "bilinear,dirac", "--strategies", "gd,extragradient", "--seeds", "1",
                       "--steps", "60", "--diagnostics", "--out", str(out), "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 0, result.stderr
    assert (out / "diagnostics_bilinear.png").is_file() and (out / "diagnostics_dirac.png").is_file()
    summary = pd.read_csv(out / "summary.csv")
    assert (summary[summary["problem"] == "bilinear"]["rotation_share"] == 1).all()
    assert summary["jac_eig_max_abs"].notna().all() and summary["path_cos10"].notna().all()
    assert "Game-dynamics diagnostics" in (out / "summary.md").read_text()  # with their cost
    # without the flag: other run ids, no panel
    again = run_bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "60",
                      "--out", str(tmp_path / "plain"), "--store", str(tmp_path / "s.sqlite"))
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "plain" / "diagnostics_bilinear.png").exists()


@pytest.mark.slow
def test_the_spectra_are_taken_at_the_chosen_fractions_of_the_budget(tmp_path):
    from helpers import run_bench
    import pandas as pd

    assert dg.spectrum_steps(100, 10) == {0, 50, 100}
    assert dg.spectrum_steps(100, 30, (0.0, 0.25, 1.0)) == {0, 30, 100}  # the evaluation nearest 25
    out = tmp_path / "out"
    result = run_bench("run", "--problems", "bilinear", "--strategies", "gd", "--seeds", "1", "--steps", "40",
                       "--diagnostics-at", "0.25,0.75", "--out", str(out), "--store", str(tmp_path / "s.sqlite"))
    assert result.returncode == 0, result.stderr
    curves = pd.read_csv(out / "curves.csv")
    with_spectrum = sorted(curves.dropna(subset=["jac_eig_max_abs"])["step"])
    assert with_spectrum == [10, 30] and curves["rotation_share"].notna().all()
    bad = run_bench("run", "--problems", "bilinear", "--diagnostics-at", "0.5,2", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: --diagnostics-at must be a non-empty list of fractions")
