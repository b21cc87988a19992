"""Optimisers and the learning-rate schedule.

The schedule is per epoch: ``scheduler: cosine`` warms up linearly over ``warmup_epochs`` and then
decays with a half cosine to 0 at ``epochs``,

    f(e) = (e + 1) / (W + 1)                                      for e < W
    f(e) = 1/2 (1 + cos(pi min(1, (e - W) / max(1, E - W))))       otherwise,

where ``e`` is the 0-based epoch, ``W`` the warm-up and ``E`` the total epochs; the learning rate
of epoch ``e`` is ``lr * f(e)`` (SGDR, Loshchilov & Hutter 2017, with the linear warm-up of Goyal et
al. 2017).

    >>> lr_factor(0, warmup=1, total=5), lr_factor(1, warmup=1, total=5)
    (0.5, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from shared.training.config import TrainerConfig

Optimize = Callable[..., None]
"""The callback a manually-optimised method gets: ``optimize(loss, index=0)`` zero-grads,
backpropagates (AMP-scaled), clips and steps optimiser ``index``."""


def make_optimizer(cfg: TrainerConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser ``cfg`` names (adam, adamw or sgd) over ``params``, with its lr and decay.

    Methods with several optimisers build each one with this in ``configure_optimizers``.
    """
    params = list(params)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)


def lr_factor(epoch: int, *, warmup: int, total: int) -> float:
    """The multiplier of the base learning rate in 0-based ``epoch`` (formula in the module
    docstring)."""
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    progress = (epoch - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(
    cfg: TrainerConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """The per-epoch schedule ``cfg.scheduler`` names for ``optimizer`` (None for ``none``)."""
    if cfg.scheduler == "none":
        return None
    warmup, total = cfg.warmup_epochs, cfg.epochs
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: lr_factor(epoch, warmup=warmup, total=total)
    )
