"""Graph augmentations: GRACE's uniform ones and GCA's centrality-adaptive ones.

Uniform (GRACE, Zhu et al. 2020, "Deep Graph Contrastive Representation Learning"): each directed
edge is removed with probability p_e and each feature column is zeroed (for all nodes at once) with
probability p_f.

Adaptive (GCA, Zhu, Xu, Yu, Liu, Wu, Wang 2021, "Graph Contrastive Learning with Adaptive
Augmentation", Sec. 3.2; official code github.com/CRIPAC-DIG/GCA pGRACE/functional.py, utils.py,
train.py; gCooL's official main.py builds its views with the same functions). With a node
centrality phi (degree, PageRank or eigenvector), every edge and feature gets a score

    edge (u, v):  s_uv = log phi(v)                        (the edge's target: official 'sink')
    feature i:    s_i  = log sum_u m(x_ui) phi(u),  m(x) = 1[x != 0], or |x| with dense features,

and, with s_max and mu the maximum and mean of the scores of all edges (or all features),

    p = min( (s_max - s) / (s_max - mu) * p_base, p_tau ),

so edges into central nodes and features of central nodes are dropped less often, the mean of p
before the cap is p_base, and no probability exceeds the threshold p_tau (0.7 in both official
codes). Edges are kept with probability 1 - p_uv; feature columns are zeroed with probability p_i.

Centralities as the official code computes them (which differs from the paper in places):
- degree: of the symmetrised, de-duplicated graph (``to_undirected``); s = log deg, as in gCooL
  and GCA commit c6027f7 (a later GCA commit uses log(deg + 1));
- PageRank: the official ``compute_pr`` iterates x <- (1 - a) x + a A^T D_out^-1 x from x = 1 with
  a = 0.85, k steps (k = 200 for the edge weights, the default k = 10 for the feature weights):
  a lazy random walk, not the paper's sigma = a A D^-1 sigma + 1, and not networkx's PageRank;
- eigenvector: the leading eigenvector of A^T (in-edges, networkx's convention), unit L2 norm,
  negative entries set to 0 and 1e-8 added before the log. The official code calls networkx's
  ``eigenvector_centrality_numpy``; here it is a power iteration on A^T + I, sparse.
  The official feature weights use the eigenvector before that floor (its numerical noise of order
  1e-17 outside the leading component then enters the log); ours use the floored one.
Ours only: scores s = -inf (a feature column that is zero at every node of positive centrality)
get p = p_tau and are left out of s_max and mu (the official code would produce NaN); constant
scores give p = p_base everywhere (official: 0 / 0).

All samplers are pure functions of their input and a ``torch.Generator``; the centrality-derived
weights (``view_weights``) depend on the graph only and are computed once per graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.utils import degree, to_undirected

SCHEMES = ("uniform", "degree", "pagerank", "evector")
PAGERANK_DAMPING = 0.85
PAGERANK_EDGE_STEPS = 200
PAGERANK_FEATURE_STEPS = 10
EVECTOR_FLOOR = 1e-8


def drop_edges(edge_index: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Remove each directed edge independently with probability ``p`` (GRACE's edge removing)."""
    _check_rate("p", p)
    keep = torch.rand(edge_index.shape[1], generator=generator, device=edge_index.device) >= p
    return edge_index[:, keep]


def mask_features(x: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero each feature column (for all nodes at once) with probability ``p`` (GRACE's masking)."""
    _check_rate("p", p)
    keep = torch.rand(x.shape[1], generator=generator, device=x.device) >= p
    return x * keep.to(x.dtype)


def degree_centrality(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Degree of every node in the symmetrised, de-duplicated graph, (N,) float64."""
    undirected = to_undirected(edge_index, num_nodes=num_nodes)
    return degree(undirected[1], num_nodes, dtype=torch.float64)


def pagerank_centrality(
    edge_index: Tensor, num_nodes: int, steps: int, damping: float = PAGERANK_DAMPING
) -> Tensor:
    """The official GCA/gCooL "PageRank" ``compute_pr``, (N,) float64: from x = 1, ``steps`` times
    x_v <- (1 - a) x_v + a sum_{(u, v) in E} x_u / outdeg(u)."""
    src, dst = edge_index
    share = 1.0 / degree(src, num_nodes, dtype=torch.float64)[src]
    x = torch.ones(num_nodes, dtype=torch.float64, device=edge_index.device)
    for _ in range(steps):
        incoming = torch.zeros_like(x).index_add_(0, dst, x[src] * share)
        x = (1 - damping) * x + damping * incoming
    return x


def eigenvector_centrality(
    edge_index: Tensor, num_nodes: int, tol: float = 1e-12, max_steps: int = 100_000
) -> Tensor:
    """Leading eigenvector of A^T (x_v proportional to sum_{(u, v) in E} x_u), unit L2 norm, (N,)
    float64, by power iteration on A^T + I (the shift keeps bipartite graphs from oscillating).

    Stops when the L1 change per node falls below ``tol`` (networkx's criterion); raises when
    ``max_steps`` iterations do not reach it.
    """
    if edge_index.shape[1] == 0:
        raise ValueError("eigenvector centrality needs at least one edge")
    src, dst = edge_index
    x = torch.full((num_nodes,), num_nodes**-0.5, dtype=torch.float64, device=edge_index.device)
    for step in range(1, max_steps + 1):
        nxt = x + torch.zeros_like(x).index_add_(0, dst, x[src])
        nxt = nxt / nxt.norm()
        if step % 50 == 0 and (nxt - x).abs().sum().item() < num_nodes * tol:
            return nxt
        x = nxt
    raise RuntimeError(
        f"eigenvector centrality did not converge in {max_steps} power iterations "
        f"(tolerance {tol} per node)"
    )


def drop_weights(scores: Tensor) -> Tensor:
    """``(s_max - s) / (s_max - mean s)`` over the finite scores (mean 1 over them); +inf where
    s = -inf; all ones when the finite scores are constant."""
    finite = torch.isfinite(scores)
    if not finite.any():
        return torch.ones_like(scores)
    s = scores[finite]
    top, spread = s.max(), s.max() - s.mean()
    if spread <= 1e-12 * max(1.0, top.abs().item()):
        weights = torch.ones_like(scores)
    else:
        weights = (top - scores) / spread
    return torch.where(finite, weights, torch.full_like(scores, float("inf")))


def drop_rates(weights: Tensor, p: float, threshold: float) -> Tensor:
    """GCA's probabilities ``min(w * p, threshold)`` (0 everywhere when p = 0)."""
    _check_rate("p", p)
    _check_threshold(threshold)
    if p == 0:
        return torch.zeros_like(weights)
    return (weights * p).clamp(max=threshold)


def drop_edges_weighted(
    edge_index: Tensor,
    weights: Tensor,
    p: float,
    threshold: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Remove edge e with probability ``min(weights[e] * p, threshold)`` (GCA's edge removing)."""
    return edge_index[:, _keep(weights, edge_index.shape[1], "edge", p, threshold, generator)]


def mask_features_weighted(
    x: Tensor,
    weights: Tensor,
    p: float,
    threshold: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Zero feature column i with probability ``min(weights[i] * p, threshold)`` (GCA's masking)."""
    return x * _keep(weights, x.shape[1], "feature", p, threshold, generator).to(x.dtype)


def _keep(
    weights: Tensor,
    count: int,
    what: str,
    p: float,
    threshold: float,
    generator: torch.Generator | None,
) -> Tensor:
    """Boolean keep mask: entry i survives with probability 1 - min(weights[i] * p, threshold)."""
    if weights.shape != (count,):
        raise ValueError(f"{what} weights have shape {tuple(weights.shape)}, expected ({count},)")
    rates = drop_rates(weights, p, threshold)
    return torch.rand(rates.shape, generator=generator, device=rates.device) >= rates


def _check_rate(name: str, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p!r}")


def _check_threshold(threshold: float) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(
            f"threshold (the cap p_tau on drop probabilities) must be in (0, 1], got {threshold!r}"
        )


@dataclass
class ViewConfig:
    """The two views: GRACE's corruption rates p_e,1 / p_e,2 and p_f,1 / p_f,2, and the scheme.

    ``scheme``: "uniform" (GRACE) or GCA's centrality-adaptive "degree", "pagerank", "evector"
    (official ``drop_scheme`` degree / pr / evc), whose probabilities are capped at ``threshold``.
    ``dense_features``: weight features by |x_ui| (the official code does so on WikiCS only)
    instead of by 1[x_ui != 0] (every other official data set). Both are unused by "uniform".
    """

    drop_edge_1: float = 0.2
    drop_edge_2: float = 0.4
    mask_feature_1: float = 0.3
    mask_feature_2: float = 0.4
    scheme: str = "uniform"
    threshold: float = 0.7
    dense_features: bool = False

    def __post_init__(self) -> None:
        for name in ("drop_edge_1", "drop_edge_2", "mask_feature_1", "mask_feature_2"):
            _check_rate(name, getattr(self, name))
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown view scheme {self.scheme!r}; choose one of {list(SCHEMES)}")
        _check_threshold(self.threshold)


@dataclass(frozen=True)
class ViewWeights:
    """Per-graph GCA weights (mean 1): ``edge`` (E,) and ``feature`` (F,); drop rates are
    ``min(weight * p, threshold)``."""

    edge: Tensor
    feature: Tensor

    def fits(self, x: Tensor, edge_index: Tensor) -> bool:
        """Whether these weights have the sizes of the graph ``(x, edge_index)``."""
        return self.edge.shape[0] == edge_index.shape[1] and self.feature.shape[0] == x.shape[1]

    def to(self, device: torch.device) -> ViewWeights:
        return ViewWeights(self.edge.to(device), self.feature.to(device))


def _node_centrality(scheme: str, edge_index: Tensor, num_nodes: int, steps: int) -> Tensor:
    if scheme == "degree":
        return degree_centrality(edge_index, num_nodes)
    if scheme == "pagerank":
        return pagerank_centrality(edge_index, num_nodes, steps)
    evc = eigenvector_centrality(edge_index, num_nodes)
    return evc.clamp(min=0) + EVECTOR_FLOOR


def view_weights(x: Tensor, edge_index: Tensor, cfg: ViewConfig) -> ViewWeights:
    """GCA's edge and feature weights of the graph ``(x, edge_index)`` for ``cfg.scheme``."""
    if cfg.scheme == "uniform":
        raise ValueError(
            "the uniform scheme has no centrality weights; use drop_edges and mask_features"
        )
    n = x.shape[0]
    node_c = _node_centrality(cfg.scheme, edge_index, n, PAGERANK_EDGE_STEPS)
    edge_w = drop_weights(node_c[edge_index[1]].log())
    if cfg.scheme == "pagerank":
        node_c = _node_centrality(cfg.scheme, edge_index, n, PAGERANK_FEATURE_STEPS)
    marks = x.abs() if cfg.dense_features else (x != 0)
    feature_w = drop_weights((marks.to(torch.float64).t() @ node_c).log())
    return ViewWeights(edge_w.to(torch.float32), feature_w.to(torch.float32))


def two_views(
    x: Tensor,
    edge_index: Tensor,
    cfg: ViewConfig,
    weights: ViewWeights | None = None,
    generator: torch.Generator | None = None,
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """``((x1, edges1), (x2, edges2))``: independently corrupted copies of one graph.

    Adaptive schemes use ``weights`` (``view_weights(x, edge_index, cfg)``, computed here when
    omitted: pass them to avoid recomputing the centrality at every step).
    """
    if cfg.scheme == "uniform":
        first = (
            mask_features(x, cfg.mask_feature_1, generator),
            drop_edges(edge_index, cfg.drop_edge_1, generator),
        )
        second = (
            mask_features(x, cfg.mask_feature_2, generator),
            drop_edges(edge_index, cfg.drop_edge_2, generator),
        )
        return first, second
    if weights is None:
        weights = view_weights(x, edge_index, cfg)
    elif not weights.fits(x, edge_index):
        raise ValueError(
            f"view weights for {weights.edge.shape[0]} edges and {weights.feature.shape[0]} "
            f"features do not fit a graph with {edge_index.shape[1]} edges and "
            f"{x.shape[1]} features"
        )
    views = []
    for p_f, p_e in ((cfg.mask_feature_1, cfg.drop_edge_1), (cfg.mask_feature_2, cfg.drop_edge_2)):
        views.append(
            (
                mask_features_weighted(x, weights.feature, p_f, cfg.threshold, generator),
                drop_edges_weighted(edge_index, weights.edge, p_e, cfg.threshold, generator),
            )
        )
    return views[0], views[1]
