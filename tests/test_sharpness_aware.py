"""Sharpness-aware minimisation of the crop classifier (training.config.sharpness_aware_step): the step
computed by hand, BatchNorm statistics updated by the first pass only, a diverged step refused."""

from __future__ import annotations

import pytest
import torch
from pytorch_optimizer import SAM
from torch import nn

from dftag.training.config import build_optimizer, parameter_groups, sharpness_aware_step, warmup_cosine


def half_square_norm(w: torch.Tensor) -> torch.Tensor:
    return 0.5 * (w ** 2).sum()


def full_rate_schedule(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate of ``warmup_cosine`` at its first step, held (a schedule of 1000 steps, no warm-up)."""
    return warmup_cosine(optimizer, total_steps=1000, warmup_steps=0)


def test_step_descends_along_the_gradient_at_the_perturbed_weights():
    # loss 0.5 |w|^2 at w = (3, 4): g = w, |g| = 5; rho 0.5 moves w to w + 0.5 g / 5 = (3.3, 4.4), whose
    # gradient is (3.3, 4.4); SGD with lr 0.1 applies it at w: (3, 4) - 0.1 (3.3, 4.4) = (2.67, 3.56)
    w = nn.Parameter(torch.tensor([3.0, 4.0]))
    model = nn.Module()
    model.w = w
    optimizer = build_optimizer([{"params": [w], "weight_decay": 0.0}], "sgd", 0.1, momentum=0.0, sam_rho=0.5)
    assert isinstance(optimizer, SAM)
    assert sharpness_aware_step(half_square_norm(w), lambda: half_square_norm(w), model, optimizer,
                                full_rate_schedule(optimizer), grad_clip=100.0)
    assert torch.allclose(w.detach(), torch.tensor([2.67, 3.56]))
    # a plain step from the same point would have used the gradient at w itself: (2.7, 3.6)


def test_clipping_applies_to_the_gradient_that_is_stepped():
    w = nn.Parameter(torch.tensor([3.0, 4.0]))
    model = nn.Module()
    model.w = w
    optimizer = build_optimizer([{"params": [w], "weight_decay": 0.0}], "sgd", 0.1, momentum=0.0, sam_rho=0.5)
    sharpness_aware_step(half_square_norm(w), lambda: half_square_norm(w), model, optimizer,
                         full_rate_schedule(optimizer), grad_clip=1.0)
    # the perturbed gradient (3.3, 4.4) has norm 5.5; clipped to 1 it is (0.6, 0.8)
    assert torch.allclose(w.detach(), torch.tensor([3.0 - 0.06, 4.0 - 0.08]))


def test_batchnorm_statistics_come_from_the_first_pass_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    reference = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    reference.load_state_dict(model.state_dict())
    x, y = torch.randn(8, 3), torch.rand(8, 1)

    def loss() -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(model(x), y)

    optimizer = build_optimizer(parameter_groups(model, 1e-4), "adamw", 1e-2, sam_rho=0.05)
    scheduler = warmup_cosine(optimizer, total_steps=10, warmup_steps=0)
    assert sharpness_aware_step(loss(), loss, model, optimizer, scheduler, grad_clip=10.0)
    reference(x)  # one training-mode forward pass: the statistics one step should leave
    assert torch.allclose(model[1].running_mean, reference[1].running_mean)
    assert torch.allclose(model[1].running_var, reference[1].running_var)
    assert model[1].momentum == reference[1].momentum  # restored after the second pass
    assert scheduler.last_epoch == 1


def test_a_non_finite_loss_is_refused():
    w = nn.Parameter(torch.tensor([3.0, 4.0]))
    model = nn.Module()
    model.w = w
    optimizer = build_optimizer([{"params": [w], "weight_decay": 0.0}], "adamw", 0.1, sam_rho=0.5)
    scheduler = full_rate_schedule(optimizer)
    assert not sharpness_aware_step(half_square_norm(w) * float("nan"), lambda: half_square_norm(w), model,
                                    optimizer, scheduler, grad_clip=10.0)
    assert scheduler.last_epoch == 0


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_radius_zero_is_the_plain_optimizer(name):
    w = nn.Parameter(torch.zeros(2))
    assert not isinstance(build_optimizer([{"params": [w]}], name, 0.1), SAM)
