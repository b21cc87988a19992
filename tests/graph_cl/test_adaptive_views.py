"""GCA's centrality-adaptive views (degree / PageRank / eigenvector) and the shared activation."""

from __future__ import annotations

import math

import pytest
import torch

from graph_cl import views as views_module
from graph_cl.data import stochastic_block_model
from graph_cl.encoders import EncoderConfig, GCNEncoder
from graph_cl.grace import GRACE, GraceConfig
from graph_cl.pot import POTConfig
from graph_cl.views import (
    ViewConfig,
    ViewWeights,
    degree_centrality,
    drop_edges,
    drop_edges_weighted,
    drop_rates,
    drop_weights,
    eigenvector_centrality,
    mask_features,
    mask_features_weighted,
    pagerank_centrality,
    two_views,
    view_weights,
)

nx = pytest.importorskip("networkx")

# Undirected edges 0-1, 0-2, 0-3, 1-2 in both directions: degrees 3, 2, 2, 1.
PAIRS = [(0, 1), (0, 2), (0, 3), (1, 2)]
SMALL = torch.tensor([[u for u, v in PAIRS] + [v for u, v in PAIRS],
                      [v for u, v in PAIRS] + [u for u, v in PAIRS]])  # fmt: skip


def _karate() -> tuple[torch.Tensor, int]:
    g = nx.karate_club_graph()
    pairs = torch.tensor(list(g.edges)).t()
    return torch.cat([pairs, pairs.flip(0)], dim=1), g.number_of_nodes()


def test_degree_weights_match_the_hand_computed_small_graph() -> None:
    deg = {0: 3, 1: 2, 2: 2, 3: 1}
    assert degree_centrality(SMALL, 4).tolist() == [3, 2, 2, 1]
    # one direction only: the official code symmetrises before counting
    assert degree_centrality(SMALL[:, :4], 4).tolist() == [3, 2, 2, 1]

    s = [math.log(deg[int(v)]) for v in SMALL[1]]
    s_max, mean = math.log(3), (3 * math.log(3) + 4 * math.log(2) + 0.0) / 8
    expected = torch.tensor([(s_max - si) / (s_max - mean) for si in s])
    x = torch.ones(4, 3)
    w = view_weights(x, SMALL, ViewConfig(scheme="degree"))
    assert torch.allclose(w.edge, expected, atol=1e-6)
    assert w.edge.mean().item() == pytest.approx(1.0, abs=1e-6)
    # edges into the hub (degree 3) are never dropped, the edge into the leaf the most
    assert w.edge[SMALL[1] == 0].abs().max() < 1e-6
    assert w.edge.argmax().item() == int((SMALL[1] == 3).nonzero())


def test_feature_weights_are_log_of_centrality_mass_of_each_feature() -> None:
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])
    deg = torch.tensor([3.0, 2.0, 2.0, 1.0])

    def reference(marks: torch.Tensor) -> torch.Tensor:
        s = (marks.t() @ deg).log()
        return (s.max() - s) / (s.max() - s.mean())

    binary = view_weights(x, SMALL, ViewConfig(scheme="degree"))
    dense = view_weights(x, SMALL, ViewConfig(scheme="degree", dense_features=True))
    assert torch.allclose(binary.feature, reference((x != 0).float()), atol=1e-6)
    assert torch.allclose(dense.feature, reference(x.abs()), atol=1e-6)
    assert not torch.allclose(binary.feature, dense.feature)


def test_pagerank_is_the_official_lazy_walk_and_converges_to_degree_share() -> None:
    edges, n = _karate()
    adj = torch.zeros(n, n, dtype=torch.float64)
    adj[edges[0], edges[1]] = 1.0
    walk = adj / adj.sum(dim=1, keepdim=True)  # row u: 1/outdeg(u) to each out-neighbour
    x = torch.ones(n, dtype=torch.float64)
    for _ in range(10):
        x = 0.15 * x + 0.85 * walk.t() @ x
    assert torch.allclose(pagerank_centrality(edges, n, 10), x, atol=1e-12)
    # its fixed point on a connected undirected graph: x_v = N deg_v / sum deg (mass N kept)
    deg = adj.sum(dim=1)
    limit = pagerank_centrality(edges, n, 2000)
    assert torch.allclose(limit, n * deg / deg.sum(), atol=1e-9)


def test_eigenvector_centrality_matches_networkx() -> None:
    g = nx.karate_club_graph()
    edges, n = _karate()
    ref = nx.eigenvector_centrality_numpy(g)
    ours = eigenvector_centrality(edges, n)
    assert torch.allclose(
        ours, torch.tensor([ref[i] for i in range(n)], dtype=ours.dtype), atol=1e-8
    )

    # directed, strongly connected: in-edges count (networkx's convention)
    d = nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3), (3, 0), (1, 3)])
    ref = nx.eigenvector_centrality_numpy(d)
    ours = eigenvector_centrality(torch.tensor(list(d.edges)).t(), 4)
    assert torch.allclose(
        ours, torch.tensor([ref[i] for i in range(4)], dtype=ours.dtype), atol=1e-8
    )


def test_eigenvector_outside_the_leading_component_gets_the_capped_rate() -> None:
    # a triangle plus a separate edge: the eigenvector lives on the triangle
    edges = torch.tensor([[0, 1, 1, 2, 2, 0, 3, 4], [1, 0, 2, 1, 0, 2, 4, 3]])
    c = eigenvector_centrality(edges, 5)
    assert torch.allclose(c[:3], torch.full((3,), 3**-0.5, dtype=c.dtype), atol=1e-9)
    assert c[3:].max() < 1e-12
    w = view_weights(torch.ones(5, 2), edges, ViewConfig(scheme="evector"))
    rates = drop_rates(w.edge, 0.3, 0.7)
    assert torch.equal(rates[:6], torch.zeros(6)) and torch.equal(rates[6:], torch.full((2,), 0.7))


@pytest.mark.parametrize("scheme", ["degree", "pagerank", "evector"])
def test_rates_average_p_before_the_cap_and_never_exceed_the_threshold(scheme: str) -> None:
    graph = stochastic_block_model(150, 3, 5.0, 1.0, 40, 1.0, seed=1)
    # the SBM's Gaussian features are nonzero everywhere: weigh them by |x| (dense)
    w = view_weights(graph.x, graph.edge_index, ViewConfig(scheme=scheme, dense_features=True))
    for weights in (w.edge, w.feature):
        assert weights.mean().item() == pytest.approx(1.0, abs=1e-5)
        assert weights.min().item() >= 0.0 and weights.std() > 0
        for p in (0.2, 0.4):
            assert (weights * p).mean().item() == pytest.approx(p, abs=1e-6)
            rates = drop_rates(weights, p, 0.7)
            assert rates.max().item() <= 0.7
            assert torch.equal(rates, torch.minimum(weights * p, torch.tensor(0.7)))


def test_weighted_sampling_follows_the_per_edge_and_per_feature_rates() -> None:
    edges, n = _karate()
    x = torch.rand(n, 30) * (torch.rand(n, 30) < 0.3)
    x[0] = 1.0  # no all-zero feature column
    cfg = ViewConfig(scheme="degree", threshold=0.5)
    w = view_weights(x, edges, cfg)
    edge_rates, feature_rates = drop_rates(w.edge, 0.4, 0.5), drop_rates(w.feature, 0.4, 0.5)
    gen = torch.Generator().manual_seed(0)
    trials, dropped, masked = 4000, torch.zeros(edges.shape[1]), torch.zeros(30)
    ids = torch.arange(edges.shape[1]).expand(2, -1)
    for _ in range(trials):
        kept = drop_edges_weighted(ids, w.edge, 0.4, 0.5, gen)[0]
        dropped += 1.0
        dropped[kept] -= 1.0
        masked += (mask_features_weighted(x, w.feature, 0.4, 0.5, gen) == 0).all(dim=0).float()
    assert torch.allclose(dropped / trials, edge_rates, atol=0.03)
    assert torch.allclose(masked / trials, feature_rates, atol=0.03)


def test_zero_feature_column_and_constant_scores() -> None:
    cycle = torch.tensor([[0, 1, 2, 3, 1, 2, 3, 0], [1, 2, 3, 0, 0, 1, 2, 3]])
    x = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    w = view_weights(x, cycle, ViewConfig(scheme="degree"))
    assert torch.equal(w.edge, torch.ones(8))  # every degree 2: uniform rates
    assert torch.isinf(w.feature[1])  # a column that is zero everywhere: capped
    assert drop_rates(w.feature, 0.3, 0.7)[1].item() == pytest.approx(0.7)
    assert torch.equal(drop_rates(w.feature, 0.0, 0.7), torch.zeros(3))
    assert torch.equal(drop_weights(torch.tensor([-math.inf, 1.0, 2.0])),
                       torch.tensor([math.inf, 2.0, 0.0]))  # fmt: skip


def test_two_views_are_deterministic_with_a_seeded_generator() -> None:
    graph = stochastic_block_model(60, 2, 5.0, 1.0, 20, 1.0, seed=2)
    cfg = ViewConfig(scheme="pagerank")
    w = view_weights(graph.x, graph.edge_index, cfg)

    def run(seed: int):
        views = two_views(graph.x, graph.edge_index, cfg, w, torch.Generator().manual_seed(seed))
        return [t for view in views for t in view]

    assert all(torch.equal(a, b) for a, b in zip(run(0), run(0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(run(0), run(1), strict=True))
    # weights computed inside two_views when not given: the same views
    inside = two_views(graph.x, graph.edge_index, cfg, None, torch.Generator().manual_seed(0))
    assert all(
        torch.equal(a, b) for a, b in zip(run(0), [t for v in inside for t in v], strict=True)
    )


def test_uniform_path_is_grace_and_equals_all_ones_weights() -> None:
    graph = stochastic_block_model(60, 2, 5.0, 1.0, 20, 1.0, seed=2)
    x, e, cfg = graph.x, graph.edge_index, ViewConfig()
    torch.manual_seed(5)
    (x1, e1), (x2, e2) = two_views(x, e, cfg)
    torch.manual_seed(5)
    expected = [
        mask_features(x, 0.3),
        drop_edges(e, 0.2),
        mask_features(x, 0.4),
        drop_edges(e, 0.4),
    ]
    assert all(torch.equal(a, b) for a, b in zip([x1, e1, x2, e2], expected, strict=True))

    ones = ViewWeights(torch.ones(e.shape[1]), torch.ones(x.shape[1]))
    adaptive = ViewConfig(scheme="degree", threshold=1.0)
    got = two_views(x, e, adaptive, ones, torch.Generator().manual_seed(7))
    want = two_views(x, e, cfg, None, torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(got[0] + got[1], want[0] + want[1], strict=True))


def test_bad_scheme_threshold_and_weights_fail_clearly() -> None:
    with pytest.raises(ValueError, match=r"unknown view scheme 'pr'; choose one of"):
        ViewConfig(scheme="pr")
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=r"threshold .* must be in \(0, 1\]"):
            ViewConfig(scheme="degree", threshold=bad)
    with pytest.raises(ValueError, match="uniform scheme has no centrality weights"):
        view_weights(torch.ones(4, 2), SMALL, ViewConfig())
    wrong = ViewWeights(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="do not fit a graph with 8 edges"):
        two_views(torch.ones(4, 2), SMALL, ViewConfig(scheme="degree"), wrong)
    with pytest.raises(ValueError, match="POT's compactness bound assumes uniform edge dropping"):
        GRACE(2, GraceConfig(views=ViewConfig(scheme="degree"), pot=POTConfig(kappa=0.5)))


def test_method_computes_the_weights_once_per_edge_layer(monkeypatch) -> None:
    graph = stochastic_block_model(60, 2, 5.0, 1.0, 20, 1.0, num_layers=2, seed=4)
    calls = []

    def counting(x, edge_index, cfg):
        calls.append(edge_index.shape[1])
        return view_weights(x, edge_index, cfg)

    monkeypatch.setattr("graph_cl.two_view.view_weights", counting)
    small = EncoderConfig(hidden_dim=8, out_dim=4, proj_dim=4)
    method = GRACE(20, GraceConfig(encoder=small, views=ViewConfig(scheme="degree")), 2)
    for _ in range(3):
        assert torch.isfinite(method.training_step(graph)["loss"])
    assert calls == [e.shape[1] for e in graph.edge_index_layers]
    assert views_module.SCHEMES == ("uniform", "degree", "pagerank", "evector")


def test_encoder_shares_one_activation_module_across_layers() -> None:
    enc = GCNEncoder(5, 6, 4, num_layers=3, activation="prelu")
    prelu = [p for name, p in enc.named_parameters() if name.startswith("act.")]
    assert len(prelu) == 1 and prelu[0].numel() == 1

    with torch.no_grad():
        enc.act.weight.fill_(0.1)
    x = torch.randn(4, 5)
    h = x
    for conv in enc.convs:
        z = conv(h, SMALL)
        h = torch.where(z > 0, z, 0.1 * z)
    assert torch.allclose(enc(x, SMALL), h)
    enc(x, SMALL).sum().backward()
    assert enc.act.weight.grad is not None and enc.act.weight.grad.abs() > 0
