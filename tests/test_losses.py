import math

import torch

from ganopt import discriminator_loss, generator_loss


def logits():
    return torch.tensor([[[-3.0], [0.0], [2.5]], [[1.0], [-1.0], [0.5]]], dtype=torch.float64)


def test_discriminator_loss_is_the_cross_entropy_of_real_vs_fake():
    real, fake = logits(), logits().flip(1) * 0.7
    sig = torch.sigmoid
    expected = -(torch.log(sig(real)).mean((1, 2)) + torch.log(1 - sig(fake)).mean((1, 2)))
    assert torch.allclose(discriminator_loss(real, fake), expected, atol=1e-12)


def test_generator_losses_match_their_log_sigmoid_definitions():
    fake = logits()
    sig = torch.sigmoid(fake)
    assert torch.allclose(generator_loss(fake, "saturating"), torch.log(1 - sig).mean((1, 2)), atol=1e-12)
    assert torch.allclose(generator_loss(fake, "nonsaturating"), -torch.log(sig).mean((1, 2)), atol=1e-12)


def test_softplus_forms_stay_finite_where_the_naive_formula_overflows():
    fake = torch.tensor([[[-200.0], [200.0]]], dtype=torch.float64)
    assert torch.isfinite(generator_loss(fake, "nonsaturating")).all()
    assert torch.isfinite(discriminator_loss(fake, fake)).all()
    # -log sigma(-200) = 200 (up to exp(-200)); the naive form gives inf
    assert math.isclose(generator_loss(fake[:, :1], "nonsaturating").item(), 200.0, rel_tol=1e-12)


def test_losses_are_per_run():
    fake = logits()
    per_run = generator_loss(fake)
    assert per_run.shape == (2,)
    assert torch.allclose(per_run[1], generator_loss(fake[1:])[0])
