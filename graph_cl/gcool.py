"""gCooL: Graph Communal Contrastive Learning (Li, Jing, Tong 2022, WWW 2022, arXiv 2110.14863;
official code github.com/lblaoke/gCooL: src/model.py, main.py, param/*.json).

Per edge layer, two views (edge dropping + feature masking) go through the GCN encoder and a
projection head with unit-norm output, h1 and h2. Three terms:

- node contrast: cross-view InfoNCE,
  l_i = -log( e^{<h1_i, h2_i>/tau} / sum_j e^{<h1_i, h2_j>/tau} ),
  symmetrised (``shared.losses.info_nce`` with ``intra_view_negatives=False``). The official
  ``gCooL.node_contrast`` sets ``s21 = s12`` (model.py l. 76), so its "second direction" repeats
  the first and only the view-1 anchors count; here both directions count, as in GRACE;
- DeCA (``graph_cl.deca.DenseCommunityAggregation``): learnable centroids and soft assignments
  R1, R2 of each view, trained to raise intra- and lower inter-community edge density;
- ReSC (``graph_cl.contrast.reweighted_community_contrast``): each node of one view against the
  community centroids of the other view, negatives reweighted by exp(-gamma ||c_k - c_l||^2).

Joint objective at epoch e = 0, 1, ... (official ``gCooL.fit``: DeCA first, then ReSC, both
fading out):

    coef = exp(-e / stride),  alpha = max(0, 1 - e / (alpha_rate * stride)),
    L = L_node + alpha * ( coef * (L_DeCA(R1) + L_DeCA(R2)) / 2
                           + (1 - coef) * (ReSC(h1 -> view 2) + ReSC(h2 -> view 1)) / 2 ).

The official ``main.py`` never passes ``alpha_rate``, so every published run uses 0.2: the
community terms act during the first 0.2 * stride epochs only (100 at stride 500, 200 at 1000).
After that the centroids get a zero gradient (Adam's weight decay still moves them a little) while
the encoder keeps training, so ``communities`` at the end of a longer run reads centroids that
stopped learning at epoch alpha_rate * stride.

Views: the official code always uses GCA's adaptive views (degree / PageRank / eigenvector
weighted edge dropping and feature masking, ``drop_scheme`` in param/*.json); here they are
``views.scheme`` (``graph_cl.views``), whose default "uniform" is GRACE's views (the Cora configs
keep it: the official repository has no Cora setting).

Multiplex graphs: the official repository has no multiplex code (src/ and main.py handle one
edge set; its data sets are WikiCS, Amazon-Computers/Photo and Coauthor-CS) and the paper's
multiplex section could not be checked against a stored copy, so this adaptation is ours
(``graph_cl.two_view``): one encoder per edge layer, one projection head and one set of DeCA
centroids shared by all layers (the layers describe the same nodes and communities), the
per-layer objectives averaged, and the node representation is the mean of the layer encoders'
outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graph_cl.contrast import node_contrast, reweighted_community_contrast
from graph_cl.deca import DenseCommunityAggregation
from graph_cl.encoders import EncoderConfig
from graph_cl.pot import POTConfig
from graph_cl.two_view import TwoViewGraphMethod
from graph_cl.views import ViewConfig


@dataclass
class GCoolConfig:
    """gCooL hyper-parameters (names of the official code: tau, num_community, lamda, gamma,
    stride, alpha_rate)."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    views: ViewConfig = field(default_factory=ViewConfig)
    temperature: float = 0.4
    num_communities: int = 10
    inter_weight: float = 1.0
    gamma: float = 8e-5
    stride: int = 500
    alpha_rate: float = 0.2
    tiled: bool = False  # dense logits only up to contrast.DENSE_MAX_NODES nodes, else tiled
    pot: POTConfig = field(default_factory=POTConfig)

    def __post_init__(self) -> None:
        if self.stride < 1 or not self.alpha_rate > 0:
            raise ValueError("gcool.stride must be >= 1 and gcool.alpha_rate > 0")


class GCooL(TwoViewGraphMethod):
    """gCooL (module docstring), optionally with the POT regulariser."""

    epoch: Tensor  # buffer: the epochs finished, which the schedule reads

    def __init__(
        self,
        in_dim: int,
        cfg: GCoolConfig,
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
            normalize_projection=True,
            objective=objective,
            num_nodes=num_nodes,
        )
        self.cfg = cfg
        self.deca = DenseCommunityAggregation(
            cfg.num_communities, cfg.encoder.out_dim, cfg.temperature, cfg.inter_weight
        )
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))

    def schedule(self) -> tuple[float, float]:
        """``(alpha, coef)`` of the joint objective at the current epoch."""
        e = int(self.epoch)
        alpha = max(0.0, 1.0 - e / (self.cfg.alpha_rate * self.cfg.stride))
        return alpha, math.exp(-e / self.cfg.stride)

    def on_epoch_end(self, epoch: int) -> None:
        self.epoch.fill_(epoch)

    def objective(
        self, h1: Tensor, h2: Tensor, edges1: Tensor, edges2: Tensor
    ) -> dict[str, Tensor]:
        tau = self.cfg.temperature
        node = self.node_loss(
            h1,
            h2,
            lambda: node_contrast(h1, h2, tau, intra_view_negatives=False, tiled=self.cfg.tiled),
        )
        r1, deca1 = self.deca(h1, edges1)
        r2, deca2 = self.deca(h2, edges2)
        deca = (deca1 + deca2) / 2
        resc = (
            reweighted_community_contrast(h1, h2, r2, tau, self.cfg.gamma)
            + reweighted_community_contrast(h2, h1, r1, tau, self.cfg.gamma)
        ) / 2
        alpha, coef = self.schedule()
        loss = node + alpha * (coef * deca + (1 - coef) * resc)
        return {"loss": loss, "node": node, "deca": deca, "resc": resc}

    @torch.no_grad()
    def communities(self, data: Data) -> Tensor:
        """DeCA's hard communities (N,): argmax of the assignment of the projected embedding."""
        return self.deca.assign(self.projector(self.embed(data))).argmax(dim=1)
