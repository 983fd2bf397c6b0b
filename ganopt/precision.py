"""Arithmetic precision of a training step: a run setting, part of the run id (it changes the
numbers), applied to the step only.  Evaluation (samples and the problem's metrics) runs in the
problem's own dtype, so those metrics measure the trained models, not the arithmetic that
trained them; the losses and gradient norms a record carries are the last step's own, at its
precision (at step 0, before any step, in the problem's dtype).

- `fp32` (default): the problem's dtype throughout.
- `tf32`: float32 matmuls and convolutions on CUDA tensor cores with a 10-bit mantissa
  (`torch.backends.cuda.matmul.allow_tf32`, `torch.backends.cudnn.allow_tf32`), switched on for
  the step and restored after it.  A CUDA-only mode: refused on other devices.
- `bf16`: `torch.autocast` to bfloat16 (CPU and CUDA): matmuls, batched matmuls and
  convolutions run in bfloat16 with float32 parameters, gradients and optimizer state.

Both lower precisions act on float32 computations only; a float64 problem (the analytic games)
is refused rather than run unchanged under a name that says otherwise.
"""

from __future__ import annotations

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


@contextmanager
def _tf32():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def step_precision(precision: str, device: torch.device):
    """The context a training step runs in."""
    if precision == "tf32":
        return _tf32()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
