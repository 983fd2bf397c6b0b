"""`python -m bench perf`: how fast stacked training is, measured in one process.

It times (a) the plain per-run PyTorch loop that a user would otherwise write (nn.Sequential
MLPs, torch.optim, one D step then one G step), (b) ganopt's stacked training at each K for
each scheme x base update, and (c) this device's fp32 matmul throughput (a 2048^3 matmul).
FLOPs are counted by torch.utils.flop_counter on one real step (matmuls only), so the
effective FLOP/s and the fraction of (c) need no hand-derived formula.  Memory per run counts
parameters, gradients, optimizer state and the activations autograd saves for backward.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

from ganopt import Strategy, get_problem
from ganopt.graphs import EagerStep, GraphedStep, capturable_schemes
from ganopt.graphs import WARMUP_STEPS as GRAPH_WARMUP
from ganopt.precision import DEFAULT_PRECISION, step_precision
from ganopt.schemes import make_scheme
from ganopt.stack import Stack

GRAPHED_WHAT = "ganopt stack, CUDA graph"

# The reference nets of the performance anchors: G 256-128-128-2, D 2-128-128-1, batch 512.
PERF_OPTIONS = {"latent_dim": 256, "g_hidden": [128, 128], "d_hidden": [128, 128], "batch_size": 512}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_per_call(fn, device: torch.device, min_seconds: float, min_calls: int = 3) -> float:
    """Call `fn` until both bounds are met; return the mean seconds per call."""
    fn()  # warm-up
    _sync(device)
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        fn()
        calls += 1
    _sync(device)
    return (time.perf_counter() - start) / calls


def matmul_flops_per_second(device: torch.device, n: int = 2048, min_seconds: float = 1.0) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    seconds = _time_per_call(lambda: a @ b, device, min_seconds)
    return 2 * n**3 / seconds


def _count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _saved_activation_bytes(fn) -> int:
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


# The kernels that set a step's physical limit: matrix products and convolutions, forward and backward.
MATMUL_OPS = frozenset(("mm", "bmm", "addmm", "baddbmm", "addbmm", "convolution", "convolution_backward"))


class _RecordMatmuls(TorchDispatchMode):
    """Record every matmul-like aten call of a step with its arguments' shapes, strides and dtypes."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in MATMUL_OPS:
            self.calls.append((func, tree_map(_tensor_spec, args), tree_map(_tensor_spec, kwargs)))
        return func(*args, **kwargs)


@dataclasses.dataclass(frozen=True)
class _TensorSpec:
    shape: tuple
    stride: tuple
    dtype: torch.dtype
    device: torch.device


def _tensor_spec(x):
    return _TensorSpec(tuple(x.shape), tuple(x.stride()), x.dtype, x.device) if isinstance(x, torch.Tensor) else x


def _materialize(x):
    if isinstance(x, _TensorSpec):
        return torch.empty_strided(x.shape, x.stride, dtype=x.dtype, device=x.device).normal_()
    return x


def matmul_replay(step):
    """A function that runs the matmuls of one call of `step` alone: the same aten ops on tensors
    of the same shapes, strides and dtypes, with nothing in between.  Its time over the step's
    is the step's matmul share, the physical limit of the step on this device."""
    with _RecordMatmuls() as recorder:
        step()
    calls = [(func, tree_map(_materialize, args), tree_map(_materialize, kwargs)) for func, args, kwargs in recorder.calls]

    def replay():
        with torch.no_grad():
            for func, args, kwargs in calls:
                func(*args, **kwargs)

    return replay, len(calls)


def interleaved_seconds(fns, device: torch.device, min_seconds: float, rounds: int = 5) -> list[float]:
    """Median seconds per call of each function, measured in alternating rounds so that the
    machine's load at any moment hits every function alike (ratios of these are stable where
    absolute times are not)."""
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            samples[i].append(_time_per_call(fn, device, min_seconds / rounds))
    return [statistics.median(s) for s in samples]


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# -- (a) the plain per-run loop ----------------------------------------------------------------

def plain_loop(options: dict, device: torch.device, min_seconds: float) -> dict:
    """One run, the way a user writes it: nn.Sequential nets, torch.optim.Adam, D step then G step."""
    torch.manual_seed(0)

    def mlp(sizes):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers).to(device)

    z_dim, batch = options["latent_dim"], options["batch_size"]
    G = mlp([z_dim, *options["g_hidden"], 2])
    D = mlp([2, *options["d_hidden"], 1])
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))
    softplus = torch.nn.functional.softplus
    centers = torch.randn(8, 2, device=device)

    def step():
        real = centers[torch.randint(0, 8, (batch,), device=device)] + 0.01 * torch.randn(batch, 2, device=device)
        z = torch.randn(batch, z_dim, device=device)
        fake = G(z)
        loss_d = softplus(-D(real)).mean() + softplus(D(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = softplus(-D(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    seconds = _time_per_call(step, device, min_seconds)
    params = list(G.parameters()) + list(D.parameters())
    memory = 4 * _bytes(params) + _saved_activation_bytes(step)  # params, grads, two Adam moments
    return {"seconds_per_step_per_run": seconds, "flops_per_step_per_run": _count_flops(step),
            "memory_bytes_per_run": memory}


# -- (b) stacked training ----------------------------------------------------------------------

def stacked(problem_name: str, options: dict, strategy: Strategy, k: int, device: torch.device,
            min_seconds: float, precision: str = DEFAULT_PRECISION, cuda_graphs: bool = False) -> dict:
    """Time one stacked step of K runs.  With `cuda_graphs`, the step is replayed from a CUDA
    graph (ganopt.graphs), finiteness check and its host synchronisation included, as training
    runs it; the matmuls are recorded from the eager step."""
    problem = get_problem(problem_name)
    opts = problem.check_options(options)
    stack, scheme = build_stack(problem, opts, perf_strategy(strategy, problem, opts), k, device)
    game = stack.game

    step = EagerStep(stack, scheme, device, precision)  # as training runs it: divergence check included

    replay_alone, n_matmuls = matmul_replay(step)

    def replay():  # the matmuls under the step's precision (tf32 is a mode, not a dtype the replay records)
        with step_precision(precision, device):
            replay_alone()

    flops, saved = _count_flops(step), _saved_activation_bytes(step)
    evals = _evals_per_step(stack, scheme)
    if cuda_graphs:  # a fresh stack: autograd nodes of the eager steps above must not reach into the capture
        stack, scheme = build_stack(problem, opts, perf_strategy(strategy, problem, opts), k, device)
        step = GraphedStep(stack, scheme, device, precision)
        for _ in range(GRAPH_WARMUP + 1):  # eager warm-ups, then the capture
            step()
    seconds, matmul_seconds = interleaved_seconds([step, replay], device, min_seconds)
    state = [t for player in (stack.G, stack.D) for t in player.update.tensors()]
    memory = 2 * _bytes(game.theta + game.phi) + _bytes(state) + saved
    # a replayed step against eagerly launched matmuls would measure launches, not a physical limit
    share = None if cuda_graphs else matmul_seconds / seconds
    return {"seconds_per_step_per_run": seconds / k, "flops_per_step_per_run": flops / k,
            "memory_bytes_per_run": memory / k, "grad_evals_per_step": evals,
            "matmul_share": share, "matmul_seconds_per_step": matmul_seconds,
            "matmuls_per_step": n_matmuls}


def perf_strategy(strategy: Strategy, problem, opts: dict) -> Strategy:
    """The strategy at a tenth of the problem's default rates: no run of a timed or counted step
    diverges (a frozen run would change what the step does)."""
    strategy = strategy.resolve(problem.default_lr(opts))
    return dataclasses.replace(strategy, lr_g=strategy.lr_g * 0.1, lr_d=strategy.lr_d * 0.1)


def build_stack(problem, opts: dict, strategy: Strategy, k: int, device: torch.device):
    game = problem.build(opts, torch.arange(k, dtype=torch.int64), strategy.estimate == "full", device)
    stack = Stack(game, [strategy] * k, device)
    return stack, make_scheme(strategy.scheme, stack, strategy.d_steps)


def _evals_per_step(stack: Stack, scheme) -> float:
    before = stack.grad_evals
    scheme.step()
    return stack.grad_evals - before


def run_perf(device: torch.device, problems: list[str], ks: list[int], schemes: list[str], bases: list[str],
             min_seconds: float, progress=print, precision: str = DEFAULT_PRECISION,
             cuda_graphs: bool = False) -> list[dict]:
    """`precision` (ganopt.precision) applies to the stacked steps; the plain loop and the
    2048³ matmul stay fp32 (their reference).  With `cuda_graphs`, each scheme the graphs take
    is timed twice, eager and replayed from a CUDA graph (rows "ganopt stack, CUDA graph")."""
    rows = []
    peak = matmul_flops_per_second(device)
    progress(f"matmul peak ({device}): {peak / 1e9:.1f} GFLOP/s (2048^3 fp32)")
    for problem in problems:
        # the perf nets and the plain per-run loop are written for MLP pairs on 2-D points: they
        # apply to the problems that take these options (the mixtures)
        mlp_pair = set(PERF_OPTIONS) <= set(get_problem(problem).options)
        options = PERF_OPTIONS if mlp_pair else {}
        baseline = None
        if mlp_pair:
            base = plain_loop(get_problem(problem).check_options(options), device, min_seconds)
            baseline = base["seconds_per_step_per_run"]
            rows.append(_row(problem, "plain loop (torch.optim.Adam)", "alternating", "adam", 1, base, peak, baseline))
            progress(_line(rows[-1]))
        for scheme in schemes:
            for base_update in bases:
                strategy = strategy_for(scheme, base_update)
                if strategy is None:
                    progress(f"{problem:9s} {scheme} does not work with {base_update}: skipped")
                    continue
                graphs = [False] + ([True] if cuda_graphs and scheme in capturable_schemes() else [])
                if cuda_graphs and scheme not in capturable_schemes():
                    progress(f"{problem:9s} {scheme} cannot be captured as a CUDA graph: timed eagerly only")
                for k in ks:
                    for graphed in graphs:
                        result = stacked(problem, options, strategy, k, device, min_seconds, precision, graphed)
                        what = GRAPHED_WHAT if graphed else "ganopt stack"
                        rows.append({**_row(problem, what, scheme, base_update, k, result, peak, baseline),
                                     "precision": precision, "cuda_graphs": graphed})
                        progress(_line(rows[-1]))
    return rows


def strategy_for(scheme: str, base: str) -> Strategy | None:
    """The strategy `perf` times for a scheme x base update: minibatch gradients, every
    hyperparameter at its declared default (None where the scheme refuses the base update)."""
    try:
        return Strategy(f"{scheme}/{base}", scheme, base)
    except ValueError:
        return None


def _row(problem, what, scheme, base, k, result, peak, baseline) -> dict:
    seconds = result["seconds_per_step_per_run"]
    flops = result["flops_per_step_per_run"]
    return {
        "problem": problem, "what": what, "scheme": scheme, "base": base, "k": k,
        "us_per_step_per_run": seconds * 1e6,
        "speedup_vs_plain_loop": (baseline / seconds) if baseline else None,
        "gflops_per_s": flops / seconds / 1e9,
        "fraction_of_matmul_peak": flops / seconds / peak,
        "matmul_peak_gflops": peak / 1e9,
        "mflop_per_step_per_run": flops / 1e6,
        "grad_evals_per_step": result.get("grad_evals_per_step", 1.0),
        "matmul_share": result.get("matmul_share"),
        "matmuls_per_step": result.get("matmuls_per_step"),
        "memory_mb_per_run": result["memory_bytes_per_run"] / 2**20,
    }


def _line(row: dict) -> str:
    speed = f"{row['speedup_vs_plain_loop']:6.2f}x" if row["speedup_vs_plain_loop"] else "     - "
    share = f"matmul share {row['matmul_share']:5.1%}" if row.get("matmul_share") is not None else " " * 18
    return (f"{row['problem']:9s} {row['what']:30s} {row['scheme']:14s} {row['base']:5s} K={row['k']:<5d} "
            f"{row['us_per_step_per_run']:10.1f} us/step/run  {speed}  {row['gflops_per_s']:6.1f} GFLOP/s "
            f"({row['fraction_of_matmul_peak']:5.1%} of peak)  {share}  {row['memory_mb_per_run']:7.2f} MB/run")


def plot_perf(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import legend_outside, save, strategy_colors

    stacked_rows = [r for r in rows if r["what"] in ("ganopt stack", GRAPHED_WHAT)]
    problems = list(dict.fromkeys(r["problem"] for r in stacked_rows))
    fig, axes = plt.subplots(1, len(problems), figsize=(6.5 * len(problems), 4.5), squeeze=False)
    labels = [f"{r['scheme']}/{r['base']}" + (" (CUDA graph)" if r.get("cuda_graphs") else "") for r in stacked_rows]
    colors = strategy_colors(labels)
    for ax, problem in zip(axes[0], problems):
        for label in dict.fromkeys(labels):
            pts = [r for r, lab in zip(stacked_rows, labels) if r["problem"] == problem and lab == label]
            ax.plot([r["k"] for r in pts], [r["us_per_step_per_run"] for r in pts], "o-", label=label, color=colors[label])
        plain = [r for r in rows if r["problem"] == problem and r["what"].startswith("plain")]
        if plain:
            ax.axhline(plain[0]["us_per_step_per_run"], color="grey", ls="--", label="plain per-run loop")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("runs per stack K")
        ax.set_ylabel("µs per step per run")
        ax.set_title(f"{problem}: cost per run vs stack size")
        ax.grid(alpha=0.3, which="both")
        legend_outside(ax)
    save(fig, path)
