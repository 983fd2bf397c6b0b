"""Exact cost counters of the benchmarked steps: `python -m bench counts --check FILE | --save FILE`.

Step times move with the machine and its load; what a step *does* does not.  One real step of
each (problem, scheme, base update, K) is run under counting modes and yields, per step of the
whole stack:

- `flops`: matmul and convolution FLOPs, forward and backward (torch.utils.flop_counter);
- `grad_evals`: gradient evaluations of the joint field (ganopt.stack.Stack.grad_evals);
- `aten_ops`: operators dispatched to ATen (every elementwise pass, copy, reduction, matmul);
- `allocated_bytes`: bytes of the new storages those operators created (views and in-place
  results allocate nothing, so they count 0);
- `peak_bytes`: the most bytes of those new storages alive at once during the step (a storage
  dies when its last tensor does, autograd's saved ones included);
- `saved_bytes`: bytes of the tensors autograd saved for backward (the activations a step keeps
  alive until its backward pass: most of its peak memory).

None of them is a time: they are what the code asks of the machine, not how fast the machine
does it, so they are compared with zero tolerance on any machine (the count runs with one
intra-op thread, so that ganopt.rng's per-run draws stay on this thread, where the modes see
them, whatever the machine's cores).  Repeats in separate processes agree to the byte; so far
they have been recorded on one CPU kind (an AVX-512 AMD EPYC).  They do depend on the torch version (its
decompositions decide what `aten_ops` sees); the file records the version it was made with.
"""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from ganopt import get_problem
from ganopt.graphs import EagerStep
from ganopt.problems import PROBLEMS
from ganopt.schemes import SCHEMES
from ganopt.updates import BASE_UPDATES

from . import perf

COUNTERS = ("flops", "grad_evals", "aten_ops", "allocated_bytes", "peak_bytes", "saved_bytes")
WARMUP_STEPS = 2  # optimistic and past-extragradient keep a direction from step 1 on: count a later step
REFRESH_HINT = "if the change is intended, refresh the counts with: python -m bench counts --save {path}"


class CountsError(ValueError):
    """A counts file that cannot be read, or that lists a step this checkout cannot build."""


class _CountOps(TorchDispatchMode):
    """Count the ATen operators a step dispatches, the bytes of the storages they create, and the
    peak of those bytes alive at once."""

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.allocated = 0
        self.live = self.peak = 0  # bytes of the storages created so far that are still alive

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = {_storage_ptr(t) for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        out = func(*args, **kwargs)
        self.ops += 1
        new = {}  # a storage an output shares with an input (a view, an in-place op) was not allocated here
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and _storage_ptr(t) not in inputs:
                new[_storage_ptr(t)] = t.untyped_storage().nbytes()
        self.allocated += sum(new.values())
        for ptr, nbytes in new.items():
            self._track(out_storage(out, ptr), nbytes)
        return out

    def _track(self, storage, nbytes: int) -> None:
        """Live bytes rise now and fall when the storage dies (its C++ storage: a tensor that
        autograd saved stays alive until the backward pass frees it)."""
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, nbytes)

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes


def out_storage(out, ptr: int):
    return next(t.untyped_storage() for t in tree_leaves(out)
                if isinstance(t, torch.Tensor) and _storage_ptr(t) == ptr)


def _storage_ptr(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def count_one_step(step, stack) -> dict:
    """The counters of one call of `step` (an EagerStep of `stack`), all from the same step."""
    saved = 0

    def pack(t):
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    evals_before = stack.grad_evals
    gc.disable()  # storages die by reference counting alone, at the same points in every run
    try:
        with FlopCounterMode(display=False) as flops, _CountOps() as ops, \
                torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            step()
    finally:
        gc.enable()
    return {"flops": int(flops.get_total_flops()), "grad_evals": float(stack.grad_evals - evals_before),
            "aten_ops": ops.ops, "allocated_bytes": ops.allocated, "peak_bytes": ops.peak, "saved_bytes": saved}


def count_step(problem_name: str, scheme: str, base: str, k: int) -> dict:
    """The counters of one step of the perf nets (bench.perf.PERF_OPTIONS where the problem takes
    them), as `bench perf` builds it, after WARMUP_STEPS steps, on one intra-op thread."""
    for what, name, known in (("problem", problem_name, PROBLEMS), ("scheme", scheme, SCHEMES),
                              ("base update", base, BASE_UPDATES)):
        if name not in known:  # a plugin's, whose file was not loaded
            raise CountsError(f"unknown {what} {name!r} (a plugin's? pass --plugin FILE.py)")
    strategy = perf.strategy_for(scheme, base)
    if strategy is None:
        raise CountsError(f"the scheme {scheme!r} does not work with the base update {base!r}")
    problem = get_problem(problem_name)
    options = perf.PERF_OPTIONS if set(perf.PERF_OPTIONS) <= set(problem.options) else {}
    opts = problem.check_options(options)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ganopt.rng splits large draws over a thread pool the modes would not see
    try:
        stack, stepper = perf.build_stack(problem, opts, perf.perf_strategy(strategy, problem, opts), k,
                                          torch.device("cpu"))
        step = EagerStep(stack, stepper, torch.device("cpu"))
        for _ in range(WARMUP_STEPS):
            step()
        # the first counted step of a process reads a few hundred bytes more peak memory (something
        # torch creates on first use): a second one is the same in every process
        count_one_step(step, stack)
        return count_one_step(step, stack)
    finally:
        torch.set_num_threads(threads)


def key(problem: str, scheme: str, base: str, k: int) -> str:
    return f"{problem}/{scheme}/{base}/K={k}"


def parse_key(text: str) -> tuple[str, str, str, int]:
    parts = text.split("/")
    if len(parts) != 4 or not parts[3].startswith("K=") or not parts[3][2:].isdigit():
        raise CountsError(f"step {text!r} is not PROBLEM/SCHEME/BASE/K=N")
    return parts[0], parts[1], parts[2], int(parts[3][2:])


def measure(keys: list[str], progress=lambda line: None) -> dict[str, dict]:
    counts = {}
    for name in keys:
        counts[name] = count_step(*parse_key(name))
        progress(f"{name:42s} " + "  ".join(f"{c} {counts[name][c]:,}" for c in COUNTERS))
    return counts


# -- the counts file ---------------------------------------------------------------------------

def read(path: Path) -> dict:
    """The counts file, checked: {"torch": VERSION, "steps": {STEP: {COUNTER: number}}}."""
    path = Path(path)
    if not path.is_file():
        raise CountsError(f"{path} {'is not a regular file' if path.exists() else 'does not exist'} "
                          f"(record one with: python -m bench counts --save {path})")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CountsError(f"{path} is not a readable JSON file ({e})") from None
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, dict) or not steps:
        raise CountsError(f"{path} is not a counts file: expected a JSON object with a non-empty \"steps\" object")
    for name, counters in steps.items():
        parse_key(name)
        if not isinstance(counters, dict) or set(counters) != set(COUNTERS):
            raise CountsError(f"{path}: step {name!r} needs exactly the counters {', '.join(COUNTERS)}")
    return data


def save(path: Path, counts: dict[str, dict]) -> None:
    path = Path(path)
    data = {"torch": torch.__version__.split("+")[0], "counters": list(COUNTERS),
            "refresh": f"python -m bench counts --save {path}", "steps": counts}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def check(path: Path, counts: dict[str, dict]) -> tuple[bool, list[str]]:
    """Compare measured counts with the file's, with zero tolerance: (passed, lines naming every
    counter that changed, before -> after, and how to refresh the file when that was intended)."""
    data = read(path)
    changed = []
    for name, now in counts.items():
        before = data["steps"][name]
        for counter in COUNTERS:
            if now[counter] != before[counter]:
                rel = f" ({now[counter] / before[counter] - 1:+.1%})" if before[counter] else ""
                changed.append(f"  {name:42s} {counter:16s} {before[counter]:,} -> {now[counter]:,}{rel}")
    if not changed:
        return True, [f"exact counters: {len(counts)} step(s) x {len(COUNTERS)} counters equal to {path}"]
    lines = [f"exact counters: {len(changed)} changed against {path} (zero tolerance):", *changed]
    version = torch.__version__.split("+")[0]
    if data.get("torch") != version:
        lines.append(f"  note: {path} was recorded with torch {data.get('torch')}, this is torch {version}; "
                     f"aten_ops and allocated_bytes may differ between versions")
    lines.append("  " + REFRESH_HINT.format(path=path))
    return False, lines
