"""GAN losses on discriminator logits, in softplus form for numerical safety.

D outputs a logit d(x) and sigma is the sigmoid (Goodfellow et al. 2014):

    L_D            = -E_x[log sigma(d(x))] - E_z[log(1 - sigma(d(G(z))))]
                   =  E_x[softplus(-d(x))] + E_z[softplus(d(G(z)))]
    L_G saturating =  E_z[log(1 - sigma(d(G(z))))] = -E_z[softplus(d(G(z)))]   (the minimax game)
    L_G non-sat.   = -E_z[log sigma(d(G(z)))]      =  E_z[softplus(-d(G(z)))]

The data term has no generator gradient, so it is not part of L_G.  Every function takes
stacked logits [K, B, ...] and returns one loss per run, shape [K].
"""

from __future__ import annotations

import torch
from torch.nn.functional import softplus

LOSSES = ("nonsaturating", "saturating")


def _per_run_mean(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return _per_run_mean(softplus(-real_logits)) + _per_run_mean(softplus(fake_logits))


def generator_loss(fake_logits: torch.Tensor, loss: str = "nonsaturating") -> torch.Tensor:
    if loss == "nonsaturating":
        return _per_run_mean(softplus(-fake_logits))
    if loss == "saturating":
        return -_per_run_mean(softplus(fake_logits))
    raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
