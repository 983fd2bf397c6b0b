"""Stacked multilayer perceptrons: K independent networks evaluated as batched matmuls.

A network is a flat list [W0, b0, W1, b1, ...] with W_i of shape [K, in, out] and b_i of
shape [K, 1, out]; inputs are [K, B, in].  One `baddbmm` per layer runs all K networks at once.
"""

from __future__ import annotations

import math

import torch

from .rng import stream_keys, uniform

ACTIVATIONS = {
    "relu": torch.relu,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.2),
    "tanh": torch.tanh,
}


def init_mlp(sizes: tuple[int, ...], seeds: torch.Tensor, stream: int, device=None) -> list[torch.Tensor]:
    """PyTorch's default Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b,
    drawn from each run's own stream so that a run's weights do not depend on its stack."""
    seeds = seeds.to(device)
    params = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(fan_in)
        w = uniform(stream_keys(seeds, stream, 2 * layer), (fan_in, fan_out))
        b = uniform(stream_keys(seeds, stream, 2 * layer + 1), (1, fan_out))
        params += [(2 * w - 1) * bound, (2 * b - 1) * bound]
    return params


def mlp_forward(params: list[torch.Tensor], x: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    act = ACTIVATIONS[activation]
    n_layers = len(params) // 2
    for i in range(n_layers):
        x = torch.baddbmm(params[2 * i + 1], x, params[2 * i])
        if i < n_layers - 1:
            x = act(x)
    return x
