"""Counter-based random streams: one independent stream per run, whatever stack it is in.

Every random number a run uses is a pure function of (run seed, stream, counter, element
index), computed with a 32-bit integer hash (xorshift-multiply rounds) in int64 tensor
arithmetic.  So a run draws exactly the same numbers alone or inside a stack of K runs, on
any device, and a whole stack draws its numbers in one vectorised call (no Python loop over
runs).  The numbers are for simulation, not cryptography.
"""

from __future__ import annotations

import math
from enum import IntEnum

import torch

_MASK32 = 0xFFFFFFFF


class Stream(IntEnum):
    """Named purposes: within a run, no two uses of randomness share a stream."""

    INIT_G = 1
    INIT_D = 2
    LATENT = 3
    DATA = 4
    EVAL_LATENT = 5
    INIT_POINT = 6


def mix32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit integer hash (xorshift-multiply, the shape of Wellons' lowbias32).

    Both multipliers are odd and below 2**31, so for 0 <= x < 2**32 every product stays below
    2**63: int64 arithmetic never overflows, on any device.
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x1B873593) & _MASK32
    return x ^ (x >> 16)


def stream_keys(seeds: torch.Tensor, stream: int, counter: int) -> torch.Tensor:
    """One 32-bit key per run for (stream, counter); `seeds` is an int64 tensor [K] of values
    in [0, 2**32).  Seed, stream and counter are mixed non-linearly, one after the other.  Keys
    are 32 bits, so, as with any 32-bit seeded generator, some far-apart (seed, stream) pairs
    share a key; within one run every (stream, counter) has its own key."""
    s = seeds.to(torch.int64) & _MASK32
    k = mix32((mix32(s) + 0x9E3779B9 * (int(stream) + 1)) & _MASK32)
    k = mix32((k + 0x85EBCA77 * (int(counter) + 1)) & _MASK32)
    return mix32(k ^ 0x2545F491)


def _bits(keys: torch.Tensor, n: int) -> torch.Tensor:
    idx = torch.arange(n, device=keys.device, dtype=torch.int64).unsqueeze(0)
    return mix32(mix32((keys.unsqueeze(1) + idx) & _MASK32) ^ keys.unsqueeze(1))


def uniform(keys: torch.Tensor, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    """Uniform numbers in the open interval (0, 1), shape [K, *shape]."""
    n = math.prod(shape)
    # (23 random bits + 1/2) / 2**23 is exact in float32 and below 1: the same numbers in
    # float32 and float64, never 0 or 1.
    u = ((_bits(keys, n) >> 9).to(dtype) + 0.5) * (1.0 / (1 << 23))
    return u.reshape(keys.shape[0], *shape)


def randint(keys: torch.Tensor, shape: tuple[int, ...], high: int) -> torch.Tensor:
    """Integers in [0, high), shape [K, *shape] (bias below 1e-6 for high < 4096)."""
    n = math.prod(shape)
    return (_bits(keys, n) % high).reshape(keys.shape[0], *shape)


def normal(keys: torch.Tensor, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    """Standard normal numbers (Box-Muller on two hashed uniforms), shape [K, *shape]."""
    n = math.prod(shape)
    half = (n + 1) // 2
    u = uniform(keys, (2 * half,), dtype)
    radius = torch.sqrt(-2.0 * torch.log(u[:, :half]))
    angle = (2.0 * math.pi) * u[:, half:]
    z = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)[:, :n]
    return z.reshape(keys.shape[0], *shape)
