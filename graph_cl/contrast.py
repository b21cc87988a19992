"""The node-level and community-level contrasts of GRACE and gCooL, built on ``shared.losses``.

``node_contrast`` is InfoNCE between the two views (``shared.losses.info_nce``, or its O(N d)
memory twin ``tiled_info_nce``): GRACE uses the NT-Xent form with intra-view negatives (Zhu et
al. 2020, Eq. 1), gCooL the cross-view form (its node contrast). The dense form builds (N, 2N)
logits, so it is used only when asked for (``tiled=False``) and the graph has at most
``DENSE_MAX_NODES`` nodes; larger graphs always take the tiled path (Coauthor-CS, 18,333 nodes,
would need 2.7 GB per logits matrix).

``reweighted_community_contrast`` is gCooL's ReSC (Li, Jing, Tong 2022, Sec. 4.2; official code
github.com/lblaoke/gCooL, src/model.py, ``gCooL.community_contrast``): each node of view a is
contrasted with the community centroids of view b. With psi_i the community of node i in view b
(argmax of its assignment), c_k the mean of the view-b embeddings of community k (a constant, no
gradient; the zero vector for a community no node chose, as in the official code) and
s(h, c) = <h, c> / tau,

    l_i = -log( exp(s(h_i, c_psi_i)) /
               ( exp(s(h_i, c_psi_i)) + sum_{k != psi_i} w(psi_i, k) exp(s(h_i, c_k)) ) ),
    w(k, l) = exp(-gamma ||c_k - c_l||^2),

the communal negatives reweighted by an RBF of the distance between communities. All K
centroids take part: an empty community is a zero centroid, a negative with s = 0 (the official
code's behaviour). This is exactly ``shared.losses.weighted_info_nce`` with candidates = centroids,
a one-hot positive weight on psi_i and negative weights w(psi_i, .).

The weights follow the paper. The official code applies them only on its ``similarity='RBF'``
path, whose similarity is exp(-||h - c||^2 / tau^2); its default (and the one ``main.py`` uses)
is ``'cos'``, with unit weights, so there gamma is unused. With unit-norm embeddings the
centroids have norm <= 1, so ||c_k - c_l||^2 <= 4 and at the published gamma (2e-5 to 8e-5) the
weights lie within 3.2e-4 of 1: the two readings differ by less than that.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.losses import info_nce, weighted_info_nce
from shared.losses.tiled import tiled_info_nce

DENSE_MAX_NODES = 4096
"""Largest graph whose node contrast may build dense (N, 2N) logits (128 MiB in fp32)."""


def node_contrast(
    h1: Tensor, h2: Tensor, temperature: float, *, intra_view_negatives: bool, tiled: bool
) -> Tensor:
    """Symmetric InfoNCE between the two views' node embeddings (cosine similarity); tiled when
    ``tiled`` or when the graph has more than ``DENSE_MAX_NODES`` nodes (module docstring)."""
    loss_fn = tiled_info_nce if tiled or h1.shape[0] > DENSE_MAX_NODES else info_nce
    return loss_fn(h1, h2, temperature, intra_view_negatives=intra_view_negatives, symmetric=True)


def community_centroids(h: Tensor, communities: Tensor, num_communities: int) -> Tensor:
    """Mean embedding of each community (K, d); rows of empty communities are zero."""
    counts = torch.bincount(communities, minlength=num_communities).clamp(min=1)
    sums = torch.zeros(num_communities, h.shape[1], dtype=h.dtype, device=h.device)
    return sums.index_add_(0, communities, h) / counts.unsqueeze(1).to(h.dtype)


def reweighted_community_contrast(
    h_anchor: Tensor, h_other: Tensor, assignment_other: Tensor, temperature: float, gamma: float
) -> Tensor:
    """ReSC of one direction (module docstring): nodes of one view against the other's communities.

    Args:
        h_anchor: (N, d) projected embeddings of the anchor view (unit rows in gCooL).
        h_other: (N, d) projected embeddings of the other view; its centroids are constants.
        assignment_other: (N, K) soft community assignments of the other view.
        temperature: tau > 0.
        gamma: gamma >= 0 of the community reweighting (0 gives unit weights).
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}")
    num_communities = assignment_other.shape[1]
    communities = assignment_other.detach().argmax(dim=1)
    centroids = community_centroids(h_other.detach(), communities, num_communities)
    community_weight = torch.exp(-gamma * torch.cdist(centroids, centroids).pow(2))
    pos_weight = F.one_hot(communities, num_communities).to(h_anchor.dtype)
    neg_weight = community_weight[communities]
    return weighted_info_nce(
        h_anchor, centroids, pos_weight, neg_weight, temperature, normalize=False
    )
