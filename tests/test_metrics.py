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


def _by_hand_metrics():
    from ganopt.metrics import rayleigh_cdf

    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    run0 = [[0.5, 0.0],     # mode 0, inside 1.5 sigma
            [0.0, 2.0],     # mode 0, in the ring from 1.5 to 3 sigma
            [10.0, 1.0],    # mode 1, inside 1.5 sigma
            [5.0, 50.0]]    # far from both: outside
    run1 = [[11.5, 0.0],    # exactly 1.5 sigma from mode 1: the ring, not the disk
            [13.0, 0.0],    # exactly 3 sigma: not high quality
            [10.0, -2.5],   # mode 1, ring
            [9.0, 0.0]]     # mode 1, disk
    return mode_metrics(torch.tensor([run0, run1]), centers, 2.0 / 2.0), rayleigh_cdf(1.5), rayleigh_cdf(3.0)


def test_mode_metrics_of_four_samples_by_hand():
    m, p_in, p_hq = _by_hand_metrics()
    assert set(m) == {"mode_overlap", "modes_covered", "modes_total", "hq_fraction", "kl_modes"}
    assert all(v.dtype == torch.float64 and v.shape == (2,) for v in m.values())
    # run 0: disks hold 1/4 and 1/4 (truth p_in / 2 each), rings 1/4 and 0 (truth (p_hq - p_in) / 2), outside 1/4
    # (truth 1 - p_hq): overlap = 1/4 + 1/4 + (p_hq - p_in) / 2 + 0 + (1 - p_hq)
    # run 1: mode 1's disk 1/4, its ring 2/4; outside 1/4
    assert m["mode_overlap"].tolist() == pytest.approx([0.5 + (p_hq - p_in) / 2 + 1 - p_hq,
                                                        0.25 + (p_hq - p_in) / 2 + 1 - p_hq], abs=1e-7)
    assert m["modes_covered"].tolist() == [2.0, 1.0] and m["modes_total"].tolist() == [2.0, 2.0]
    assert m["hq_fraction"].tolist() == [0.75, 0.75]
    # KL(p || uniform) of p = (2/3, 1/3) over 2 modes, and of p = (0, 1): log 2
    assert m["kl_modes"].tolist() == pytest.approx([2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3), math.log(2)],
                                                   rel=1e-12)


def test_mode_metrics_scale_with_the_std_and_read_the_literature_protocol_on_the_first_2500_samples():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    # 2,500 samples: 1,000 at mode 0, 1,500 far away; then 500 more at mode 1, beyond the protocol's sample
    x = torch.cat([torch.zeros(1000, 2), torch.full((1500, 2), 50.0), torch.tensor([[10.0, 0.0]]).repeat(500, 1)])
    m = mode_metrics(x.unsqueeze(0), centers, 1.0)
    assert m["modes_covered"].item() == 1.0 and m["hq_fraction"].item() == 0.4 and m["kl_modes"].item() == math.log(2)
    # mode_overlap reads all 3,000: disks 1000/3000 and 500/3000, outside 1500/3000 against 1 - p_hq
    from ganopt.metrics import rayleigh_cdf
    assert m["mode_overlap"].item() == pytest.approx(1 / 3 + 1 / 6 + 1 - rayleigh_cdf(3.0), abs=1e-7)
    wide = mode_metrics(torch.tensor([[[0.0, 2.5], [0.0, 5.0]]]), centers, 2.0)   # 1.25 and 2.5 sigma of std 2
    assert wide["hq_fraction"].item() == 1.0 and wide["modes_covered"].item() == 1.0
    # half in mode 0's disk, half in its ring, against p_in / 2 and (p_hq - p_in) / 2: p_hq / 2 in all
    assert wide["mode_overlap"].item() == pytest.approx(rayleigh_cdf(3.0) / 2, abs=1e-7)  # truth bins: float32


def test_the_rayleigh_law_and_the_stacked_norm_by_hand():
    from ganopt.metrics import rayleigh_cdf, stacked_norm

    assert rayleigh_cdf(0.0) == 0.0 and rayleigh_cdf(2.0) == 1.0 - math.exp(-2.0)
    assert expected_hq_fraction_2d() == 1.0 - math.exp(-4.5)
    norm = stacked_norm([torch.tensor([[3.0, 0.0], [1.0, 2.0]]), torch.tensor([[[4.0]], [[2.0]]], requires_grad=True)])
    assert norm.dtype == torch.float64 and norm.tolist() == [5.0, 3.0] and not norm.requires_grad


def test_a_metric_ranks_by_its_direction_and_its_worst_value_is_the_far_end():
    from ganopt.metrics import Metric

    up, down, info = Metric("a", "a", higher_is_better=True), Metric("b", "b", higher_is_better=False), Metric("c", "c")
    assert up.ranked and down.ranked and not info.ranked
    assert up.better(2.0, 1.0) and not up.better(1.0, 1.0) and not up.better(1.0, 2.0)
    assert down.better(1.0, 2.0) and not down.better(1.0, 1.0) and not down.better(2.0, 1.0)
    assert up.worst == -math.inf and down.worst == math.inf


def test_a_metric_with_an_unknown_plot_names_it_and_the_valid_kinds():
    from ganopt.metrics import Metric

    with pytest.raises(ValueError) as raised:
        Metric("a", "a", plot="scatter")
    text = str(raised.value)
    assert text.startswith("metric 'a': plot must be one of '', 'curve', 'loss', 'trajectory', 'eigenvalue-re', "
                           "'eigenvalue-im', 'rotation', 'path-angle'") and text.endswith(", got 'scatter'")
    assert [Metric("a", "a", plot=p).plot for p in (True, False, "loss", "")] == ["curve", "", "loss", ""]


def test_declarations_round_trip_through_json_and_older_ones_take_their_plot_by_name():
    from ganopt.metrics import Metric, Target, declarations_from_json, declarations_to_json

    metrics = (Metric("gap", "gap", higher_is_better=False, diverged=math.inf, primary=True, plot="curve"),
               Metric("loss_g", "G loss", plot="loss"), Metric("loss_d", "D loss", plot="loss"))
    data = declarations_to_json(metrics, Target("gap <= 0.1", "gap ≤ 0.1"))
    assert data["target"] == {"query": "gap <= 0.1", "text": "gap ≤ 0.1"}
    assert data["metrics"][0] == {"name": "gap", "label": "gap", "higher_is_better": False, "unit": "", "diverged": math.inf,
                                  "primary": True, "digits": 3, "literature": False, "log": False, "tolerance": 0.0,
                                  "show": True, "plot": "curve", "of": "", "per_stack": False}
    assert declarations_from_json(data) == (metrics, Target("gap <= 0.1", "gap ≤ 0.1"))   # today's form: order kept
    newer = {**data, "metrics": [{**m, "colour": "red", "plot": "violin" if m["name"] == "gap" else m["plot"]}
                                 for m in data["metrics"]]}
    assert [m.plot for m in declarations_from_json(newer)[0]] == ["", "loss", "loss"]   # unknown kind, unknown field

    def old(name, plot=False, **extra):
        return {"name": name, "label": name, "plot": plot, **extra}

    older = {"target": {"query": "", "text": ""}, "metrics": [
        old("loss_g"), old("loss_d"), old("traj_x"), old("traj_y"), old("jac_eig0_re", True), old("jac_eig12_im"),
        old("jac_eigx_re"), old("jac_eig1_ab"), old("rotation_share"), old("path_cos3"), old("path_cosine"),
        old("energy", True), old("modes_covered"), old("modes_total"), old("modes_kept", of="kept_total"),
        old("diagnostics_stack_s"), old("shared_s", per_stack=True), {"name": "plain", "label": "plain"}]}
    read = declarations_from_json(older)[0]
    assert [(m.name, m.plot, m.of, m.per_stack) for m in read] == [
        ("loss_d", "loss", "", False), ("loss_g", "loss", "", False),   # D's loss first, as the harness drew it
        ("traj_x", "trajectory", "", False), ("traj_y", "trajectory", "", False),
        ("jac_eig0_re", "eigenvalue-re", "", False), ("jac_eig12_im", "eigenvalue-im", "", False),
        ("jac_eigx_re", "", "", False), ("jac_eig1_ab", "", "", False), ("rotation_share", "rotation", "", False),
        ("path_cos3", "path-angle", "", False), ("path_cosine", "", "", False), ("energy", "curve", "", False),
        ("modes_covered", "", "modes_total", False), ("modes_total", "", "", False),
        ("modes_kept", "", "kept_total", False), ("diagnostics_stack_s", "", "", True), ("shared_s", "", "", True),
        ("plain", "", "", False)]
