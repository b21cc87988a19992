"""GCN encoder and projection head shared by GRACE, gCooL and POT.

``GCNEncoder`` follows GRACE's encoder: k GCN layers (Kipf & Welling 2017) with widths
in -> hidden -> ... -> out, each followed by the activation (also after the last layer). As in
GRACE's, GCA's and gCooL's official ``Encoder`` (one ``activation`` object applied after every
layer), a single activation module serves all layers: with PReLU, one learnable slope shared by
the layers. The projection head is GRACE's two-layer MLP ``fc2(elu(fc1(z)))``
(``shared.heads.ProjectionHead`` with ELU and no batch norm).

Propagation is a sparse-dense matrix product with the normalised adjacency, built once per call
from the edge index (O(E) entries plus a sort) and shared by the layers:

    A_hat = D^-1/2 (A + I) D^-1/2,   A_hat[i, j] = (A + I)[i, j] / sqrt(d_i d_j),
    d_i = sum_j (A + I)[i, j],

with ``A[i, j]`` (i != j) the number of edges j -> i (duplicates add up, so a multigraph's edges
count with their multiplicity) and ``(A + I)[i, i] = 1`` for every node, whether it had no
self-loop or several (PyG's ``add_remaining_self_loops`` keeps one of weight 1); degrees are
taken over incoming edges. This is
exactly PyG's ``gcn_norm`` (it builds the entries) and ``GCNConv`` applied to the same edge index;
the difference is that ``GCNConv`` gathers one message per edge (an E x d tensor kept for the
backward pass: 285k x 2,558 floats, 2.7 GiB, in the first layer on Amazon-Computers at the
official widths), while ``torch.sparse.mm`` reads the (N, d) operand directly. The layers remain
``GCNConv`` modules, so parameter names (``convs.<l>.lin.weight``, ``convs.<l>.bias``),
initialisation and checkpoints are unchanged; only their ``lin`` and ``bias`` are used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import cast

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

ACTIVATIONS = {"relu": nn.ReLU, "prelu": nn.PReLU, "rrelu": nn.RReLU, "elu": nn.ELU}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def normalized_adjacency(
    edge_index: Tensor,
    num_nodes: int,
    dtype: torch.dtype,
    edge_weight: Tensor | None = None,
) -> Tensor:
    """``A_hat = D^-1/2 (A + I) D^-1/2`` of the module docstring as a coalesced sparse COO
    (N, N) matrix of ``dtype``: row i holds the weights of the edges j -> i (``edge_index[0]`` is
    the source, as in ``GCNConv``), so ``A_hat @ H`` is GCNConv's sum of incoming messages.
    ``edge_weight`` (E,): entries of a weighted ``A`` (an averaged multiplex graph); the
    self-loops weigh 1 and ``D`` is the weighted in-degree plus one, as in ``GCNConv``."""
    edges, weight = gcn_norm(edge_index, edge_weight, num_nodes, add_self_loops=True, dtype=dtype)
    shape = (num_nodes, num_nodes)
    return torch.sparse_coo_tensor(edges.flip(0), weight, shape, check_invariants=True).coalesce()


class GCNEncoder(nn.Module):
    """k-layer GCN: ``H_{l+1} = act(D^-1/2 (A + I) D^-1/2 H_l W_l)``.

    Args:
        in_dim: input feature size.
        hidden_dim: width of the inner layers (GRACE uses 2 * out_dim).
        out_dim: embedding size.
        num_layers: k >= 1.
        activation: one of ``ACTIVATIONS``; one module applied after every layer (PReLU: one
            learnable slope shared by all layers).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(GCNConv(a, b, cached=False) for a, b in pairwise(dims))
        self.act = make_activation(activation)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """``H_{l+1} = act(A_hat (H_l W_l) + b_l)`` with ``A_hat`` from ``normalized_adjacency``
        (``edge_weight``: one weight per edge of a weighted graph; None: every edge weighs 1)."""
        adj = normalized_adjacency(edge_index, x.shape[0], x.dtype, edge_weight)
        for conv in cast(Iterable[GCNConv], self.convs):
            x = self.act(torch.sparse.mm(adj, conv.lin(x)) + conv.bias)
        return x


@dataclass
class EncoderConfig:
    """GCN encoder and projection sizes (GRACE Cora: 1433 -> 256 -> 128, projection 128)."""

    hidden_dim: int = 256
    out_dim: int = 128
    num_layers: int = 2
    activation: str = "relu"
    proj_dim: int = 128

    def __post_init__(self) -> None:
        if min(self.hidden_dim, self.out_dim, self.num_layers, self.proj_dim) < 1:
            raise ValueError("encoder sizes and num_layers must be >= 1")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )

    def build(self, in_dim: int) -> GCNEncoder:
        return GCNEncoder(in_dim, self.hidden_dim, self.out_dim, self.num_layers, self.activation)
