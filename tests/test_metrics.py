"""Exact values of the mixture metrics on samples drawn from the true distribution."""

import math

import pytest
import torch

from ganopt import expected_hq_fraction_2d, get_problem, mode_metrics
from ganopt.problems.mixtures import grid_centers, ring_centers

N = 20000


def true_samples(problem_name: str, options=None, n=N, seeds=(0, 1)):
    problem = get_problem(problem_name)
    opts = problem.check_options(options or {})
    game = problem.build(opts, torch.tensor(seeds), False, "cpu")
    return game, game.sample_data(draw=7, n=n)


def test_ring_centres_are_n_distinct_points_at_angles_2pi_k_over_n():
    c = ring_centers(8, 1.0)
    assert c.shape == (8, 2)
    assert torch.allclose(c[2], torch.tensor([0.0, 1.0], dtype=c.dtype), atol=1e-12)
    pairwise = torch.cdist(c, c) + torch.eye(8, dtype=c.dtype) * 10
    assert pairwise.min() == pytest.approx(2 * math.sin(math.pi / 8))


def test_grid_means_are_the_literature_grid():
    c = grid_centers(5, 2.0)
    assert sorted(set(c[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(row) for row in c.tolist()}) == 25


@pytest.mark.parametrize("problem, options, modes", [
    ("ring8", {}, 8), ("ring8", {"preset": "r2"}, 8), ("grid25", {}, 25), ("grid25", {"preset": "s2-wide"}, 25),
])
def test_samples_from_the_true_mixture_cover_every_mode(problem, options, modes):
    game, x = true_samples(problem, options)
    m = mode_metrics(x, game.centers, game.std)
    assert (m["modes_covered"] == modes).all()
    assert (m["modes_total"] == modes).all()
    # 3-sigma disc of a 2-D Gaussian holds 1 - exp(-4.5) = 0.98889 of the mass; binomial s.e. ~ 0.0007
    assert expected_hq_fraction_2d() == pytest.approx(1 - math.exp(-4.5))
    assert torch.allclose(m["hq_fraction"], torch.full((2,), expected_hq_fraction_2d(), dtype=torch.float64), atol=0.004)
    # the mode histogram is near uniform: KL ~ (modes - 1) / (2 N) for a multinomial sample
    assert (m["kl_modes"] < 0.01).all()


def test_samples_from_one_mode_give_one_mode_and_kl_log_n():
    game, x = true_samples("ring8")
    one = game.centers[3] + game.std * torch.randn(2, 3000, 2, generator=torch.Generator().manual_seed(0))
    m = mode_metrics(one, game.centers, game.std)
    assert (m["modes_covered"] == 1).all()
    assert torch.allclose(m["kl_modes"], torch.full((2,), math.log(8), dtype=torch.float64), atol=1e-12)


def test_far_away_samples_are_not_high_quality():
    game, _ = true_samples("grid25")
    far = torch.full((1, 2500, 2), 1.0)  # between modes: 1.41 from the nearest, far beyond 3 * 0.05
    m = mode_metrics(far, game.centers, game.std)
    assert m["hq_fraction"].item() == 0 and m["modes_covered"].item() == 0
    assert m["kl_modes"].item() == pytest.approx(math.log(25))


def test_eval_samples_below_the_protocol_minimum_are_rejected():
    with pytest.raises(ValueError, match="eval_samples must be at least 2500"):
        get_problem("ring8").check_options({"eval_samples": 100})
