"""DeCA: Dense Community Aggregation (Li, Jing, Tong 2022, "Graph Communal Contrastive Learning",
WWW 2022, Sec. 4.1), with sparse edge-list operations only.

K learnable centroids c_k in R^d; node i (projected embedding h_i, unit norm) is softly assigned

    R_ik = softmax_k( <h_i, c_k / ||c_k||> / tau ).

With the edge list A (both directions of each undirected edge) and m = N(N - 1) ordered node
pairs, the community edge-density matrix is F = R^T A R (K x K), F_kl = sum_{(i,j) in A} R_ik R_jl.
Its diagonal measures intra-community density and its off-diagonal inter-community density:

    D_intra = tr(F) / m,        D_inter = (sum(F) - tr(F)) / m.

DeCA minimises (the form of the official implementation, github.com/lblaoke/gCooL, src/model.py)

    L_DeCA = lambda * D_inter - (N - 1) * D_intra + tr(R^T R) / (2N),

i.e. it raises the density of edges inside communities, lowers it between communities, and the
last term (the mean squared norm of the assignment rows, halved) penalises over-confident
assignments. F is computed edge by edge, F = R[src]^T R[dst], in O(E K) memory: no dense N x N
adjacency is ever built. The official code fills a binary dense A (A[src, dst] = 1), so a repeated
edge counts once there; the graphs here are coalesced (``graph_cl.data.validate_graph``) and the
views only remove edges, so each edge appears once and both forms agree. As in the official code
(src/model.py, ``gCooL.community_assign``), the assignment uses the embeddings detached, so L_DeCA
trains the centroids while ReSC (``graph_cl.gcool``) trains the encoder with the resulting
communities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DenseCommunityAggregation(nn.Module):
    """Learnable community centroids, soft assignments and the DeCA edge-density objective.

    Args:
        num_communities: K >= 2.
        dim: size of the (projected) node embeddings.
        temperature: tau > 0 of the assignment softmax.
        inter_weight: lambda >= 0, the weight of the inter-community density.
    """

    def __init__(
        self, num_communities: int, dim: int, temperature: float = 0.4, inter_weight: float = 1.0
    ) -> None:
        super().__init__()
        if num_communities < 2:
            raise ValueError(f"num_communities must be >= 2, got {num_communities}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if inter_weight < 0:
            raise ValueError(f"inter_weight must be >= 0, got {inter_weight!r}")
        self.centroids = nn.Parameter(torch.randn(num_communities, dim))
        self.temperature = temperature
        self.inter_weight = inter_weight

    @property
    def num_communities(self) -> int:
        return self.centroids.shape[0]

    def assign(self, h: Tensor) -> Tensor:
        """Soft assignments R (N, K) of ``h`` (N, d); only the centroids get gradients."""
        if h.shape[0] < self.num_communities:
            raise ValueError(
                f"{self.num_communities} communities for {h.shape[0]} nodes: use at most as many "
                "communities as nodes"
            )
        logits = h.detach() @ F.normalize(self.centroids, dim=1).T / self.temperature
        return logits.softmax(dim=1)

    def density_matrix(self, assignment: Tensor, edge_index: Tensor) -> Tensor:
        """F = R^T A R (K, K) from the edge list, without a dense adjacency."""
        src, dst = edge_index
        return assignment[src].T @ assignment[dst]

    def loss(self, assignment: Tensor, edge_index: Tensor) -> Tensor:
        """L_DeCA of the module docstring for assignments R (N, K) on the graph ``edge_index``."""
        n = assignment.shape[0]
        density = self.density_matrix(assignment, edge_index)
        pairs = n * (n - 1)
        intra = density.trace() / pairs
        inter = (density.sum() - density.trace()) / pairs
        confidence = assignment.pow(2).sum() / (2 * n)
        return self.inter_weight * inter - (n - 1) * intra + confidence

    def forward(self, h: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """Assignments of ``h`` and their DeCA loss on ``edge_index``."""
        assignment = self.assign(h)
        return assignment, self.loss(assignment, edge_index)
