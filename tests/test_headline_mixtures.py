"""Why `mode_overlap` is the mixtures' headline and `modes_covered` is not.

Property tests on synthetic sample sets (N = 10,000, the evaluation size; the literature's
metrics read the first 2,500 as in the papers; one seeded generator per set, so every number is
deterministic) for ring8 and grid25:

1. samples of the true mixture score best of all cases, and at least 0.95;
2. a sharp collapse onto part of the modes beats every diffuse generator (uniform scatter over
   the data's bounding box, one broad Gaussian, a smear of the ring / grid 10 sigma wide);
3. at equal quality, more modes score better;
4. at equal modes, sharper samples score better.

The literature's `modes_covered` gets (2) wrong: scattered points touch many 3-sigma disks by
chance, so a diffuse generator "covers" more modes than a sharp collapse.  `pytest -s` prints
each case's scores.
"""

from __future__ import annotations

import functools

import pytest
import torch

from ganopt import get_problem, mode_metrics
from ganopt.problems.mixtures import EVAL_SAMPLES

N = EVAL_SAMPLES
PROBLEMS = ("ring8", "grid25")
# modes of a collapse: (fewer, main, more) of the problem's modes
COLLAPSE = {"ring8": (4, 6, 7), "grid25": (10, 15, 20)}
SMEAR_STDS = 10.0


def geometry(name: str) -> tuple[torch.Tensor, float]:
    """Centres [M, 2] and per-mode std of a problem at its default options."""
    problem = get_problem(name)
    opts = problem.check_options({})
    return problem.centers(opts), float(problem.geometry(opts)["std"])


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- the synthetic sample sets, each [N, 2] ---------------------------------------------------

def true_mixture(centers: torch.Tensor, std: float, seed: int, scale: float = 1.0) -> torch.Tensor:
    """The data distribution (scale 1): a uniformly drawn mode plus N(0, (scale * std)^2 I).
    With scale > 1 every mode is kept at its share but the samples are blurred."""
    g = generator(seed)
    mode = torch.randint(len(centers), (N,), generator=g)
    return centers[mode] + scale * std * torch.randn(N, 2, generator=g, dtype=centers.dtype)


def collapse(centers: torch.Tensor, std: float, k: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """Mode collapse onto the first k modes: samples N(mode, (scale * std)^2 I) spread evenly
    (round robin) over those k, so the number of modes is the only thing that changes with k."""
    mode = torch.arange(N) % k
    noise = torch.randn(N, 2, generator=generator(seed), dtype=centers.dtype)
    return centers[mode] + scale * std * noise


def uniform_scatter(centers: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """Uniform over the data's bounding box (centres +- 3 sigma): the generator that sprays."""
    low = centers.min(0).values - 3 * std
    high = centers.max(0).values + 3 * std
    return low + (high - low) * torch.rand(N, 2, generator=generator(seed), dtype=centers.dtype)


def broad_gaussian(centers: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """One Gaussian at 0 with std = the RMS radius of the centres: the moment-matching blob."""
    rms = centers.pow(2).sum(1).mean().sqrt()
    return rms * torch.randn(N, 2, generator=generator(seed), dtype=centers.dtype)


def smear(name: str, centers: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """The data's shape blurred to 10 sigma: on ring8 a uniform angle on the ring's circle, on
    grid25 a uniformly drawn mode, plus isotropic N(0, (10 sigma)^2 I) noise.  It has the right
    support at the wrong sharpness."""
    g = generator(seed)
    if name == "ring8":
        radius = centers.norm(dim=1).mean()
        angle = 2 * torch.pi * torch.rand(N, generator=g, dtype=centers.dtype)
        base = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    else:
        base = centers[torch.randint(len(centers), (N,), generator=g)]
    return base + SMEAR_STDS * std * torch.randn(N, 2, generator=g, dtype=centers.dtype)


def cases(name: str) -> dict[str, torch.Tensor]:
    """Every sample set of one problem, by case label (distinct seed per set)."""
    centers, std = geometry(name)
    m = len(centers)
    few, main, more = COLLAPSE[name]
    return {
        "true mixture": true_mixture(centers, std, seed=1),
        f"collapse {more}/{m}": collapse(centers, std, more, seed=2),
        f"collapse {main}/{m}": collapse(centers, std, main, seed=3),
        f"collapse {few}/{m}": collapse(centers, std, few, seed=4),
        f"collapse {main}/{m} at 2σ": collapse(centers, std, main, seed=5, scale=2.0),
        f"all {m} modes at 2σ": true_mixture(centers, std, seed=6, scale=2.0),
        f"all {m} modes at 4σ": true_mixture(centers, std, seed=7, scale=4.0),
        "uniform scatter (box)": uniform_scatter(centers, std, seed=8),
        "broad gaussian": broad_gaussian(centers, std, seed=9),
        f"{'ring' if name == 'ring8' else 'grid'} smear 10σ": smear(name, centers, std, seed=10),
    }


@functools.lru_cache(maxsize=None)
def scores(name: str) -> dict[str, dict[str, float]]:
    """mode_metrics of every case of a problem (all sets in one [K, N, 2] call); prints a table."""
    centers, std = geometry(name)
    sets = cases(name)
    metrics = mode_metrics(torch.stack(list(sets.values())), centers, std)
    table = {label: {key: float(metrics[key][i]) for key in ("mode_overlap", "modes_covered", "hq_fraction")}
             for i, label in enumerate(sets)}
    print(f"\n{name} (N = {N}, sigma = {std:g}, modes = {len(centers)})")
    print("| case | mode_overlap | modes_covered (lit.) | hq_fraction (lit.) |")
    print("|---|---|---|---|")
    for label, row in table.items():
        print(f"| {label} | {row['mode_overlap']:.3f} | {row['modes_covered']:.0f} | {row['hq_fraction']:.3f} |")
    return table


def overlap(name: str, label: str) -> float:
    return scores(name)[label]["mode_overlap"]


def labels(name: str) -> dict[str, str]:
    """Short keys for the case labels of a problem."""
    m = len(geometry(name)[0])
    few, main, more = COLLAPSE[name]
    return {"true": "true mixture", "more": f"collapse {more}/{m}", "main": f"collapse {main}/{m}",
            "few": f"collapse {few}/{m}", "main_2s": f"collapse {main}/{m} at 2σ",
            "all_2s": f"all {m} modes at 2σ", "all_4s": f"all {m} modes at 4σ",
            "scatter": "uniform scatter (box)", "broad": "broad gaussian",
            "smear": f"{'ring' if name == 'ring8' else 'grid'} smear 10σ"}


@pytest.fixture(params=PROBLEMS)
def name(request) -> str:
    return request.param


def test_the_true_mixture_scores_best_of_all_cases(name):
    table, case = scores(name), labels(name)
    true = overlap(name, case["true"])
    assert true >= 0.95
    for label in table:
        if label != case["true"]:
            assert true > table[label]["mode_overlap"], label


@pytest.mark.parametrize("diffuse", ["scatter", "broad", "smear"])
def test_a_sharp_collapse_beats_every_diffuse_generator(name, diffuse):
    case = labels(name)
    assert overlap(name, case["main"]) > overlap(name, case[diffuse])


def test_at_equal_quality_more_modes_score_better(name):
    case = labels(name)
    assert overlap(name, case["more"]) > overlap(name, case["main"]) > overlap(name, case["few"])


def test_at_equal_modes_sharper_samples_score_better(name):
    case = labels(name)
    assert overlap(name, case["true"]) > overlap(name, case["all_2s"]) > overlap(name, case["all_4s"])


# A known blind spot of mode_overlap (ganopt/metrics.py), kept visible rather than hidden: each
# disk's bin is capped at its true share P/M (P = P(3 sigma) = 0.989), and surplus mass in a disk
# counts no more than mass outside every disk.  A collapse onto k modes at blur s puts P_s / k in
# each disk, so blurring costs nothing while P_s / k >= P / M.  For 15 of 25 modes that holds up
# to s ~ 2.2: both the sharp and the 2-sigma collapse score 15/25 P + (1 - P) = 0.6044 in the
# limit, and at N = 2,500 the sharp one loses ~0.001 to sampling noise in the outside bin
# (0.602 vs 0.604 here).  On ring8, 6 of 8 is blind up to s ~ 1.8, so 2 sigma is still seen.
@pytest.mark.parametrize("problem", [
    "ring8",
    "grid25",
])
def test_a_sharper_collapse_scores_better(problem):
    case = labels(problem)
    assert overlap(problem, case["main"]) > overlap(problem, case["main_2s"])


def test_the_literature_count_prefers_scatter_to_a_sharp_collapse(name):
    """Why modes_covered is not the headline: diffuse points touch many 3-sigma disks by chance,
    so the 10-sigma smear (and on grid25 even the uniform scatter over the box) "covers" more
    modes than a sharp collapse, while mode_overlap ranks them the right way round."""
    table, case = scores(name), labels(name)
    diffuse = ["smear", "scatter"] if name == "grid25" else ["smear"]
    for label in diffuse:
        assert table[case[label]]["modes_covered"] > table[case["main"]]["modes_covered"], label
        assert overlap(name, case["main"]) > overlap(name, case[label]), label
