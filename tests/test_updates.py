"""Peers: each stacked base update equals torch.optim on the same gradients, run by run."""

import pytest
import torch

from ganopt.stack import Player

K = 4
SHAPES = [(3, 5), (1, 5)]
LRS = [1e-3, 5e-3, 2e-2, 1e-1]


def gradient_sequence(dtype=torch.float64, steps=25):
    gen = torch.Generator().manual_seed(0)
    return [[torch.randn(K, *s, generator=gen, dtype=torch.float64).to(dtype) for s in SHAPES] for _ in range(steps)]


def run_stacked(base, hyper, dtype=torch.float64):
    gen = torch.Generator().manual_seed(1)
    params = [torch.randn(K, *s, generator=gen, dtype=torch.float64).to(dtype) for s in SHAPES]
    start = [p.clone() for p in params]
    # as in Stack: the learning rate in the parameters' dtype, Adam's scalars in float64
    player = Player(params, base, torch.tensor(LRS, dtype=dtype),
                    {k: torch.tensor(v, dtype=torch.float64 if base == "adam" else dtype) for k, v in hyper.items()})
    for grads in gradient_sequence(dtype):
        player.move(player.direction(grads))
    return start, params


def run_torch(start, make_optimizer, run):
    params = [torch.nn.Parameter(p[run].clone()) for p in start]
    opt = make_optimizer(params, run)
    for grads in gradient_sequence(start[0].dtype):
        for p, g in zip(params, grads):
            p.grad = g[run].clone()
        opt.step()
    return params


CASES = {
    "sgd": ({}, lambda ps, i: torch.optim.SGD(ps, lr=LRS[i])),
    "momentum": ({"beta": [0.9, 0.5, -0.5, 0.0]},
                 lambda ps, i: torch.optim.SGD(ps, lr=LRS[i], momentum=[0.9, 0.5, -0.5, 0.0][i])),
    "adam": ({"beta1": [0.5, 0.9, 0.0, 0.5], "beta2": [0.999, 0.99, 0.9, 0.999], "eps": [1e-8, 1e-6, 1e-8, 1e-3]},
             lambda ps, i: torch.optim.Adam(ps, lr=LRS[i], betas=([0.5, 0.9, 0.0, 0.5][i], [0.999, 0.99, 0.9, 0.999][i]),
                                            eps=[1e-8, 1e-6, 1e-8, 1e-3][i])),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("base", CASES)
def test_stacked_update_equals_torch_optim_for_every_stack_member(base, dtype):
    hyper, make_optimizer = CASES[base]
    start, ours = run_stacked(base, hyper, dtype)
    for run in range(K):
        if base == "momentum" and hyper["beta"][run] < 0:
            continue  # torch.optim.SGD refuses negative momentum: see the recurrence test below
        theirs = run_torch(start, make_optimizer, run)
        for a, b in zip(ours, theirs):
            assert torch.allclose(a[run], b.detach(), atol=1e-6, rtol=0), f"{base}, run {run}"


def test_negative_momentum_follows_the_heavy_ball_recurrence():
    beta, lr = -0.5, LRS[2]
    start, ours = run_stacked("momentum", {"beta": [0.9, 0.5, beta, 0.0]})
    params = [p[2].clone() for p in start]
    bufs = [torch.zeros_like(p) for p in params]
    for grads in gradient_sequence():
        for p, b, g in zip(params, bufs, grads):
            b.mul_(beta).add_(g[2])
            p.sub_(lr * b)
    for a, b in zip(ours, params):
        assert torch.allclose(a[2], b, atol=1e-12)


def test_the_example_rmsprop_plugin_equals_torch_optim_rmsprop_for_every_stack_member():
    import runpy
    from pathlib import Path

    from ganopt.updates import BASE_UPDATES

    runpy.run_path(str(Path(__file__).parents[1] / "examples" / "my_strategies.py"))
    assert "rmsprop" in BASE_UPDATES
    alphas, eps = [0.99, 0.9, 0.5, 0.999], [1e-8, 1e-6, 1e-8, 1e-3]
    start, ours = run_stacked("rmsprop", {"alpha": alphas, "eps": eps})
    for run in range(K):
        theirs = run_torch(start, lambda ps, i: torch.optim.RMSprop(ps, lr=LRS[i], alpha=alphas[i], eps=eps[i]), run)
        for a, b in zip(ours, theirs):
            assert torch.allclose(a[run], b.detach(), atol=1e-9, rtol=0), f"rmsprop, run {run}"


@pytest.mark.parametrize("setting, value, accepted", [
    ("beta", -0.999, True), ("beta", -1.0, False), ("beta", 1.0, False),
    ("beta1", 0.0, True), ("beta1", 1.0, False), ("beta2", 0.0, True), ("beta2", 1.0, False),
    ("eps", 1e-30, True), ("eps", 0.0, False),
])
def test_the_base_updates_settings_are_declared_once(setting, value, accepted):
    """A Strategy checks beta, beta1, beta2 and eps against the base updates' own declarations,
    so both say the same range (momentum's beta open at both ends, Adam's betas [0, 1))."""
    from ganopt import Strategy
    from ganopt.strategies import FIELD_DECLARATIONS
    from ganopt.updates import Adam, Momentum

    assert {h.name: h for h in FIELD_DECLARATIONS} == {h.name: h for h in Momentum.hyperparameters + Adam.hyperparameters}
    if accepted:
        assert getattr(Strategy("s", base="momentum", **{setting: value}), setting) == value
    else:
        with pytest.raises(ValueError, match=f"{setting} must lie in"):
            Strategy("s", base="momentum", **{setting: value})
