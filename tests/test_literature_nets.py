"""The literature protocols' architecture options (batch normalization in G, maxout in D, N(0, σ²)
initialisation): each stacked network equals its torch.nn peer with the same weights, and a run
with them alone equals the same run in a stack."""

import dataclasses

import pytest
import torch

from ganopt import get_problem, get_strategy, train_stack
from ganopt.nets import init_mlp, mlp_forward

SEEDS = torch.tensor([3, 8, 21])


def _linear(w, b):
    layer = torch.nn.Linear(w.shape[0], w.shape[1], dtype=w.dtype)
    with torch.no_grad():
        layer.weight.copy_(w.T)
        layer.bias.copy_(b[0])
    return layer


class Maxout(torch.nn.Module):
    """nn.Linear to out·pieces units, the maximum over each unit's pieces."""

    def __init__(self, linear, pieces):
        super().__init__()
        self.linear, self.pieces = linear, pieces

    def forward(self, x):
        y = self.linear(x)
        return y.view(*y.shape[:-1], -1, self.pieces).max(dim=-1).values


def _peer(params, run, *, batch_norm=False, maxout=1):
    """The torch.nn network of run `run` with the stacked network's weights."""
    layers, i = [], 0
    per_hidden = 4 if batch_norm else 2
    n_hidden = (len(params) - 2) // per_hidden
    for _ in range(n_hidden):
        linear = _linear(params[i][run], params[i + 1][run])
        layers.append(Maxout(linear, maxout) if maxout > 1 else linear)
        if batch_norm:
            norm = torch.nn.BatchNorm1d(params[i + 2].shape[-1])  # training mode: batch statistics
            with torch.no_grad():
                norm.weight.copy_(params[i + 2][run, 0])
                norm.bias.copy_(params[i + 3][run, 0])
            layers.append(norm)
        if maxout == 1:
            layers.append(torch.nn.ReLU())
        i += per_hidden
    layers.append(_linear(params[i][run], params[i + 1][run]))
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("kind", [{"batch_norm": True}, {"maxout": 5}, {"maxout": 3, "batch_norm": True}])
def test_a_stacked_network_and_its_gradients_equal_the_torch_nn_peer(kind):
    params = init_mlp((2, 12, 12, 1), SEEDS, 1, init_std=0.5, **kind)
    with torch.no_grad():  # non-trivial scales and shifts, different per run
        for p in params:
            p.add_(0.1 * torch.randn_like(p))
    params = [p.requires_grad_() for p in params]
    x = torch.randn(3, 40, 2)
    out = mlp_forward(params, x, **kind)
    out.square().sum().backward()
    for run in range(3):
        peer = _peer([p.detach() for p in params], run, **kind)
        expected = peer(x[run])
        assert torch.allclose(out[run].detach(), expected.detach(), atol=1e-5)
        expected.square().sum().backward()
        peer_grads = [g for m in peer for g in (m.linear if isinstance(m, Maxout) else m).parameters()]
        stacked_grads = [p.grad[run] for p in params]
        assert len(peer_grads) == len(stacked_grads)
        for ours, theirs in zip(stacked_grads, peer_grads):
            theirs = theirs.grad
            theirs = theirs.T if theirs.dim() == 2 else theirs
            assert torch.allclose(ours.reshape(theirs.shape), theirs, atol=1e-4), (run, ours.shape)


def test_normal_initialisation_has_the_requested_scale_and_zero_biases():
    params = init_mlp((2, 400, 400, 2), torch.arange(4), 1, init_std=0.02, maxout=5)
    assert params[0].shape == (4, 2, 2000) and params[2].shape == (4, 400, 2000)
    assert params[2].std().item() == pytest.approx(0.02, rel=0.01)
    assert all(torch.count_nonzero(b) == 0 for b in params[1::2])
    # each run draws its own weights
    assert not torch.equal(params[2][0], params[2][1])


def test_the_default_initialisation_is_unchanged_by_the_new_options():
    plain = init_mlp((16, 64, 64, 2), SEEDS, 1)
    assert [p.shape for p in plain] == [(3, 16, 64), (3, 1, 64), (3, 64, 64), (3, 1, 64), (3, 64, 2), (3, 1, 2)]
    bound = 1 / 16 ** 0.5
    assert plain[0].abs().max() <= bound and plain[0].abs().max() > 0.9 * bound


PACGAN_SMALL = {"latent_dim": 2, "g_hidden": [24, 24], "d_hidden": [16, 16], "g_batch_norm": True, "d_maxout": 5,
                "init_std": 0.02, "batch_size": 50}


@pytest.mark.parametrize("strategy", ["adam", "extragradient", "alt-sgd"])
def test_a_run_with_batch_norm_and_maxout_alone_and_in_a_stack_agree(strategy):
    problem = get_problem("ring8")
    opts = problem.check_options(PACGAN_SMALL)
    base = get_strategy(strategy).resolve(problem.default_lr(opts))
    others = [dataclasses.replace(base, lr_g=base.lr_g * f, lr_d=base.lr_d * f) for f in (0.5, 2.0)]
    alone = train_stack(problem, opts, [base], [7], 20, 5)
    stack = train_stack(problem, opts, [others[0], base, others[1]], [3, 7, 11], 20, 5)
    for a, b in zip(alone.records[0], stack.records[1]):
        for key in ("loss_g", "loss_d", "grad_norm_g", "grad_norm_d", "mode_overlap"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (a["step"], key)
    assert stack.records[0][-1]["loss_d"] != pytest.approx(stack.records[1][-1]["loss_d"], rel=1e-6)


def test_the_options_are_validated():
    problem = get_problem("ring8")
    for bad, message in [({"d_maxout": 0}, "d_maxout"), ({"g_batch_norm": 1}, "g_batch_norm"),
                         ({"init_std": -0.1}, "init_std"), ({"g_batch_norm": True, "batch_size": 1}, "batch_size >= 2")]:
        with pytest.raises(ValueError, match=message):
            problem.check_options(bad)
