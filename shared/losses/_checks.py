"""Input validation shared by every loss: errors name the argument and the problem.

Shape, dtype and size checks read only metadata and always run. Checks that read tensor values
(finiteness, non-negative weights, "some anchor has a positive") copy a result to the host, which
on an accelerator waits for every queued kernel and undoes the trainer's deferred loss reads; they
run only when :data:`CHECK_VALUES` is true: set the environment variable
``CONTRAST_CHECK_FINITE=1`` before the import, or assign ``shared.losses._checks.CHECK_VALUES``
at run time. Without them a NaN input gives a NaN loss, which the trainer reports.

    CONTRAST_CHECK_FINITE=1 contrast graph pretrain --config configs/graph/gcool_cora.yaml
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

CHECK_VALUES: bool = os.environ.get("CONTRAST_CHECK_FINITE", "") == "1"


def check_temperature(temperature: float, name: str = "temperature") -> None:
    if not temperature > 0:
        raise ValueError(f"{name} must be > 0, got {temperature!r}")


def check_embeddings(name: str, x: Tensor, *, min_rows: int = 2, batched: bool = False) -> None:
    """Require a floating (N, d) tensor (``(..., N, d)`` when ``batched``) with at least
    ``min_rows`` rows; finite too when :data:`CHECK_VALUES` is set."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 and not (batched and x.dim() > 2):
        expected = "(N, d) or (..., N, d)" if batched else "(N, d)"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.shape[-2] < min_rows:
        raise ValueError(
            f"{name} has {x.shape[-2]} row(s); a contrastive loss needs at least {min_rows} "
            "(with a batch of 1 there are no negatives)"
        )
    if CHECK_VALUES and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).reshape(-1, x.shape[-1]).any(dim=1).nonzero().flatten()[:5]
        raise ValueError(f"{name} contains NaN or inf (first bad rows: {bad.tolist()})")


def check_pair(
    name_a: str, a: Tensor, name_b: str, b: Tensor, *, min_rows: int = 2, batched: bool = False
) -> None:
    """Two views of the same batch: both valid and of identical shape."""
    check_embeddings(name_a, a, min_rows=min_rows, batched=batched)
    check_embeddings(name_b, b, min_rows=min_rows, batched=batched)
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_same_dim(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{name_a} and {name_b} must share the embedding size, "
            f"got {a.shape[-1]} and {b.shape[-1]}"
        )
