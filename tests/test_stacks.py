"""A run's result does not depend on its stack; a diverging run is frozen and isolated."""

import dataclasses

import pytest
import torch

from ganopt import get_problem, get_strategy, train_stack
from ganopt.rng import Stream, normal, stream_keys

SMALL = {"g_hidden": [32, 32], "d_hidden": [32, 32], "batch_size": 64}


def resolved(name, problem, **changes):
    return dataclasses.replace(get_strategy(name), **changes).resolve(problem.lr)


def test_random_streams_do_not_depend_on_the_stack():
    alone = normal(stream_keys(torch.tensor([5]), Stream.LATENT, 3), (100, 4))
    stacked = normal(stream_keys(torch.tensor([1, 5, 9]), Stream.LATENT, 3), (100, 4))
    assert torch.equal(alone[0], stacked[1])
    assert not torch.equal(stacked[0], stacked[1])


@pytest.mark.parametrize("strategy", ["adam", "extragradient", "alt-sgd", "optimistic-adam", "momentum"])
def test_a_run_alone_and_in_a_stack_of_four_agree_over_20_steps(strategy):
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    target = resolved(strategy, problem)
    others = [resolved(strategy, problem, lr_g=target.lr_g * f, lr_d=target.lr_d * f) for f in (0.5, 2.0, 3.0)]
    alone = train_stack(problem, opts, [target], [7], 20, 1)
    stack = train_stack(problem, opts, [others[0], target, others[1], others[2]], [3, 7, 7, 11], 20, 1)
    for a, b in zip(alone.records[0], stack.records[1]):
        for key in ("loss_g", "loss_d", "grad_norm_g", "grad_norm_d", "hq_fraction"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (a["step"], key)
    # the other members really differ (a different lr or seed changes the trajectory)
    assert stack.records[0][-1]["loss_d"] != pytest.approx(stack.records[1][-1]["loss_d"], rel=1e-6)


def test_a_diverging_run_is_marked_and_frozen_and_the_others_are_unaffected():
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    good = resolved("sgd", problem, lr_g=0.01, lr_d=0.01)
    bad = resolved("sgd", problem, lr_g=1e30, lr_d=1e30)
    with_bad = train_stack(problem, opts, [good, bad, good], [0, 1, 2], 30, 5)
    without = train_stack(problem, opts, [good, good], [0, 2], 30, 5)
    assert with_bad.status == ["done", "diverged", "done"]
    step = with_bad.diverged_step[1]
    assert step is not None and 1 <= step <= 30
    # records of the diverged run stop before its divergence step, and every one is finite
    assert all(r["step"] < step for r in with_bad.records[1])
    assert all(torch.isfinite(torch.tensor(r["loss_d"])) for r in with_bad.records[1])
    for i, j in [(0, 0), (2, 1)]:
        assert [r["loss_d"] for r in with_bad.records[i]] == pytest.approx([r["loss_d"] for r in without.records[j]], rel=1e-4)


def test_a_stack_refuses_strategies_with_different_schemes():
    problem = get_problem("bilinear")
    with pytest.raises(ValueError, match="share scheme"):
        train_stack(problem, problem.check_options({}),
                    [resolved("gd", problem), resolved("extragradient", problem)], [0, 1], 5, 1)


@pytest.mark.parametrize("strategy", ["optimistic", "past-extragradient", "extragradient", "momentum"])
def test_diverged_runs_stay_frozen_and_finite_under_every_scheme(strategy):
    problem = get_problem("bilinear")
    exploding = problem.check_options({"coupling": 1e200})  # overflows to inf within a few steps
    s = resolved(strategy, problem)
    result = train_stack(problem, exploding, [s, s], [0, 1], 20, 5)
    assert result.status == ["diverged", "diverged"]
    assert all(r["step"] < result.diverged_step[0] for r in result.records[0])


def test_diverged_runs_parameters_are_zero_and_finite_after_freezing():
    from ganopt.stack import Stack
    from ganopt.schemes import SCHEMES
    problem = get_problem("bilinear")
    game = problem.build(problem.check_options({"coupling": 1e200}), torch.tensor([0, 1]), True, "cpu")
    s = resolved("optimistic", problem)
    stack = Stack(game, [s, s], "cpu")
    scheme = SCHEMES["optimistic"](stack)
    for _ in range(10):
        scheme.step()
        finite = stack.finite_runs()
        if not finite.all():
            stack.G.freeze(~finite)
            stack.D.freeze(~finite)
    assert stack.finite_runs().all()


def test_the_hash_streams_used_off_cpu_are_stack_independent_and_standard_normal():
    from ganopt.rng import _hash_normal, _hash_uniform
    alone = _hash_normal(stream_keys(torch.tensor([5]), Stream.LATENT, 3), (50_000,))
    stacked = _hash_normal(stream_keys(torch.tensor([1, 5, 9]), Stream.LATENT, 3), (50_000,))
    assert torch.equal(alone[0], stacked[1])
    assert abs(stacked.mean().item()) < 0.01 and abs(stacked.std().item() - 1) < 0.01
    u = _hash_uniform(stream_keys(torch.arange(4), Stream.DATA, 0), (50_000,))
    assert 0 < u.min().item() and u.max().item() < 1 and abs(u.mean().item() - 0.5) < 0.01
    # float32 and float64 hashed uniforms are the same numbers
    keys = stream_keys(torch.arange(2), Stream.DATA, 1)
    assert torch.equal(_hash_uniform(keys, (1000,), torch.float64).float(), _hash_uniform(keys, (1000,)))


@pytest.mark.slow
def test_runs_with_different_base_updates_and_estimates_share_a_stack_exactly():
    problem = get_problem("ring8")
    opts = problem.check_options(SMALL)
    names = ["gd", "sgd", "momentum", "adam", "ttur"]
    strategies = [resolved(n, problem) for n in names]
    mixed = train_stack(problem, opts, strategies, [4] * len(names), 15, 5)
    for i, strategy in enumerate(strategies):
        alone = train_stack(problem, opts, [strategy], [4], 15, 5)
        for a, b in zip(alone.records[0], mixed.records[i]):
            for key in ("loss_g", "loss_d", "grad_norm_g", "grad_norm_d"):
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (names[i], a["step"], key)


@pytest.mark.parametrize("preset", ["adam", "momentum", "optimistic-adam", "past-extragradient", "alt-adam",
                                    "lookahead-extra-adam", "unrolled", "negative-momentum"])
def test_a_checkpoint_continues_the_trajectory_exactly(preset):
    """A scheme's state is declared (Scheme.state), so a checkpoint holds all a run carries
    between steps: 4 steps, a checkpoint loaded into a freshly built stack, 5 more steps equal
    9 steps in one go, bit for bit (lookahead's slow step falls after the checkpoint)."""
    from ganopt.schemes import load_checkpoint, save_checkpoint
    from ganopt.train import _build

    problem = get_problem("ring8")
    options = problem.check_options({})
    strategy = get_strategy(preset).resolve(problem.default_lr(options))
    _, stack, scheme = _build(problem, options, [strategy, strategy], [3, 4], torch.device("cpu"))
    for _ in range(4):
        scheme.step()
    saved = save_checkpoint(scheme)
    for _ in range(5):
        scheme.step()
    _, resumed_stack, resumed = _build(problem, options, [strategy, strategy], [3, 4], torch.device("cpu"))
    load_checkpoint(resumed, saved)
    for _ in range(5):
        resumed.step()
    for a, b in zip(stack.G.params + stack.D.params, resumed_stack.G.params + resumed_stack.D.params):
        assert torch.equal(a, b)
    assert resumed_stack.grad_evals == stack.grad_evals
