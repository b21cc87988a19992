"""POT: node compactness as a plug-in regulariser (Yu et al. 2023, "Provable Training for Graph
Contrastive Learning", NeurIPS 2023; official code github.com/VoidHaruhi/POT-GCL).

For a 2-layer GCN encoder z = sigma(A_hat sigma(A_hat X W1 + b1) W2 + b2) (sigma = ReLU or
PReLU with negative slope a) and a view obtained by dropping edges at rate p, POT lower-bounds how
well node i stays closer to its positive than to the average negative over *every* admissible
edge-dropping perturbation ("node compactness"):

    f_i = min over perturbed A of < z_i, w_i >,   w_i = (N/(N-1)) zn'_i - (1/(N-1)) sum_j zn'_j,

with zn' the L2-normalised embeddings of the other view (w_i = zn'_i - mean_{j != i} zn'_j). The
bound is found by bound propagation:

1. Entry-wise bounds of the normalised adjacency under edge dropping: node i loses at most
   Delta_i = min(max(d_i - 1, 0), round(p d_i)) edges, so on the support of A + I,
   A_hat_ij <= 1 / sqrt((d_i + 1 - Delta_i)(d_j + 1 - Delta_j)) and A_hat_ij >= 0 off the
   diagonal, A_hat_ii >= 1 / (d_i + 1).
2. Interval bounds of the pre-activations of both layers: with mid = (U + L) / 2 and
   rad = (U - L) / 2 of those adjacency bounds, l, u = mid (H W) -/+ rad |H W| + b.
3. CROWN (Zhang et al. 2018) linear relaxations of sigma on [l, u]: slope 1 (l >= 0), a (u <= 0),
   otherwise s = (u - a l) / (u - l) with intercept 0 (lower) or (a - 1) u l / (u - a l) (upper);
   the lower or upper relaxation is picked by the sign of the back-propagated weight, giving
   per-node weights W~1 (N, F), W~2 and offsets b~1, b~2.
4. The score on the view's own normalised adjacency A_p:
   f = A_p (A_p (rowwise <x_i, W~1_i>) + b~1) + b~2 (the batched form of the official code: each
   node's relaxation is applied to its own features and bounds).

The regulariser is L_POT = mean_i softplus(-f_i) (binary cross-entropy of f_i against 1), averaged
over both views, and the training loss becomes (1 - kappa) L_GCL + kappa L_POT. All adjacency
operations use the edge list (torch.sparse), never a dense N x N matrix; ``max_nodes`` evaluates
the bound on the induced subgraph of a random node subset, as the official ``pot_batch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import add_remaining_self_loops, degree, subgraph

from graph_cl.encoders import GCNEncoder, normalized_adjacency


@dataclass
class POTConfig:
    """``kappa`` in [0, 1) weights L_POT (0 disables POT); ``max_nodes`` caps the nodes per step
    the bound is evaluated on (0: all nodes)."""

    kappa: float = 0.0
    max_nodes: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.kappa < 1.0:
            raise ValueError(f"pot.kappa must be in [0, 1), got {self.kappa!r}")
        if self.max_nodes < 0:
            raise ValueError(f"pot.max_nodes must be >= 0, got {self.max_nodes}")


def relu_relaxation(lower: Tensor, upper: Tensor, slope: float) -> tuple[Tensor, Tensor, Tensor]:
    """CROWN relaxation of the leaky ReLU ``max(x, slope * x)`` on [lower, upper].

    Returns ``(s, b_lower, b_upper)`` with ``s x + b_lower <= sigma(x) <= s x + b_upper`` there.
    """
    s = torch.where(lower >= 0, torch.ones_like(lower), torch.full_like(lower, slope))
    crossing = (lower < 0) & (upper > 0)
    span = (upper - lower).clamp(min=1e-12)
    numer = upper - slope * lower
    s = torch.where(crossing, numer / span, s)
    b_upper = torch.where(
        crossing, (slope - 1) * upper * lower / numer.clamp(min=1e-12), torch.zeros_like(lower)
    )
    return s, torch.zeros_like(lower), b_upper


class NodeCompactness(nn.Module):
    """POT's node-compactness lower bound and its regulariser (see the module docstring).

    Args:
        drop_edge_rates: edge-dropping rate p of each view (bounds are cached per graph and rate).
    """

    def __init__(self, drop_edge_rates: tuple[float, float]) -> None:
        super().__init__()
        self.drop_edge_rates = drop_edge_rates

    def adjacency_bounds(
        self, edge_index: Tensor, num_nodes: int, rate: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(edges, lower, upper)``: bounds of A_hat on the support of A + I under dropping."""
        deg = degree(edge_index[0], num_nodes)
        max_drop = torch.minimum((deg - 1).clamp(min=0), torch.round(rate * deg))
        edges, _ = add_remaining_self_loops(edge_index, num_nodes=num_nodes)
        kept = (deg + 1 - max_drop).rsqrt()
        upper = kept[edges[0]] * kept[edges[1]]
        lower = torch.where(
            edges[0] == edges[1], 1.0 / (deg[edges[0]] + 1), torch.zeros_like(upper)
        )
        return edges, lower, upper

    def score(
        self,
        encoder: GCNEncoder,
        x: Tensor,
        edge_index: Tensor,
        view_edges: Tensor,
        other_view: Tensor,
        rate: float,
    ) -> Tensor:
        """Lower bound f_i (N,) of the compactness of every node of ``x`` (clean graph
        ``edge_index``, view graph ``view_edges``, the other view's embeddings ``other_view``)."""
        xw, hw = self._clean_products(encoder, x, edge_index)
        return self._score(encoder, x, xw, hw, edge_index, view_edges, other_view, rate)

    def _clean_products(
        self, encoder: GCNEncoder, x: Tensor, edge_index: Tensor
    ) -> tuple[Tensor, Tensor]:
        """X W1 and H W2 on the clean graph, shared by both views' bounds."""
        conv1, conv2 = _two_gcn_layers(encoder)
        xw = conv1.lin(x)
        clean = normalized_adjacency(edge_index, x.shape[0], x.dtype)
        hidden = encoder.act(torch.sparse.mm(clean, xw) + conv1.bias)
        return xw, conv2.lin(hidden)

    def _score(
        self,
        encoder: GCNEncoder,
        x: Tensor,
        xw: Tensor,
        hw: Tensor,
        edge_index: Tensor,
        view_edges: Tensor,
        other_view: Tensor,
        rate: float,
    ) -> Tensor:
        n = x.shape[0]
        conv1, conv2 = _two_gcn_layers(encoder)
        slope = _negative_slope(encoder.act)
        edges, lo, up = self.adjacency_bounds(edge_index, n, rate)
        mid = _sparse(edges, (up + lo) / 2, n)
        rad = _sparse(edges, (up - lo) / 2, n)
        l1, u1 = _interval(mid, rad, xw, conv1.bias)
        l2, u2 = _interval(mid, rad, hw, conv2.bias)

        zn = F.normalize(other_view, dim=1)
        w_out = zn * (n / (n - 1)) - zn.sum(dim=0) / (n - 1)
        s2, b2_lo, b2_up = relu_relaxation(l2, u2, slope)
        lam2 = s2 * w_out
        off2 = torch.where(w_out >= 0, b2_lo, b2_up)
        w_tilde2 = lam2 @ conv2.lin.weight
        b_tilde2 = (lam2 * (off2 + conv2.bias)).sum(dim=1)
        s1, b1_lo, b1_up = relu_relaxation(l1, u1, slope)
        lam1 = s1 * w_tilde2
        off1 = torch.where(w_tilde2 >= 0, b1_lo, b1_up)
        w_tilde1 = lam1 @ conv1.lin.weight
        b_tilde1 = (lam1 * (off1 + conv1.bias)).sum(dim=1)

        view_norm = _view_adjacency(view_edges, n, x.dtype)
        first = torch.sparse.mm(view_norm, (x * w_tilde1).sum(dim=1, keepdim=True))
        second = torch.sparse.mm(view_norm, first + b_tilde1.unsqueeze(1))
        return second.squeeze(1) + b_tilde2

    def forward(
        self,
        encoder: GCNEncoder,
        x: Tensor,
        edge_index: Tensor,
        views: tuple[Tensor, Tensor],
        embeddings: tuple[Tensor, Tensor],
        max_nodes: int = 0,
    ) -> Tensor:
        """L_POT averaged over the two views: ``views`` are their edge lists, ``embeddings`` the
        encoder outputs (z1, z2) of the two views."""
        z1, z2 = embeddings
        e1, e2 = views
        n = x.shape[0]
        if max_nodes and max_nodes < n:
            nodes = torch.randperm(n, device=x.device)[:max_nodes]
            x, z1, z2 = x[nodes], z1[nodes], z2[nodes]
            edge_index, e1, e2 = (
                subgraph(nodes, e, relabel_nodes=True, num_nodes=n)[0] for e in (edge_index, e1, e2)
            )
        xw, hw = self._clean_products(encoder, x, edge_index)
        losses = [
            F.softplus(-self._score(encoder, x, xw, hw, edge_index, view, other, rate)).mean()
            for view, other, rate in (
                (e1, z2, self.drop_edge_rates[0]),
                (e2, z1, self.drop_edge_rates[1]),
            )
        ]
        return (losses[0] + losses[1]) / 2


def _two_gcn_layers(encoder: GCNEncoder) -> tuple[GCNConv, GCNConv]:
    """The encoder's two GCN layers; the bound propagation is written for exactly two."""
    if len(encoder.convs) != 2:
        raise ValueError("POT's bound propagation supports 2-layer GCN encoders only")
    conv1, conv2 = encoder.convs
    return conv1, conv2


def _negative_slope(act: nn.Module) -> float:
    if isinstance(act, nn.ReLU):
        return 0.0
    if isinstance(act, nn.PReLU):
        if act.weight.numel() != 1:
            raise ValueError("POT needs a PReLU with a single shared slope")
        return float(act.weight.detach())
    raise ValueError(f"POT supports ReLU and PReLU encoders, got {type(act).__name__}")


def _sparse(edges: Tensor, values: Tensor, n: int) -> Tensor:
    return torch.sparse_coo_tensor(edges, values, (n, n), check_invariants=True).coalesce()


def _interval(mid: Tensor, rad: Tensor, hw: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    centre = torch.sparse.mm(mid, hw) + bias
    spread = torch.sparse.mm(rad, hw.abs())
    return centre - spread, centre + spread


def _view_adjacency(edge_index: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    """The view's A_p laid out (source, target), as the official code builds ``An_ptb``
    (VoidHaruhi/POT-GCL 19a3a5f, ``GRACE/model.py``): on a dropped-edge view, whose edges are
    directed, this is the transpose of the encoder's aggregation matrix. Kept for fidelity."""
    return normalized_adjacency(edge_index, n, dtype).t().coalesce()
