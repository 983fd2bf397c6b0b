"""How a training step is run: eagerly, or captured once as a CUDA graph and replayed.

A stacked step of small networks launches hundreds of small kernels; on a GPU the time to
launch them, not the arithmetic, sets the step's time.  A CUDA graph records the whole step
(the draws, forward and backward, the base updates, the parameter moves and the finiteness
check) once and replays it with one launch.  A graph replays fixed kernels on fixed memory, so
everything that changes from step to step must live in device tensors updated in place:

- the draw counter (`Stack.draws`) and each base update's step counter `t` become device
  tensors, advanced inside the graph (the counter-based streams of ganopt.rng and Adam's bias
  correction read them there);
- learning rates are read from the players' `lr` tensors, which schedules and freezing update
  in place;
- the step's gradient-evaluation count, a host number, is taken from the captured step and
  added after every replay.

What a graph cannot hold is refused up front, in one line, and follows from what schemes and
base updates declare, not from a list of names: devices other than CUDA, schemes whose
declared state has host entries (`Scheme.host_state`: optimistic's "no previous direction
yet", lookahead's step count) or that say why not (`Scheme.not_capturable`: CGD's solve),
base updates that say why not (`BaseUpdate.not_capturable`), and diagnostics (their probes
evaluate the field between steps).

The first `WARMUP_STEPS` steps run eagerly on a side stream (the lazy initialisations of
cuBLAS and autograd must not happen inside a capture); the next step is captured and every
step from then on is a replay.  All steps are real training steps.
"""

from __future__ import annotations

from typing import Any

import torch

from .precision import DEFAULT_PRECISION, step_precision
from .schemes import SCHEMES
from .updates import BASE_UPDATES, MixedUpdate

WARMUP_STEPS = 3


def capturable_schemes() -> list[str]:
    """The registered schemes whose step a CUDA graph can hold (from their declared state)."""
    return [name for name, cls in SCHEMES.items() if cls.capture_refusal() is None]


def check_cuda_graphs(device_type: str, scheme: str, bases: list[str] | tuple[str, ...] = (),
                      diagnostics: bool = False) -> None:
    """Raise ValueError, in one line, where a step cannot be captured as a CUDA graph."""
    if device_type != "cuda":
        raise ValueError(f"CUDA graphs need a CUDA device; this device is {device_type}")
    refusal = SCHEMES[scheme].capture_refusal()
    if refusal is not None:
        raise ValueError(f"scheme {scheme!r} cannot be captured: {refusal}; "
                         f"CUDA graphs take: {', '.join(capturable_schemes())}")
    refused = sorted({f"{b} ({BASE_UPDATES[b].not_capturable})" for b in bases if BASE_UPDATES[b].not_capturable})
    if refused:
        raise ValueError(f"base update(s) {', '.join(refused)} cannot be captured")
    if diagnostics:
        raise ValueError("diagnostics evaluate the field between steps and cannot run with CUDA graphs")


def freeze_non_finite(stack, finite: torch.Tensor) -> torch.Tensor | None:
    """After a step, with `finite` its [K] mask of runs whose parameters are finite: freeze the
    others.  Returns the mask when some run is not finite, else None."""
    if bool(finite.all()):  # one host synchronisation per step
        return None
    stack.G.freeze(~finite)  # (re-)freeze every non-finite run: a scheme's stored direction may still carry inf
    stack.D.freeze(~finite)
    return finite


class EagerStep:
    """One step as plain PyTorch calls."""

    def __init__(self, stack, scheme, device: torch.device, precision: str = DEFAULT_PRECISION):
        self.stack, self.scheme, self.device, self.precision = stack, scheme, device, precision

    def __call__(self) -> torch.Tensor | None:
        with step_precision(self.precision, self.device):
            self.scheme.step()
        finite = freeze_non_finite(self.stack, self.stack.finite_runs())
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return finite


class GraphedStep(EagerStep):
    """One step replayed from a CUDA graph (captured at the call after WARMUP_STEPS eager ones)."""

    def __init__(self, stack, scheme, device: torch.device, precision: str = DEFAULT_PRECISION):
        check_cuda_graphs(device.type, scheme.name, [u.name for u in _updates(stack)])
        super().__init__(stack, scheme, device, precision)
        _counters_on_device(stack, device)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side = torch.cuda.Stream(device)

    def __call__(self) -> torch.Tensor | None:
        self.calls += 1
        if self.calls <= WARMUP_STEPS:
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                finite = super().__call__()
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            return finite
        if self.graph is None:
            self._capture()
        self.graph.replay()
        self.stack.grad_evals += self.evals_per_step
        self.stack.last.update(self.last)  # the graph's outputs, whatever an evaluation put there since
        return freeze_non_finite(self.stack, self.finite)

    def _capture(self) -> None:
        stack = self.stack
        before = stack.grad_evals
        torch.cuda.synchronize(self.device)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: CUDA calls of other threads (another stack in a Dask worker) stay legal during the capture
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            with step_precision(self.precision, self.device):
                self.scheme.step()
            self.finite = stack.finite_runs()
        self.evals_per_step = stack.grad_evals - before  # capturing ran nothing: count it at each replay
        stack.grad_evals = before
        self.last: dict[str, Any] = dict(stack.last)


def _updates(stack) -> list:
    """The base updates of both players (each group of a mixed stack)."""
    out = []
    for update in (stack.G.update, stack.D.update):
        out += [u for _, u in update.groups] if isinstance(update, MixedUpdate) else [update]
    return out


def _counters_on_device(stack, device: torch.device) -> None:
    """Host step counters become device tensors advanced in place (`+= 1` on a tensor is in place)."""
    if not isinstance(stack.draws, torch.Tensor):
        stack.draws = torch.tensor(stack.draws, dtype=torch.int64, device=device)
    for u in _updates(stack):
        if not isinstance(u.t, torch.Tensor):
            u.t = torch.tensor(float(u.t), dtype=torch.float64, device=device)


def step_runner(stack, scheme, device: torch.device, precision: str = DEFAULT_PRECISION,
                cuda_graphs: bool = False) -> EagerStep:
    return (GraphedStep if cuda_graphs else EagerStep)(stack, scheme, device, precision)
