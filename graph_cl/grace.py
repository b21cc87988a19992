"""GRACE (Zhu, Xu, Yu, Liu, Wu, Wang 2020, "Deep Graph Contrastive Representation Learning",
ICML GRL+ workshop; official code github.com/CRIPAC-DIG/GRACE).

Two views by edge removing and feature masking, a shared GCN encoder f and projection g; with
u_i = g(f(view 1))_i, v_i = g(f(view 2))_i and theta(a, b) = cos(a, b) / tau,

    l(u_i, v_i) = -log( e^{theta(u_i, v_i)} / ( e^{theta(u_i, v_i)}
                        + sum_{k != i} e^{theta(u_i, v_k)} + sum_{k != i} e^{theta(u_i, u_k)} ) ),
    L = (1 / 2N) sum_i [ l(u_i, v_i) + l(v_i, u_i) ],

i.e. NT-Xent with inter- and intra-view negatives: ``shared.losses.info_nce`` with
``intra_view_negatives=True`` (or ``tiled_info_nce`` for large graphs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from graph_cl.contrast import node_contrast
from graph_cl.encoders import EncoderConfig
from graph_cl.pot import POTConfig
from graph_cl.two_view import TwoViewGraphMethod
from graph_cl.views import ViewConfig


@dataclass
class GraceConfig:
    """GRACE hyper-parameters; defaults are the official Cora configuration."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    views: ViewConfig = field(default_factory=ViewConfig)
    temperature: float = 0.4
    tiled: bool = False  # dense logits only up to contrast.DENSE_MAX_NODES nodes, else tiled
    pot: POTConfig = field(default_factory=POTConfig)


class GRACE(TwoViewGraphMethod):
    """GRACE (module docstring), optionally with the POT regulariser."""

    WEIGHTED_EDGES = True

    def __init__(
        self,
        in_dim: int,
        cfg: GraceConfig,
        num_edge_layers: int = 1,
        *,
        objective: Mapping[str, Any] | None = None,
        num_nodes: int | None = None,
    ) -> None:
        super().__init__(
            in_dim,
            cfg.encoder,
            cfg.views,
            cfg.pot,
            num_edge_layers=num_edge_layers,
            objective=objective,
            num_nodes=num_nodes,
        )
        self.temperature = cfg.temperature
        self.tiled = cfg.tiled

    def objective(
        self, h1: Tensor, h2: Tensor, edges1: Tensor, edges2: Tensor
    ) -> dict[str, Tensor]:
        loss = self.node_loss(
            h1,
            h2,
            lambda: node_contrast(
                h1, h2, self.temperature, intra_view_negatives=True, tiled=self.tiled
            ),
        )
        return {"loss": loss}
