"""What GRACE and gCooL share: two corrupted views of each edge layer, a GCN encoder per edge
layer, a projection head, the optional POT regulariser, and ``embed``.

A graph batch is a validated ``torch_geometric.data.Data`` (``graph_cl.data.validate_graph``);
a multiplex graph carries its layers in ``edge_index_layers``. Each layer l has its own encoder
f_l; the projection head (and, in gCooL, the community centroids) is shared by all layers; the
node representation used downstream is the mean over layers, (1/L) sum_l f_l(X, A_l), and the
training loss is the mean of the per-layer objectives (one layer: the plain method). Neither
GRACE's nor gCooL's official code has a multiplex variant: this adaptation is ours.

A weighted graph (``edge_weight``, the averaged multiplex graph of ``graph_cl.data.average_layers``)
is read by methods whose objective ignores the edges (``WEIGHTED_EDGES``: GRACE): each view keeps
the weights of the edges it keeps, and the encoder propagates with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from graph_cl.data import edge_layers
from graph_cl.encoders import EncoderConfig
from graph_cl.pot import NodeCompactness, POTConfig
from graph_cl.views import ViewConfig, ViewWeights, two_views, view_weights
from shared.heads import ProjectionHead
from shared.losses.registry import build_objective, check_fits

NODE_CONTRAST_PROVIDES = frozenset({"two_views", "index"})
"""What the node contrast hands an objective: the two views' projected node embeddings, row i of
each the same node, and the node indices (which iSogCLR's per-node state needs)."""


class TwoViewGraphMethod(nn.Module):
    """Base of GRACE and gCooL; subclasses implement ``objective(h1, h2, edges1, edges2)``.

    Args:
        in_dim: node feature size.
        encoder: GCN and projection sizes.
        views: corruption rates and scheme of the two views; an adaptive (GCA) scheme's
            centrality weights are computed once per edge layer, on the first graph it trains
            on, and reused while the graph keeps its sizes.
        pot: POT regulariser settings (``kappa = 0`` disables it).
        num_edge_layers: 1 for a plain graph, L for an L-layer multiplex graph.
        normalize_projection: L2-normalise projected embeddings (gCooL) or not (GRACE).
        objective: an ``objective:`` section (``shared.losses.registry``) replacing the method's
            published node contrast; empty keeps the published one.
        num_nodes: the graph's node count (the per-sample state of objectives such as iSogCLR).
    """

    def __init__(
        self,
        in_dim: int,
        encoder: EncoderConfig,
        views: ViewConfig,
        pot: POTConfig,
        *,
        num_edge_layers: int = 1,
        normalize_projection: bool = False,
        objective: Mapping[str, Any] | None = None,
        num_nodes: int | None = None,
    ) -> None:
        super().__init__()
        self.node_objective: nn.Module | None = None
        if objective:
            check_fits(objective, NODE_CONTRAST_PROVIDES, method=type(self).__name__.lower())
            self.node_objective = build_objective(
                objective, dim=encoder.out_dim, num_samples=num_nodes
            )
        if num_edge_layers < 1:
            raise ValueError(f"num_edge_layers must be >= 1, got {num_edge_layers}")
        self.encoders = nn.ModuleList(encoder.build(in_dim) for _ in range(num_edge_layers))
        self.projector = ProjectionHead(
            encoder.out_dim,
            encoder.proj_dim,
            encoder.out_dim,
            batch_norm=False,
            activation="elu",
            normalize=normalize_projection,
        )
        if pot.kappa > 0 and views.scheme != "uniform":
            raise ValueError(
                f"POT's compactness bound assumes uniform edge dropping, but views.scheme is "
                f"{views.scheme!r}: use views.scheme=uniform with pot.kappa > 0"
            )
        self.views = views
        self._view_weights: list[ViewWeights | None] = [None] * num_edge_layers
        self.pot_cfg = pot
        self.compactness = (
            NodeCompactness((views.drop_edge_1, views.drop_edge_2)) if pot.kappa > 0 else None
        )

    def objective(
        self, h1: Tensor, h2: Tensor, edges1: Tensor, edges2: Tensor
    ) -> dict[str, Tensor]:
        """Losses of one edge layer from the projected views; must contain ``"loss"``."""
        raise NotImplementedError

    WEIGHTED_EDGES = False
    """Whether the objective is right on a weighted graph (it must not read the edges)."""

    def _edge_weight(self, data: Data) -> Tensor | None:
        """The graph's ``edge_weight`` (None when unweighted), if this method can use it."""
        weight = getattr(data, "edge_weight", None)
        if weight is not None and (not self.WEIGHTED_EDGES or self.compactness is not None):
            raise ValueError(
                f"{type(self).__name__}{' with POT' if self.compactness else ''} reads the edges "
                "unweighted; a weighted graph (data.merge_layers) needs GRACE without POT"
            )
        return weight

    def _layers(self, data: Data) -> list[Tensor]:
        layers = edge_layers(data)
        if len(layers) != len(self.encoders):
            raise ValueError(
                f"the graph has {len(layers)} edge layer(s) but the model was built for "
                f"{len(self.encoders)}"
            )
        return layers

    def _weights(self, layer: int, x: Tensor, edge_index: Tensor) -> ViewWeights | None:
        """The cached GCA weights of edge layer ``layer`` (None for uniform views)."""
        if self.views.scheme == "uniform":
            return None
        cached = self._view_weights[layer]
        if cached is None or not cached.fits(x, edge_index):  # on the CPU: deterministic sums
            cached = view_weights(x.cpu(), edge_index.cpu(), self.views)
        cached = cached.to(edge_index.device)
        self._view_weights[layer] = cached
        return cached

    def node_loss(self, h1: Tensor, h2: Tensor, published: Callable[[], Tensor]) -> Tensor:
        """The node contrast of the two views: the configured objective, else ``published()``."""
        if self.node_objective is None:
            return published()
        index = torch.arange(h1.shape[0], device=h1.device)
        return self.node_objective(h1, h2, index=index)

    def training_step(self, batch: Data) -> dict[str, Tensor]:
        totals: dict[str, Tensor] = {}
        layers = self._layers(batch)
        weight = self._edge_weight(batch)
        for layer, (encoder, edge_index) in enumerate(zip(self.encoders, layers, strict=True)):
            weights = self._weights(layer, batch.x, edge_index)
            (x1, e1), (x2, e2) = two_views(batch.x, edge_index, self.views, weights)
            if weight is None:
                z1, z2 = encoder(x1, e1), encoder(x2, e2)
            else:
                z1 = encoder(x1, e1, kept_edge_weight(edge_index, weight, e1))
                z2 = encoder(x2, e2, kept_edge_weight(edge_index, weight, e2))
            losses = self.objective(self.projector(z1), self.projector(z2), e1, e2)
            if self.compactness is not None:
                kappa = self.pot_cfg.kappa
                pot = self.compactness(
                    encoder, batch.x, edge_index, (e1, e2), (z1, z2), self.pot_cfg.max_nodes
                )
                losses["pot"] = pot
                losses["loss"] = (1 - kappa) * losses["loss"] + kappa * pot
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value / len(layers)
        return totals

    def embed(self, data: Data) -> Tensor:
        """Frozen node representations: the mean of the per-layer encoder outputs (N, out_dim)."""
        layers = self._layers(data)
        weight = self._edge_weight(data)
        out = sum(enc(data.x, e, weight) for enc, e in zip(self.encoders, layers, strict=True))
        return out / len(layers)


def kept_edge_weight(edge_index: Tensor, edge_weight: Tensor, kept: Tensor) -> Tensor:
    """The weights of ``kept``, a subset of the coalesced ``edge_index`` (a corrupted view keeps
    its edges in order), looked up by each edge's row-major position ``src * N + dst``."""
    n = int(edge_index.max()) + 1
    keys, query = edge_index[0] * n + edge_index[1], kept[0] * n + kept[1]
    position = torch.searchsorted(keys, query).clamp_(max=keys.shape[0] - 1)
    if not torch.equal(keys[position], query):
        raise ValueError("kept edges must be a subset of the weighted graph's edges")
    return edge_weight[position]
