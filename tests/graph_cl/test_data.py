"""Graph loading, the SBM generator and input validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.io import read_planetoid_data
from torch_geometric.utils import coalesce

from graph_cl.data import (
    GraphDataConfig,
    build_graph,
    load_dataset,
    stochastic_block_model,
    validate_graph,
)
from graph_cl.planetoid_io import read_planetoid
from tests.graph_cl.fake_graph_files import PLANETOID_TEST_IDS, write_planetoid


def _graph(edges: list[tuple[int, int]], n: int = 4) -> Data:
    edge_index = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T
    return Data(x=torch.randn(n, 3), edge_index=edge_index)


def test_sbm_has_planted_structure_and_is_undirected() -> None:
    data = stochastic_block_model(2000, 4, 9.0, 1.0, 16, 1.0, seed=3)
    src, dst = data.edge_index
    assert data.x.shape == (2000, 16) and data.y.shape == (2000,)
    assert torch.bincount(data.y).tolist() == [500] * 4
    assert not (src == dst).any()
    flipped = set(map(tuple, data.edge_index.flip(0).T.tolist()))
    assert flipped == set(map(tuple, data.edge_index.T.tolist()))
    same_block = (data.y[src] == data.y[dst]).float().mean().item()
    assert same_block == pytest.approx(0.9, abs=0.02)
    assert data.edge_index.shape[1] / 2000 == pytest.approx(10.0, rel=0.05)


def test_sbm_is_seeded_and_multiplex_layers_differ() -> None:
    a = stochastic_block_model(300, 3, 6.0, 1.0, 8, 0.5, num_layers=2, seed=1)
    b = stochastic_block_model(300, 3, 6.0, 1.0, 8, 0.5, num_layers=2, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert len(a.edge_index_layers) == 2
    assert not torch.equal(a.edge_index_layers[0], a.edge_index_layers[1])
    assert torch.equal(a.edge_index_layers[0], a.edge_index)


def test_sbm_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="2 nodes per block"):
        stochastic_block_model(5, 3, 2.0, 1.0, 4, 1.0)
    with pytest.raises(ValueError, match="average degrees"):
        stochastic_block_model(100, 2, 0.0, 0.0, 4, 1.0)


def test_validate_removes_self_loops_and_symmetrises() -> None:
    out = validate_graph(_graph([(0, 0), (0, 1), (1, 2), (1, 2)]))
    assert sorted(map(tuple, out.edge_index.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_validate_keeps_isolated_nodes() -> None:
    out = validate_graph(_graph([(0, 1)], n=5))
    assert out.num_nodes == 5 and out.x.shape[0] == 5


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([], "no edges"),
        ([(2, 2)], "no edges"),
        ([(0, 7)], r"node indices in \[0, 7\] but the graph has 4"),
    ],
)
def test_validate_rejects_bad_edges(edges: list[tuple[int, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_graph(_graph(edges))


def test_validate_rejects_negative_indices_and_float_edges() -> None:
    with pytest.raises(ValueError, match="node indices"):
        validate_graph(Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0], [-1]])))
    with pytest.raises(ValueError, match="integer node indices"):
        validate_graph(Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0.0], [1.0]])))


def test_validate_rejects_nan_features() -> None:
    data = _graph([(0, 1)])
    data.x[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf in 1 node\(s\), first: \[2\]"):
        validate_graph(data)


def test_unknown_dataset_is_named() -> None:
    with pytest.raises(ValueError, match="unknown graph data set 'corra'"):
        load_dataset("corra", "/nonexistent")


def test_normalize_features_makes_rows_sum_to_one() -> None:
    cfg = GraphDataConfig(sbm_nodes=100, sbm_blocks=2, normalize_features=True)
    x = build_graph(cfg).x
    assert torch.allclose(x.sum(dim=1), torch.ones(100), atol=1e-5)


@pytest.mark.realdata
def test_cora_loads_without_writing_to_the_data_folder(data_dir: Path, tmp_path: Path) -> None:
    root = data_dir / "graph"
    if not (root / "Cora" / "raw").is_dir():
        pytest.skip("Cora raw files are not in CONTRAST_DATA/graph")
    before = sorted(os.listdir(root / "Cora"))
    data = load_dataset("cora", root, cache_dir=tmp_path)
    assert data.num_nodes == 2708 and data.edge_index.shape[1] == 10556
    assert data.num_features == 1433 and int(data.y.max()) + 1 == 7
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)] == [
        140,
        500,
        1000,
    ]
    assert sorted(os.listdir(root / "Cora")) == before  # the cache went to cache_dir
    assert list(tmp_path.rglob("*")), "no processed cache was written to cache_dir"


def test_toy_planetoid_set_reads_as_pyg_reads_it(tmp_path: Path) -> None:
    """Our reader against PyG's ``read_planetoid_data`` (torch_geometric 2.8.1, the reference the
    real Cora also matches) on the toy set: same features, labels, public-split masks and
    edges, with the test rows placed at the ids ``test.index`` lists."""
    folder = write_planetoid(tmp_path / "raw")
    ours, pyg = read_planetoid(folder, "cora"), read_planetoid_data(str(folder), "cora")
    for key in ("x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(ours[key], pyg[key]), key
    assert torch.equal(coalesce(ours["edge_index"]), coalesce(pyg.edge_index))
    assert [int(ours[f"{s}_mask"].sum()) for s in ("train", "val", "test")] == [4, 500, 4]
    assert ours["test_mask"].nonzero().flatten().tolist() == sorted(PLANETOID_TEST_IDS)
    assert ours["y"].tolist() == [i % 3 for i in range(508)]
