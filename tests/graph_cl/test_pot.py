"""POT: soundness of the relaxations and bounds it propagates, and the regulariser's plumbing."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_dense_adj

from graph_cl.data import stochastic_block_model
from graph_cl.encoders import GCNEncoder, normalized_adjacency
from graph_cl.pot import NodeCompactness, POTConfig, _view_adjacency, relu_relaxation


@pytest.mark.parametrize("slope", [0.0, 0.25])
def test_relaxation_encloses_the_leaky_relu(slope: float) -> None:
    torch.manual_seed(0)
    a, b = torch.randn(500), torch.randn(500)
    lower, upper = torch.minimum(a, b), torch.maximum(a, b) + 1e-3
    s, b_lo, b_up = relu_relaxation(lower, upper, slope)
    for t in torch.linspace(0, 1, 11):
        x = lower + t * (upper - lower)
        y = torch.maximum(x, slope * x)
        assert (s * x + b_lo <= y + 1e-5).all() and (y <= s * x + b_up + 1e-5).all()


def _random_drop(
    edge_index: torch.Tensor, n: int, rate: float, gen: torch.Generator
) -> torch.Tensor:
    """Drop undirected edges while respecting POT's per-node budget round(rate * degree)."""
    deg = torch.bincount(edge_index[0], minlength=n)
    budget = torch.minimum((deg - 1).clamp(min=0), torch.round(rate * deg).long())
    used = torch.zeros(n, dtype=torch.long)
    keep = []
    for i, j in edge_index.T.tolist():
        if (
            i < j
            and torch.rand(1, generator=gen) < 0.5
            and used[i] < budget[i]
            and used[j] < budget[j]
        ):
            used[i] += 1
            used[j] += 1
            continue
        if i < j:
            keep.append((i, j))
    kept = torch.tensor(keep).T
    return torch.cat([kept, kept.flip(0)], dim=1)


def test_adjacency_and_first_layer_bounds_hold_under_admissible_dropping() -> None:
    torch.manual_seed(0)
    data = stochastic_block_model(80, 2, 6.0, 2.0, 5, 1.0, seed=0)
    n, rate = 80, 0.4
    pot = NodeCompactness((rate, rate))
    edges, lo, up = pot.adjacency_bounds(data.edge_index, n, rate)
    lo_dense = to_dense_adj(edges, edge_attr=lo, max_num_nodes=n)[0]
    up_dense = to_dense_adj(edges, edge_attr=up, max_num_nodes=n)[0]
    encoder = GCNEncoder(5, 8, 4, 2)
    conv = encoder.convs[0]
    xw = conv.lin(data.x).detach()
    mid = torch.sparse_coo_tensor(edges, (up + lo) / 2, (n, n), check_invariants=True)
    rad = torch.sparse_coo_tensor(edges, (up - lo) / 2, (n, n), check_invariants=True)
    l1 = (torch.sparse.mm(mid, xw) - torch.sparse.mm(rad, xw.abs()) + conv.bias).detach()
    u1 = (torch.sparse.mm(mid, xw) + torch.sparse.mm(rad, xw.abs()) + conv.bias).detach()
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        dropped = _random_drop(data.edge_index, n, rate, gen)
        e, w = gcn_norm(dropped, None, n, add_self_loops=True)
        a_hat = to_dense_adj(e, edge_attr=w, max_num_nodes=n)[0]
        assert (a_hat >= lo_dense - 1e-6).all() and (a_hat <= up_dense + 1e-6).all()
        pre = a_hat @ xw + conv.bias.detach()
        assert (pre >= l1 - 1e-4).all() and (pre <= u1 + 1e-4).all()


def test_regulariser_is_finite_and_trains_the_encoder() -> None:
    torch.manual_seed(0)
    data = stochastic_block_model(60, 2, 5.0, 1.0, 6, 1.0, seed=0)
    encoder = GCNEncoder(6, 8, 4, 2, activation="prelu")
    pot = NodeCompactness((0.2, 0.4))
    e1, e2 = data.edge_index[:, ::2], data.edge_index[:, 1::2]
    z1, z2 = encoder(data.x, e1), encoder(data.x, e2)
    loss = pot(encoder, data.x, data.edge_index, (e1, e2), (z1, z2))
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert encoder.convs[0].lin.weight.grad.abs().sum() > 0
    sub = pot(encoder, data.x, data.edge_index, (e1, e2), (z1.detach(), z2.detach()), max_nodes=30)
    assert torch.isfinite(sub)


def test_pot_needs_a_two_layer_relu_family_encoder() -> None:
    data = stochastic_block_model(30, 2, 4.0, 1.0, 3, 1.0, seed=0)
    pot = NodeCompactness((0.2, 0.2))
    z = torch.randn(30, 4)
    with pytest.raises(ValueError, match="2-layer"):
        pot(GCNEncoder(3, 8, 4, 3), data.x, data.edge_index, (data.edge_index,) * 2, (z, z))
    with pytest.raises(ValueError, match="ReLU and PReLU"):
        pot(
            GCNEncoder(3, 8, 4, 2, activation="elu"),
            data.x,
            data.edge_index,
            (data.edge_index,) * 2,
            (z, z),
        )


def test_kappa_outside_unit_interval_fails() -> None:
    with pytest.raises(ValueError, match="pot.kappa"):
        POTConfig(kappa=1.0)


def test_loss_is_the_softplus_of_the_per_node_scores() -> None:
    torch.manual_seed(0)
    data = stochastic_block_model(50, 2, 5.0, 1.0, 6, 1.0, seed=0)
    encoder = GCNEncoder(6, 8, 4, 2)
    pot = NodeCompactness((0.2, 0.4))
    e1, e2 = data.edge_index[:, ::2], data.edge_index[:, 1::2]
    z1, z2 = encoder(data.x, e1), encoder(data.x, e2)
    f1 = pot.score(encoder, data.x, data.edge_index, e1, z2, 0.2)
    f2 = pot.score(encoder, data.x, data.edge_index, e2, z1, 0.4)
    assert f1.shape == (50,) and torch.isfinite(f1).all()
    expected = (
        torch.nn.functional.softplus(-f1).mean() + torch.nn.functional.softplus(-f2).mean()
    ) / 2
    got = pot(encoder, data.x, data.edge_index, (e1, e2), (z1, z2))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_view_adjacency_is_laid_out_source_target_as_the_official_code() -> None:
    """On a directed view, A_p[src, dst] holds gcn_norm's weight of the edge src -> dst (the
    official ``An_ptb``), the transpose of the encoder's aggregation matrix A_hat[dst, src]."""
    edges = torch.tensor([[0, 0, 1, 2, 3], [1, 2, 2, 3, 0]])
    view = _view_adjacency(edges, 4, torch.float64).to_dense()
    full, weight = gcn_norm(edges, None, 4, add_self_loops=True, dtype=torch.float64)
    expected = torch.zeros(4, 4, dtype=torch.float64)
    expected[full[0], full[1]] = weight
    assert torch.equal(view, expected)
    assert torch.equal(view, normalized_adjacency(edges, 4, torch.float64).to_dense().T)
    assert not torch.equal(view, view.T)
