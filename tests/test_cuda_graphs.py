"""CUDA graphs (ganopt.graphs): what a CPU can check (the device counters a graph needs change
no number; what cannot be captured is refused in one line), and, on a CUDA machine, that a
replayed step trains exactly as the eager step does."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from ganopt import BaseUpdate, get_problem, get_strategy, register_base_update
from ganopt.graphs import EagerStep, capturable_schemes, _counters_on_device, check_cuda_graphs, step_runner
from ganopt.train import _build, train_stack

PRESET_SCHEMES = ("simultaneous", "alternating", "extragradient", "optimistic", "past-extragradient", "consensus", "sga",
                  "unrolled", "cgd", "lookahead")

SMALL = {"latent_dim": 8, "g_hidden": [16, 16], "d_hidden": [16, 16], "batch_size": 32, "eval_samples": 2500}
# every scheme a graph holds, with each in-place base update among them, and a mixed stack
GRAPHED = [("adam", "sgd"), ("ttur", "momentum"), ("alt-adam", "alt-sgd"), ("extra-adam", "extragradient"),
           ("consensus-adam", "consensus"), ("sga-adam", "sga"), ("unrolled", "unrolled")]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _stack(names: tuple[str, ...], device: str, options=SMALL, seeds=(3, 4)):
    problem = get_problem("ring8")
    opts = problem.check_options(options)
    strategies = [get_strategy(n).resolve(problem.default_lr(opts)) for n in names]
    if names[0] == "unrolled":
        strategies = [dataclasses.replace(s, hyper={"unroll_steps": 2}) for s in strategies]
    return _build(problem, opts, strategies, list(seeds), torch.device(device))


def _params(game) -> list[torch.Tensor]:
    return [p.detach().cpu().clone() for p in game.theta + game.phi]


@pytest.mark.parametrize("names", GRAPHED, ids=lambda n: "+".join(n))
def test_device_counters_change_no_number(names):
    """A graph needs the draw counter and the updates' step counters as tensors advanced in
    place; eagerly, on a CPU, those train exactly as the host counters do (the unrolled scheme
    keeps its own copy of the draw index, the streams read the same keys, Adam's bias
    corrections agree)."""
    results = []
    for on_device in (False, True):
        game, stack, scheme = _stack(names, "cpu")
        if on_device:
            _counters_on_device(stack, torch.device("cpu"))
        step = EagerStep(stack, scheme, torch.device("cpu"))
        for _ in range(5):
            step()
        results.append((_params(game), float(stack.grad_evals), int(stack.draws)))
    (plain, evals, draws), (counted, evals_t, draws_t) = results
    assert (evals, draws) == (evals_t, draws_t) and draws > 0
    for a, b in zip(plain, counted):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@register_base_update
class Branchy(BaseUpdate):
    """A base update that says a graph cannot hold it (its step would branch on a value)."""

    name = "branchy"
    not_capturable = "it branches on a value"

    def apply(self, grads, state):
        return [g.clone() for g in grads], {"t": state["t"] + 1}


def test_capture_follows_from_declared_state():
    """Whether a step can be captured is read from what a scheme declares: host entries in its
    state (optimistic, past-extragradient, lookahead) or a reason (CGD), not from a list."""
    from ganopt import SCHEMES

    assert [n for n in capturable_schemes() if n in PRESET_SCHEMES] == [
        "simultaneous", "alternating", "extragradient", "consensus", "sga", "unrolled"]
    assert SCHEMES["optimistic"].host_state == ("previous",)
    assert SCHEMES["lookahead"].host_state == ("t", "slow")


def test_what_a_graph_cannot_hold_is_refused_in_one_line():
    with pytest.raises(ValueError, match="need a CUDA device; this device is cpu") as refused:
        check_cuda_graphs("cpu", "simultaneous", ["adam"])
    assert "\n" not in str(refused.value)
    with pytest.raises(ValueError, match="scheme 'optimistic' cannot be captured: it keeps Python state between "
                                         r"steps \(previous\); CUDA graphs take: simultaneous, alternating"):
        check_cuda_graphs("cuda", "optimistic", ["sgd"])
    with pytest.raises(ValueError, match="scheme 'cgd' cannot be captured: its conjugate-gradient solve"):
        check_cuda_graphs("cuda", "cgd", ["sgd"])
    with pytest.raises(ValueError, match=r"base update\(s\) branchy \(it branches on a value\) cannot be captured"):
        check_cuda_graphs("cuda", "simultaneous", ["adam", "branchy"])
    with pytest.raises(ValueError, match="diagnostics"):
        check_cuda_graphs("cuda", "simultaneous", ["adam"], diagnostics=True)
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    strategy = get_strategy("adam").resolve(problem.default_lr(opts))
    with pytest.raises(ValueError, match="CUDA device"):
        train_stack(problem, opts, [strategy], [0], 2, 2, calibrate=False, cuda_graphs=True)


def test_the_cli_refuses_cuda_graphs_on_a_cpu_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--problems", "ring8", "--strategies", "adam",
                           "--steps", "2", "--seeds", "1", "--device", "cpu", "--cuda-graphs",
                           "--store", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--cuda-graphs" in lines[0] and "CUDA device" in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


@needs_cuda
@pytest.mark.parametrize("names", GRAPHED, ids=lambda n: "+".join(n))
def test_a_replayed_step_trains_as_the_eager_step(names):
    """Eight steps: three eager warm-ups, the capture and its replay, four more replays; every
    parameter, the draw count and the evaluation count as the eager steps leave them."""
    results = []
    for graphs in (False, True):
        game, stack, scheme = _stack(names, "cuda")
        step = step_runner(stack, scheme, torch.device("cuda"), cuda_graphs=graphs)
        for _ in range(8):
            step()
        torch.cuda.synchronize()
        results.append((_params(game), float(stack.grad_evals), int(stack.draws), stack.last["loss_d"].cpu()))
    (eager, evals, draws, loss), (graphed, evals_g, draws_g, loss_g) = results
    assert (evals, draws) == (evals_g, draws_g)
    torch.testing.assert_close(loss, loss_g, rtol=1e-5, atol=1e-6)
    for a, b in zip(eager, graphed):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_saved_state_restores_a_device_counter_in_place():
    """A graph reads the counter tensor it captured: loading a state writes into it."""
    game, stack, scheme = _stack(("adam", "ttur"), "cpu")
    _counters_on_device(stack, torch.device("cpu"))
    step = EagerStep(stack, scheme, torch.device("cpu"))
    step()
    counter = stack.G.update.t
    saved = stack.G.save_state()
    step()
    step()
    assert float(counter) == 3 and float(saved["update"]["t"]) == 1
    stack.G.load_state(saved)
    assert stack.G.update.t is counter and float(counter) == 1


@needs_cuda
@pytest.mark.parametrize("names", [("adam", "momentum"), ("extra-adam", "extragradient")], ids="+".join)
def test_a_run_that_diverges_after_the_capture_is_frozen_as_eagerly(names):
    """NaN written into one run's parameters at step 6 (replays by then): both ways freeze that
    run at the next step and leave the other run as eager training does."""
    results = []
    for graphs in (False, True):
        game, stack, scheme = _stack(names, "cuda")
        step = step_runner(stack, scheme, torch.device("cuda"), cuda_graphs=graphs)
        masks = []
        for i in range(9):
            if i == 6:
                with torch.no_grad():
                    game.theta[0][1].fill_(float("nan"))
            finite = step()
            masks.append(None if finite is None else finite.tolist())
        results.append((_params(game), masks, stack.G.lr.tolist()))
    (eager, masks, lr), (graphed, masks_g, lr_g) = results
    assert masks == masks_g and masks[6] == [True, False] and lr[1] == lr_g[1] == 0
    for a, b in zip(eager, graphed):
        assert torch.isfinite(b).all() and (b[1] == 0).all()
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@needs_cuda
def test_a_learning_rate_schedule_reaches_the_replayed_steps():
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    strategies = [get_strategy(n).resolve(problem.default_lr(opts)) for n in ("adam", "ttur")]
    out = [train_stack(problem, opts, strategies, [0, 1], 16, 8, device="cuda", calibrate=False,
                       lr_schedule="linear-decay", cuda_graphs=g) for g in (False, True)]
    for eager, graphed in zip(out[0].records, out[1].records):
        assert [r["step"] for r in eager] == [r["step"] for r in graphed] == [0, 8, 16]
        assert eager[-1]["loss_d"] == pytest.approx(graphed[-1]["loss_d"], rel=1e-5)
        assert eager[-1]["grad_norm_g"] == pytest.approx(graphed[-1]["grad_norm_g"], rel=1e-4)


@needs_cuda
def test_a_diverging_run_is_frozen_under_graphs_as_eagerly():
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    good = get_strategy("adam").resolve(problem.default_lr(opts))
    bad = dataclasses.replace(good, lr_g=1e30, lr_d=1e30)
    out = [train_stack(problem, opts, [good, bad], [0, 1], 12, 4, device="cuda", calibrate=False, cuda_graphs=g)
           for g in (False, True)]
    assert out[0].status == out[1].status == ["done", "diverged"]
    assert out[0].diverged_step == out[1].diverged_step
    assert out[0].records[0][-1]["mode_overlap"] == pytest.approx(out[1].records[0][-1]["mode_overlap"], abs=1e-6)
    assert out[0].records[0][-1]["loss_d"] == pytest.approx(out[1].records[0][-1]["loss_d"], rel=1e-5)


@pytest.mark.parametrize("command", [["perf", "--k", "1", "--out", "{tmp}/perf"],
                                     ["tune", "--suite", "tune-mixtures", "--problems", "ring8", "--store",
                                      "{tmp}/t.sqlite", "--table", "{tmp}/t.json"]], ids=lambda c: c[0])
def test_bench_perf_and_tune_refuse_cuda_graphs_on_a_cpu_in_one_line(tmp_path, command):
    args = [a.format(tmp=tmp_path) for a in command]
    done = subprocess.run([sys.executable, "-m", "bench", *args, "--device", "cpu", "--cuda-graphs"],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "error: --cuda-graphs: CUDA graphs need a CUDA device; this device is cpu"
    assert not list(tmp_path.iterdir())  # nothing written


def test_cuda_graphs_change_how_steps_launch_not_the_run_id():
    """Like the thread count, graphs change how a step is launched, not the run: a store's
    results are found again with or without them.  A strategy a graph cannot hold trains
    eagerly, named in a warning."""
    from bench.spec import SpecError, build_suite

    grid = (None, "ring8", "adam,extra-adam,optimistic", 2, 10)
    with pytest.raises(SpecError, match="--cuda-graphs: CUDA graphs need a CUDA device"):
        build_suite(*grid, cuda_graphs=True)
    on_cuda = build_suite(*grid, device="cuda")
    graphed = build_suite(*grid, device="cuda", cuda_graphs=True)
    assert {c.strategy.name: c.settings.cuda_graphs for c in graphed.grid} == {"adam": True, "extra-adam": True,
                                                                               "optimistic": False}
    assert {r.strategy.name for r in graphed.runs if r.cuda_graphs} == {"adam", "extra-adam"}
    assert [r.run_id for r in graphed.runs] == [r.run_id for r in on_cuda.runs]
    [warning] = list(graphed.warnings[len(on_cuda.warnings):])
    assert warning.startswith(
        "--cuda-graphs: ring8 · optimistic trains eagerly: scheme 'optimistic' cannot be captured: it keeps Python "
        "state between steps (previous); CUDA graphs take: simultaneous, alternating, extragradient, consensus, sga, "
        "unrolled")
