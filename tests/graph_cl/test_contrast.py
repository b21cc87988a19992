"""Node contrast and ReSC against direct transcriptions of the papers' formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torch.utils._pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from graph_cl import contrast
from graph_cl.contrast import community_centroids, node_contrast, reweighted_community_contrast
from graph_cl.data import stochastic_block_model
from graph_cl.encoders import EncoderConfig
from graph_cl.gcool import GCooL, GCoolConfig
from graph_cl.grace import GRACE, GraceConfig


def _resc_reference(
    h1: torch.Tensor, h2: torch.Tensor, r2: torch.Tensor, tau: float, gamma: float
) -> float:
    """Loop form of ReSC: node i of view 1 against the community centroids of view 2 (an empty
    community is a zero centroid, as in the official code)."""
    k = r2.shape[1]
    comm = r2.argmax(dim=1)
    cents = {
        c: h2[comm == c].mean(dim=0) if (comm == c).any() else torch.zeros(h2.shape[1])
        for c in range(k)
    }
    total = 0.0
    for i in range(h1.shape[0]):
        own = int(comm[i])
        pos = math.exp(float(h1[i] @ cents[own]) / tau)
        neg = sum(
            math.exp(-gamma * float((cents[own] - c).pow(2).sum()))
            * math.exp(float(h1[i] @ c) / tau)
            for j, c in cents.items()
            if j != own
        )
        total += -math.log(pos / (pos + neg))
    return total / h1.shape[0]


@pytest.mark.parametrize("gamma", [0.0, 8e-5, 0.7])
def test_resc_matches_the_reference(gamma: float) -> None:
    torch.manual_seed(0)
    h1, h2 = F.normalize(torch.randn(40, 6), dim=1), F.normalize(torch.randn(40, 6), dim=1)
    r2 = torch.softmax(3 * torch.randn(40, 5), dim=1)
    r2[:, 4] = 0.0  # community 4 is empty: a zero centroid, a negative with similarity 0
    got = reweighted_community_contrast(h1, h2, r2, 0.5, gamma)
    assert got.item() == pytest.approx(_resc_reference(h1, h2, r2, 0.5, gamma), rel=1e-5)


def test_resc_trains_the_anchor_view_only() -> None:
    torch.manual_seed(0)
    h1 = F.normalize(torch.randn(20, 4), dim=1).requires_grad_()
    h2 = F.normalize(torch.randn(20, 4), dim=1).requires_grad_()
    reweighted_community_contrast(
        h1, h2, torch.softmax(torch.randn(20, 3), dim=1), 0.4, 0.1
    ).backward()
    assert h1.grad is not None and h1.grad.abs().sum() > 0 and h2.grad is None


def test_community_centroids_are_means() -> None:
    h = torch.arange(12.0).reshape(6, 2)
    comm = torch.tensor([0, 0, 2, 2, 2, 0])
    out = community_centroids(h, comm, 3)
    assert torch.allclose(out[0], h[[0, 1, 5]].mean(0)) and torch.allclose(
        out[2], h[[2, 3, 4]].mean(0)
    )
    assert torch.equal(out[1], torch.zeros(2))


def test_negative_gamma_fails() -> None:
    with pytest.raises(ValueError, match="gamma"):
        reweighted_community_contrast(
            torch.randn(4, 2), torch.randn(4, 2), torch.rand(4, 2), 0.5, -1.0
        )


def test_grace_node_contrast_is_the_official_semi_loss() -> None:
    torch.manual_seed(0)
    u, v, tau = torch.randn(30, 8), torch.randn(30, 8), 0.4

    def semi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = F.normalize(a), F.normalize(b)
        refl, between = torch.exp(a @ a.T / tau), torch.exp(a @ b.T / tau)
        return -torch.log(between.diag() / (refl.sum(1) + between.sum(1) - refl.diag()))

    expected = 0.5 * (semi(u, v) + semi(v, u)).mean()
    assert node_contrast(u, v, tau, intra_view_negatives=True, tiled=False).item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    assert node_contrast(u, v, tau, intra_view_negatives=True, tiled=True).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_gcool_node_contrast_has_cross_view_negatives_only() -> None:
    torch.manual_seed(0)
    h1, h2, tau = (
        F.normalize(torch.randn(25, 8), dim=1),
        F.normalize(torch.randn(25, 8), dim=1),
        0.4,
    )
    s = torch.exp(h1 @ h2.T / tau)
    expected = 0.5 * (
        (-torch.log(s.diag() / s.sum(1))).mean() + (-torch.log(s.diag() / s.sum(0))).mean()
    )
    got = node_contrast(h1, h2, tau, intra_view_negatives=False, tiled=False)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any aten op returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:  # sparse A: its edges
                self.largest = max(self.largest, t.numel())
        return out


def _largest_tensor_of_a_training_step(method: str, num_nodes: int) -> int:
    """Forward + backward of one GRACE / gCooL step with ``tiled: false`` on an SBM."""
    data = stochastic_block_model(num_nodes, 4, 6.0, 1.0, 16, 1.0, seed=0)
    encoder = EncoderConfig(hidden_dim=16, out_dim=8, proj_dim=8)
    model: GRACE | GCooL = (
        GRACE(16, GraceConfig(encoder=encoder, tiled=False))
        if method == "grace"
        else GCooL(16, GCoolConfig(encoder=encoder, tiled=False, num_communities=4))
    )
    with _LargestTensor() as probe:
        model.training_step(data)["loss"].backward()
    return probe.largest


@pytest.mark.parametrize("method", ["grace", "gcool"])
def test_no_training_step_builds_an_n_by_n_tensor_on_a_large_graph(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the switch to tiles at 1,500 > 500 nodes is the one that keeps CS (18,333 > 4,096) off N x N
    monkeypatch.setattr(contrast, "DENSE_MAX_NODES", 500)
    n = 1500
    assert _largest_tensor_of_a_training_step(method, n) < n * n
    # the probe sees the dense logits where they are allowed: it does detect an N x N tensor
    small = 400
    assert _largest_tensor_of_a_training_step(method, small) >= small * small


def test_the_dense_limit_keeps_coauthor_cs_tiled() -> None:
    assert contrast.DENSE_MAX_NODES < 18_333
