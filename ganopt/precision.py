"""Arithmetic precision of a training step: a run setting, part of the run id (it changes the
numbers), applied to the step only.  Evaluation (samples and the problem's metrics) runs in the
problem's own dtype, so those metrics measure the trained models, not the arithmetic that
trained them; the losses and gradient norms a record carries are the last step's own, at its
precision (at step 0, before any step, in the problem's dtype).

- `fp32` (default): the problem's dtype throughout.  On CUDA the step switches TF32 off for
  matmuls and convolutions (`torch.backends.cudnn.allow_tf32` is on by default in PyTorch, so
  an unqualified CUDA convolution would run in TF32).
- `tf32`: float32 matmuls and convolutions on CUDA tensor cores with a 10-bit mantissa
  (`torch.backends.cuda.matmul.allow_tf32`, `torch.backends.cudnn.allow_tf32`), switched on for
  the step.  A CUDA-only mode: refused on other devices.
- `bf16`: `torch.autocast` to bfloat16 (CPU and CUDA): matmuls, batched matmuls and
  convolutions run in bfloat16 with float32 parameters, gradients and optimizer state.
  Autocast's weight cache is off: schemes move the parameters in place within a step
  (alternating, extragradient), and a cached bfloat16 copy would evaluate the second gradient
  at the old point.

The TF32 flags are process-wide: the step sets them under a lock and restores them after, so
threads of one process (a Dask worker's) that train CUDA stacks take their steps one at a time.

Both lower precisions act on float32 computations only; a float64 problem (the analytic games)
is refused rather than run unchanged under a name that says otherwise.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext

import torch

PRECISIONS = {
    "fp32": "the problem's dtype throughout (default)",
    "tf32": "CUDA only: float32 matmuls and convolutions on tensor cores (10-bit mantissa)",
    "bf16": "torch.autocast to bfloat16 for the step's matmuls and convolutions (CPU and CUDA)",
}
DEFAULT_PRECISION = "fp32"


def check_precision(precision: str, device_type: str, dtype: str = "float32") -> None:
    """Raise ValueError, in one line, for a precision that does not exist or does not apply."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "tf32" and device_type != "cuda":
        raise ValueError(f"precision tf32 is a CUDA tensor-core mode; this device is {device_type} "
                         "(use fp32, or bf16 which autocasts on CPU too)")
    if precision != DEFAULT_PRECISION and dtype != "float32":
        raise ValueError(f"precision {precision} lowers float32 arithmetic; this problem computes in {dtype}")


_CUDA_FLAGS = threading.RLock()


@contextmanager
def _cuda_tf32(allow: bool):
    with _CUDA_FLAGS:
        before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allow
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def step_precision(precision: str, device: torch.device):
    """The context a training step runs in."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    if device.type == "cuda" or precision == "tf32":
        return _cuda_tf32(precision == "tf32")
    return nullcontext()
