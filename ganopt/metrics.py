"""Metrics, each computed for every run of a stack at once (inputs and outputs lead with K).

Mixture protocol (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): a sample is
*high quality* when it lies within 3 standard deviations of its nearest mode; a mode is
*covered* when it is the nearest mode of at least one high-quality sample; `kl_modes` is
KL(p || uniform) of the histogram p of high-quality samples over modes (log n_modes, the
value of a single covered mode, when there is no high-quality sample at all).
"""

from __future__ import annotations

import math

import torch

HQ_THRESHOLD_STDS = 3.0


def mode_metrics(samples: torch.Tensor, centers: torch.Tensor, std: float) -> dict[str, torch.Tensor]:
    """samples [K, N, 2], centers [M, 2] -> modes_covered, modes_total, hq_fraction, kl_modes, each [K]."""
    k, n, _ = samples.shape
    m = centers.shape[0]
    dist = torch.cdist(samples.double(), centers.double().expand(k, m, -1))
    nearest_dist, nearest = dist.min(dim=2)
    high_quality = (nearest_dist < HQ_THRESHOLD_STDS * std).double()
    counts = torch.zeros(k, m, dtype=torch.float64, device=samples.device)
    counts.scatter_add_(1, nearest, high_quality)
    n_hq = counts.sum(1)
    p = counts / n_hq.clamp(min=1).unsqueeze(1)
    kl = torch.where(p > 0, p * torch.log(p * m), torch.zeros_like(p)).sum(1)
    kl = torch.where(n_hq > 0, kl, torch.full_like(kl, math.log(m)))
    return {
        "modes_covered": (counts > 0).sum(1).double(),
        "modes_total": torch.full((k,), float(m), dtype=torch.float64, device=samples.device),
        "hq_fraction": n_hq / n,
        "kl_modes": kl,
    }


def expected_hq_fraction_2d() -> float:
    """P(|x - mu| < 3 sigma) for an isotropic 2-D Gaussian: 1 - exp(-9/2) (Rayleigh law)."""
    return 1.0 - math.exp(-(HQ_THRESHOLD_STDS**2) / 2.0)


def stacked_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-run Euclidean norm of a list of stacked tensors -> [K]."""
    return torch.sqrt(sum(t.detach().double().flatten(1).pow(2).sum(1) for t in tensors))
