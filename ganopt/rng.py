"""Counter-based random streams: one independent stream per run, whatever stack it is in.

Every draw of a run is keyed by a pure function of (run seed, stream, counter) (a 32-bit
integer hash, `stream_keys`), so a run draws exactly the same numbers alone or inside a stack
of K runs.  The numbers of a draw come from the key:

- on a CPU, from torch's own generator seeded with each run's key (one vectorised fill per
  run: 131,072 normals cost ~0.5 ms, about 9x less than hashing every element);
- elsewhere (GPU), from a per-element hash of (key, index) in int64 tensor arithmetic, one
  vectorised computation for the whole stack with no loop over runs.

So a run is reproducible on its device; CPU and GPU streams differ.  The numbers are for
simulation, not cryptography.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
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
    DIAGNOSTICS = 7  # probes of ganopt.diagnostics: never part of training


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


def stream_keys(seeds: torch.Tensor, stream: int, counter: int | torch.Tensor) -> torch.Tensor:
    """One 32-bit key per run for (stream, counter); `seeds` is an int64 tensor [K] of values
    in [0, 2**32).  Seed, stream and counter are mixed non-linearly, one after the other.  Keys
    are 32 bits, so, as with any 32-bit seeded generator, some far-apart (seed, stream) pairs
    share a key; within one run every (stream, counter) has its own key.  `counter` is one
    int for all runs or an int64 tensor [K]."""
    s = seeds.to(torch.int64) & _MASK32
    k = mix32((mix32(s) + 0x9E3779B9 * (int(stream) + 1)) & _MASK32)
    c = (counter.to(k.device, torch.int64) if isinstance(counter, torch.Tensor) else int(counter)) & _MASK32
    k = mix32((k + ((0x85EBCA77 * (c + 1)) & _MASK32)) & _MASK32)
    return mix32(k ^ 0x2545F491)


def _bits(keys: torch.Tensor, n: int) -> torch.Tensor:
    idx = torch.arange(n, device=keys.device, dtype=torch.int64).unsqueeze(0)
    return mix32(mix32((keys.unsqueeze(1) + idx) & _MASK32) ^ keys.unsqueeze(1))


_PARALLEL_FILL_MIN = 1 << 16  # below this many numbers per draw, one thread is faster
_pool: ThreadPoolExecutor | None = None
_thread_state = threading.local()


def _generator() -> torch.Generator:
    if not hasattr(_thread_state, "generator"):
        _thread_state.generator = torch.Generator()
    return _thread_state.generator


def _fill_rows(out: torch.Tensor, keys: list[int], rows: range, fill) -> None:
    g = _generator()
    for i in rows:
        g.manual_seed(keys[i])
        fill(out[i], g)


def _fill_per_run(keys: torch.Tensor, shape: tuple[int, ...], dtype, fill) -> torch.Tensor:
    """CPU: seed torch's generator with each run's key and let `fill(row, generator)` draw.
    Large draws are split over torch's threads (fills release the GIL); each row's numbers
    depend only on its key, so the split does not change them."""
    global _pool
    out = torch.empty(keys.shape[0], *shape, dtype=dtype)
    key_list = keys.tolist()
    workers = min(torch.get_num_threads(), len(key_list))
    if workers < 2 or out.numel() < _PARALLEL_FILL_MIN:
        _fill_rows(out, key_list, range(len(key_list)), fill)
        return out
    if _pool is None or _pool._max_workers < workers:
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="ganopt-rng")
    jobs = [_pool.submit(_fill_rows, out, key_list, range(w, len(key_list), workers), fill) for w in range(workers)]
    for job in jobs:
        job.result()
    return out


def uniform(keys: torch.Tensor, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    """Uniform numbers in (0, 1) (on a CPU, in [0, 1)), shape [K, *shape]."""
    if keys.device.type == "cpu":
        return _fill_per_run(keys, shape, dtype, lambda row, g: row.uniform_(generator=g))
    return _hash_uniform(keys, shape, dtype)


def _hash_uniform(keys: torch.Tensor, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    n = math.prod(shape)
    # (23 random bits + 1/2) / 2**23 is exact in float32 and below 1: the same numbers in
    # float32 and float64, never 0 or 1.
    u = ((_bits(keys, n) >> 9).to(dtype) + 0.5) * (1.0 / (1 << 23))
    return u.reshape(keys.shape[0], *shape)


def randint(keys: torch.Tensor, shape: tuple[int, ...], high: int) -> torch.Tensor:
    """Integers in [0, high), shape [K, *shape]."""
    if keys.device.type == "cpu":
        return _fill_per_run(keys, shape, torch.int64, lambda row, g: row.random_(0, high, generator=g))
    n = math.prod(shape)  # hash: modulo bias below 1e-6 for high < 4096
    return (_bits(keys, n) % high).reshape(keys.shape[0], *shape)


def normal(keys: torch.Tensor, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    """Standard normal numbers, shape [K, *shape] (elsewhere than on a CPU: Box-Muller on two
    hashed uniforms)."""
    if keys.device.type == "cpu":
        return _fill_per_run(keys, shape, dtype, lambda row, g: row.normal_(generator=g))
    return _hash_normal(keys, shape, dtype)


def _hash_normal(keys: torch.Tensor, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    n = math.prod(shape)
    half = (n + 1) // 2
    u = _hash_uniform(keys, (2 * half,), dtype)
    radius = torch.sqrt(-2.0 * torch.log(u[:, :half]))
    angle = (2.0 * math.pi) * u[:, half:]
    z = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)[:, :n]
    return z.reshape(keys.shape[0], *shape)
