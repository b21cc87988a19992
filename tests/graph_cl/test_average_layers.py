"""The averaged multiplex graph (``data.merge_layers``): A = (1/L) sum_l A_l as one weighted
graph, propagated by the GCN with its weights, the baseline the multiplex literature trains a
single-graph method on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graph_cl.config import GraphExperiment
from graph_cl.data import (
    GraphDataConfig,
    average_layers,
    build_graph,
    stochastic_block_model,
    validate_graph,
)
from graph_cl.encoders import EncoderConfig, GCNEncoder
from graph_cl.experiment import build_method
from graph_cl.gcool import GCooL, GCoolConfig
from graph_cl.grace import GRACE, GraceConfig
from graph_cl.pot import POTConfig
from graph_cl.two_view import kept_edge_weight
from graph_cl.views import ViewConfig, drop_edges
from shared.config import load_config
from shared.errors import InputError
from tests.graph_cl.fake_graph_files import write_acm

SMALL = EncoderConfig(hidden_dim=16, out_dim=8, proj_dim=8)


def _dense(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[0], edge_index[1]] = 1.0
    return a


@pytest.fixture(scope="module")
def multiplex() -> Data:
    return stochastic_block_model(60, 3, 5.0, 1.0, 6, 1.0, num_layers=3, seed=2)


def test_average_is_the_mean_adjacency(multiplex: Data) -> None:
    n = multiplex.num_nodes
    merged = average_layers(multiplex)
    expected = sum(_dense(e, n) for e in multiplex.edge_index_layers) / 3
    got = torch.zeros(n, n, dtype=torch.float64)
    got[merged.edge_index[0], merged.edge_index[1]] = merged.edge_weight.double()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)
    assert not hasattr(merged, "edge_index_layers") or merged.edge_index_layers is None
    assert torch.equal(merged.x, multiplex.x) and torch.equal(merged.y, multiplex.y)
    # the merged graph passes the same validation as any other graph, weights kept
    again = validate_graph(merged)
    assert torch.equal(again.edge_weight, merged.edge_weight)


def test_weighted_gcn_is_the_closed_form(multiplex: Data) -> None:
    """H = act(D^-1/2 (A + I) D^-1/2 X W + b), D = weighted in-degree + 1, in float64."""
    merged = average_layers(multiplex)
    n = merged.num_nodes
    torch.manual_seed(0)
    encoder = GCNEncoder(6, 5, 4, num_layers=1, activation="relu").double()
    x = merged.x.double()
    out = encoder(x, merged.edge_index, merged.edge_weight.double())
    a = torch.zeros(n, n, dtype=torch.float64)
    a[merged.edge_index[1], merged.edge_index[0]] = merged.edge_weight.double()  # row = target
    a_hat = a + torch.eye(n, dtype=torch.float64)
    d = a_hat.sum(dim=1).rsqrt()
    conv = encoder.convs[0]
    expected = torch.relu(d[:, None] * a_hat * d[None, :] @ conv.lin(x) + conv.bias)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    # the weights matter: all-ones weights give another function
    assert not torch.allclose(out, encoder(x, merged.edge_index), atol=1e-6)


def test_a_view_keeps_the_weights_of_the_edges_it_keeps(multiplex: Data) -> None:
    merged = average_layers(multiplex)
    kept = drop_edges(merged.edge_index, 0.5, torch.Generator().manual_seed(0))
    weights = kept_edge_weight(merged.edge_index, merged.edge_weight, kept)
    lookup = {
        (int(s), int(t)): float(w)
        for s, t, w in zip(*merged.edge_index, merged.edge_weight, strict=True)
    }
    assert weights.tolist() == [lookup[(int(s), int(t))] for s, t in zip(*kept, strict=True)]
    foreign = torch.tensor([[0], [0]])  # a self-loop is never an edge of a validated graph
    with pytest.raises(ValueError, match="subset"):
        kept_edge_weight(merged.edge_index, merged.edge_weight, foreign)


def test_grace_trains_on_the_averaged_graph(multiplex: Data) -> None:
    merged = average_layers(multiplex)
    torch.manual_seed(0)
    method = GRACE(6, GraceConfig(encoder=SMALL))
    out = method.training_step(merged)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert all(p.grad is not None for p in method.encoders[0].parameters())
    embedded = method.embed(merged)
    unweighted = Data(x=merged.x, edge_index=merged.edge_index)
    assert not torch.allclose(embedded, method.embed(unweighted), atol=1e-6)


def test_methods_that_read_edges_refuse_a_weighted_graph(multiplex: Data) -> None:
    merged = average_layers(multiplex)
    gcool = GCooL(6, GCoolConfig(encoder=SMALL, num_communities=3))
    with pytest.raises(ValueError, match="weighted graph"):
        gcool.training_step(merged)
    views = ViewConfig()
    pot = GRACE(6, GraceConfig(encoder=SMALL, views=views, pot=POTConfig(kappa=0.5)))
    with pytest.raises(ValueError, match="POT"):
        pot.training_step(merged)


@pytest.mark.parametrize(
    ("method", "overrides"),
    [("gcool", []), ("scgc", []), ("grace", ["grace.pot.kappa=0.3"])],
)
def test_the_config_refuses_merging_for_a_method_that_ignores_weights(
    method: str, overrides: list[str], multiplex: Data
) -> None:
    exp = load_config(
        GraphExperiment, None, [f"method={method}", "data.merge_layers=true", *overrides]
    )
    with pytest.raises(InputError, match="merge_layers"):
        build_method(exp, average_layers(multiplex))


def test_merging_a_single_layer_graph_is_refused() -> None:
    cfg = GraphDataConfig(name="sbm", sbm_nodes=30, sbm_blocks=2, merge_layers=True)
    with pytest.raises(InputError, match="one layer"):
        build_graph(cfg)


def test_bad_edge_weights_are_refused() -> None:
    ring = torch.stack([torch.arange(4), (torch.arange(4) + 1) % 4])
    graph = Data(x=torch.ones(4, 2), edge_index=ring, edge_weight=torch.ones(4))
    with pytest.raises(InputError, match="one weight per edge"):
        validate_graph(graph)  # a directed ring: validation adds the reverse edges
    both = validate_graph(Data(x=torch.ones(4, 2), edge_index=ring)).edge_index
    for weight, match in ((torch.ones(3), "one weight per edge"), (-torch.ones(8), "> 0")):
        with pytest.raises(InputError, match=match):
            validate_graph(Data(x=torch.ones(4, 2), edge_index=both, edge_weight=weight))


def test_the_data_section_merges_acm_files(tmp_path: Path) -> None:
    write_acm(tmp_path)
    cfg = GraphDataConfig(name="acm", root=str(tmp_path), cache_dir=str(tmp_path / "c"))
    layers = build_graph(cfg).edge_index_layers
    merged = build_graph(GraphDataConfig(**{**cfg.__dict__, "merge_layers": True}))
    n = merged.num_nodes
    expected = (_dense(layers[0], n) + _dense(layers[1], n)) / 2
    got = torch.zeros(n, n, dtype=torch.float64)
    got[merged.edge_index[0], merged.edge_index[1]] = merged.edge_weight.double()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)


@pytest.mark.realdata
def test_real_acm_average_counts_the_shared_edges(data_dir: Path) -> None:
    """PAP and PLP of DMGI's ACM3025.mat, counted independently with numpy on the raw matrices."""
    import scipy.io

    path = data_dir / "graph" / "multiplex" / "ACM" / "ACM3025.mat"
    if not path.is_file():
        pytest.skip("ACM3025.mat is not in CONTRAST_DATA/graph/multiplex/ACM")
    mat = scipy.io.loadmat(path)
    off = ~np.eye(3025, dtype=bool)
    pap, plp = (
        np.asarray(mat[k].todense() if hasattr(mat[k], "todense") else mat[k])
        for k in ("PAP", "PLP")
    )
    pap, plp = (pap != 0) | (pap.T != 0), (plp != 0) | (plp.T != 0)
    in_both = int((pap & plp & off).sum())
    union = int(((pap | plp) & off).sum())
    merged = build_graph(
        GraphDataConfig(name="acm", root=str(data_dir / "graph"), merge_layers=True)
    )
    assert merged.edge_index.shape[1] == union
    assert int((merged.edge_weight == 1.0).sum()) == in_both
    assert int((merged.edge_weight == 0.5).sum()) == union - in_both
