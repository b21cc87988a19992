"""gCooL against naive transcriptions of the official code (github.com/lblaoke/gCooL,
src/model.py): ReSC with empty communities, and the whole joint objective at a given epoch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import to_dense_adj

from graph_cl.contrast import reweighted_community_contrast
from graph_cl.data import stochastic_block_model
from graph_cl.encoders import EncoderConfig
from graph_cl.gcool import GCooL, GCoolConfig


def _community_contrast_loops(
    h1: torch.Tensor,
    h2: torch.Tensor,
    r1: torch.Tensor,
    r2: torch.Tensor,
    tau: float,
    gamma: float,
) -> float:
    """``gCooL.community_contrast`` written out node by node: all K centroids (zero for an empty
    community), cosine similarity, negatives weighted by exp(-gamma ||c_k - c_l||^2) (gamma = 0
    is the official default 'cos' path), both directions averaged."""

    def centroids(h: torch.Tensor, comm: torch.Tensor) -> list[torch.Tensor]:
        k = r1.shape[1]
        return [
            h[comm == c].mean(0) if (comm == c).any() else torch.zeros(h.shape[1]) for c in range(k)
        ]

    def one_way(anchor: torch.Tensor, other: torch.Tensor, r_other: torch.Tensor) -> list[float]:
        comm = r_other.argmax(1)
        cents = centroids(other, comm)
        losses = []
        for i in range(anchor.shape[0]):
            own = int(comm[i])
            pos = math.exp(float(anchor[i] @ cents[own]) / tau)
            neg = 0.0
            for k, c in enumerate(cents):
                if k != own:
                    w = math.exp(-gamma * float((cents[own] - c).pow(2).sum()))
                    neg += w * math.exp(float(anchor[i] @ c) / tau)
            losses.append(-math.log(pos) + math.log(pos + neg))
        return losses

    both = [(a + b) / 2 for a, b in zip(one_way(h1, h2, r2), one_way(h2, h1, r1), strict=True)]
    return sum(both) / len(both)


def _unit(n: int, d: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d), dim=1)


@pytest.mark.parametrize("gamma", [0.0, 8e-5, 0.5])
def test_resc_both_ways_matches_the_official_loops_with_empty_communities(gamma: float) -> None:
    torch.manual_seed(0)
    h1, h2 = _unit(30, 5), _unit(30, 5)
    r1, r2 = torch.softmax(2 * torch.randn(30, 6), 1), torch.softmax(2 * torch.randn(30, 6), 1)
    r1[:, [2, 5]] = 0.0  # two communities nobody chose in view 1, one in view 2
    r2[:, 3] = 0.0
    ours = (
        reweighted_community_contrast(h1, h2, r2, 0.4, gamma)
        + reweighted_community_contrast(h2, h1, r1, 0.4, gamma)
    ) / 2
    assert ours.item() == pytest.approx(
        _community_contrast_loops(h1, h2, r1, r2, 0.4, gamma), rel=1e-5
    )


def test_an_empty_community_adds_exactly_one_to_the_denominator() -> None:
    # two nodes in community 0, one in community 1, community 2 empty; gamma = 0
    h_other = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    r_other = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    anchor = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    tau = 0.5
    c = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])]
    own = [0, 0, 1]
    expected = 0.0
    for a, k in zip(anchor, own, strict=True):
        pos = math.exp(float(a @ c[k]) / tau)
        other = math.exp(float(a @ c[1 - k]) / tau)
        expected += -math.log(pos / (pos + other + math.exp(0.0)))
    got = reweighted_community_contrast(anchor, h_other, r_other, tau, 0.0)
    assert got.item() == pytest.approx(expected / 3, rel=1e-6)


def test_gcool_objective_matches_a_dense_reference_of_the_official_fit() -> None:
    """L = L_node + alpha (coef DeCA + (1 - coef) ReSC) at epoch 7 of stride 20, alpha_rate 0.5,
    with DeCA on a dense binary adjacency and ReSC from the loops above. The node term is the
    symmetric cross-view InfoNCE (the official code counts only the view-1 anchors)."""
    torch.manual_seed(0)
    data = stochastic_block_model(50, 3, 5.0, 1.0, 6, 1.0, seed=0)
    cfg = GCoolConfig(
        encoder=EncoderConfig(hidden_dim=8, out_dim=4, proj_dim=4),
        temperature=0.3,
        num_communities=4,
        inter_weight=0.8,
        gamma=0.2,
        stride=20,
        alpha_rate=0.5,
    )
    method = GCooL(6, cfg)
    method.on_epoch_end(7)
    h1, h2 = _unit(50, 4), _unit(50, 4)
    e1, e2 = data.edge_index[:, ::2], data.edge_index[:, 1::2]
    out = method.objective(h1, h2, e1, e2)

    tau, n = 0.3, 50
    s = torch.exp(h1 @ h2.T / tau)
    node = 0.5 * (
        (-torch.log(s.diag() / s.sum(1))).mean() + (-torch.log(s.diag() / s.sum(0))).mean()
    )
    cent = F.normalize(method.deca.centroids.detach(), dim=1)
    r1, r2 = torch.softmax(h1 @ cent.T / tau, 1), torch.softmax(h2 @ cent.T / tau, 1)

    def deca(r: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        adj = to_dense_adj(edges, max_num_nodes=n)[0].clamp(max=1)
        f = r.T @ adj @ r
        return (0.8 * f.sum() - (n - 1 + 0.8) * f.trace()) / (n * (n - 1)) + (
            r.T @ r
        ).trace() / n / 2

    deca_ref = (deca(r1, e1) + deca(r2, e2)) / 2
    resc_ref = _community_contrast_loops(h1, h2, r1, r2, tau, 0.2)
    alpha, coef = max(0.0, 1 - 7 / (0.5 * 20)), math.exp(-7 / 20)
    assert out["node"].item() == pytest.approx(node.item(), rel=1e-5)
    assert out["deca"].item() == pytest.approx(deca_ref.item(), rel=1e-5)
    assert out["resc"].item() == pytest.approx(resc_ref, rel=1e-5)
    expected = node.item() + alpha * (coef * deca_ref.item() + (1 - coef) * resc_ref)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_defaults_are_the_official_model_defaults() -> None:
    # gCooL.__init__ in src/model.py: tau 0.4, num_community 10, lamda 1.0, gamma 8e-5,
    # alpha_rate 0.2 (never overridden by main.py), stride 500
    cfg = GCoolConfig()
    assert (cfg.temperature, cfg.num_communities, cfg.inter_weight) == (0.4, 10, 1.0)
    assert (cfg.gamma, cfg.alpha_rate, cfg.stride) == (8e-5, 0.2, 500)
