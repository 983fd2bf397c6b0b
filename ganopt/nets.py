"""Stacked multilayer perceptrons: K independent networks evaluated as batched matmuls.

A network is a flat list of per-layer tensors: for each layer W [K, in, width] and b [K, 1,
width] (width = out·pieces for a maxout hidden layer, else out), then, for a hidden layer with
batch normalization, its scale γ and shift β [K, 1, out].  Inputs are [K, B, in]; one `baddbmm` per layer runs all K networks at once.

Hidden-layer options (the literature's 2-D protocols need them, Lin et al. 2018):
- `maxout` pieces > 1: a hidden layer computes `pieces` affine maps per unit and keeps their
  maximum (Goodfellow et al. 2013); the maximum is the layer's nonlinearity.
- `batch_norm`: after the affine map (and the maxout), each run's batch is normalized with its own batch
  statistics (biased variance, eps 1e-5, as `torch.nn.BatchNorm1d` in training mode), then
  scaled by γ and shifted by β.  Batch statistics are used at evaluation too (over the
  evaluation batch, thousands of samples): no running averages, so no state outside the
  parameters.
"""

from __future__ import annotations

import math

import torch

from .rng import normal, stream_keys, uniform

ACTIVATIONS = {
    "relu": torch.relu,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.2),
    "tanh": torch.tanh,
}
BATCH_NORM_EPS = 1e-5


def init_mlp(sizes: tuple[int, ...], seeds: torch.Tensor, stream: int, device=None, *, maxout: int = 1,
             batch_norm: bool = False, init_std: float | None = None) -> list[torch.Tensor]:
    """Weights drawn from each run's own stream, so that a run's weights do not depend on its
    stack: PyTorch's default Linear initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and
    b, or, with `init_std`, W ~ N(0, init_std²) and b = 0; γ = 1 and β = 0."""
    seeds = seeds.to(device)
    k = seeds.shape[0]
    params = []
    n_layers = len(sizes) - 1
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = layer < n_layers - 1
        width = fan_out * (maxout if hidden else 1)
        if init_std is None:
            bound = 1.0 / math.sqrt(fan_in)
            w = uniform(stream_keys(seeds, stream, 2 * layer), (fan_in, width))
            b = uniform(stream_keys(seeds, stream, 2 * layer + 1), (1, width))
            params += [(2 * w - 1) * bound, (2 * b - 1) * bound]
        else:
            w = normal(stream_keys(seeds, stream, 2 * layer), (fan_in, width))
            params += [init_std * w, torch.zeros(k, 1, width, device=w.device)]
        if hidden and batch_norm:
            params += [torch.ones(k, 1, fan_out, device=params[-1].device),
                       torch.zeros(k, 1, fan_out, device=params[-1].device)]
    return params


def batch_normalize(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Per run (dim 0), over its batch (dim 1)."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return (x - mean) * torch.rsqrt(var + BATCH_NORM_EPS) * gamma + beta


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor, activation: str = "relu", *, maxout: int = 1,
                batch_norm: bool = False) -> torch.Tensor:
    act = ACTIVATIONS[activation]
    per_hidden = 4 if batch_norm else 2
    n_hidden = (len(params) - 2) // per_hidden
    i = 0
    for _ in range(n_hidden):
        x = torch.baddbmm(params[i + 1], x, params[i])
        if maxout > 1:
            x = x.unflatten(-1, (-1, maxout)).amax(dim=-1)
        if batch_norm:
            x = batch_normalize(x, params[i + 2], params[i + 3])
        if maxout == 1:
            x = act(x)
        i += per_hidden
    return torch.baddbmm(params[i + 1], x, params[i])
