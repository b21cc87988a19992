"""Projection heads placed between an encoder and a contrastive loss."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "elu": nn.ELU,
}


class ProjectionHead(nn.Module):
    """MLP projection head g(h) of SimCLR (Chen et al. 2020): ``num_layers`` linear layers with
    BatchNorm (optional) and an activation between them, none after the last; ``normalize``
    L2-normalises the output.

    SimCLR shows the contrastive loss is best applied to g(h) while h is kept for downstream use.
    GRACE / gCooL's head is ``ProjectionHead(d, p, d, batch_norm=False, activation="elu")``,
    i.e. ``W2 elu(W1 z + b1) + b2``.

        >>> head = ProjectionHead(128, 512, 64)
        >>> head(torch.randn(8, 128)).shape
        torch.Size([8, 64])
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        batch_norm: bool = True,
        activation: Literal["relu", "elu"] = "relu",
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        self.normalize = normalize
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
            last = i == num_layers - 1
            layers.append(nn.Linear(d_in, d_out, bias=last or not batch_norm))
            if not last:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(d_out))
                layers.append(_ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        out = self.net(h)
        return F.normalize(out, dim=-1) if self.normalize else out
