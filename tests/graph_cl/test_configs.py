"""Every shipped graph config loads and builds the network its official source describes.

The expected widths are read off the official files (GRACE ``config.yaml``; GCA
``param/*.json``; gCooL ``param/*.json``). GRACE's and GCA's ``Encoder`` is
``in -> 2 * num_hidden -> num_hidden``, so ``hidden_dim`` here is twice their ``num_hidden``;
gCooL's names the inner width itself (``hidden_layer``). The real-data part checks each data set's
feature count against the file in ``$CONTRAST_DATA`` and is skipped without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from torch_geometric.data import Data

from graph_cl.config import GraphExperiment
from graph_cl.data import average_layers, build_graph
from graph_cl.encoders import GCNEncoder
from graph_cl.experiment import build_method
from graph_cl.gcool import GCooL
from graph_cl.grace import GRACE
from graph_cl.scgc import SCGC
from shared.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "graph"

# data set -> (node features, edge layers)
FEATURES = {
    "cora": (1433, 1),
    "citeseer": (3703, 1),
    "pubmed": (500, 1),
    "computers": (767, 1),
    "photo": (745, 1),
    "cs": (6805, 1),
    "wikics": (300, 1),
    "acm": (1870, 2),
    "imdb": (2000, 2),
}

# config -> (GCN widths in -> ... -> out, projection hidden width, activation, tau, lr, epochs)
OFFICIAL = {
    # GRACE config.yaml: num_hidden 128 / 256 / 256
    "grace_cora": ([1433, 256, 128], 128, "relu", 0.4, 5e-4, 200),
    "grace_citeseer": ([3703, 512, 256], 256, "prelu", 0.9, 1e-3, 200),
    "grace_pubmed": ([500, 512, 256], 256, "relu", 0.7, 1e-3, 1500),
    # GCA param/*.json: num_hidden 128 / 256 / 256
    "grace_computers": ([767, 256, 128], 128, "rrelu", 0.2, 1e-2, 2000),
    "grace_photo": ([745, 512, 256], 64, "relu", 0.3, 1e-1, 2000),
    "grace_cs": ([6805, 512, 256], 256, "rrelu", 0.4, 5e-4, 1000),
    # gCooL param/*.json: hidden_layer / num_hidden / num_proj_hidden
    "gcool_computers": ([767, 2558, 512], 512, "rrelu", 0.2, 1e-2, 2900),
    "gcool_photo": ([745, 256, 128], 128, "relu", 0.3, 1e-1, 2900),
    "gcool_cs": ([6805, 7105, 300], 300, "rrelu", 0.4, 5e-4, 600),
    "gcool_wikics": ([300, 1368, 384], 384, "prelu", 0.4, 1e-2, 1000),
}

# view rates (drop_edge_1, drop_edge_2, mask_feature_1, mask_feature_2) and scheme
OFFICIAL_VIEWS = {
    "grace_cora": (0.2, 0.4, 0.3, 0.4, "uniform"),
    "grace_citeseer": (0.2, 0.0, 0.3, 0.2, "uniform"),
    "grace_pubmed": (0.4, 0.1, 0.0, 0.2, "uniform"),
    "grace_computers": (0.6, 0.3, 0.2, 0.3, "degree"),
    "grace_photo": (0.3, 0.5, 0.1, 0.1, "degree"),
    "grace_cs": (0.3, 0.2, 0.3, 0.4, "degree"),
    "gcool_computers": (0.45, 0.45, 0.25, 0.25, "degree"),
    "gcool_photo": (0.4, 0.4, 0.1, 0.1, "pagerank"),
    "gcool_cs": (0.2, 0.2, 0.3, 0.3, "degree"),
    "gcool_wikics": (0.2, 0.2, 0.1, 0.1, "pagerank"),
}


def _config_names() -> list[str]:
    return sorted(p.stem for p in CONFIGS.glob("*.yaml"))


def _stand_in_graph(exp: GraphExperiment) -> Data:
    """A 20-node graph with the data set's feature count and edge layers (no file read)."""
    if exp.data.name == "sbm":
        return build_graph(exp.data)
    num_features, layers = FEATURES[exp.data.name]
    ring = torch.stack([torch.arange(20), (torch.arange(20) + 1) % 20])
    data = Data(x=torch.zeros(20, num_features), edge_index=ring, num_nodes=20)
    if layers > 1:
        data.edge_index_layers = [ring] * layers
    return average_layers(data) if exp.data.merge_layers else data


@pytest.mark.parametrize("name", ["acm", "imdb"])
def test_the_averaged_graph_baseline_differs_from_gcool_only_in_method_and_merging(
    name: str,
) -> None:
    gcool = load_config(GraphExperiment, CONFIGS / f"gcool_{name}.yaml", [])
    grace = load_config(GraphExperiment, CONFIGS / f"grace_{name}_mean.yaml", [])
    assert (grace.method, grace.data.merge_layers, gcool.data.merge_layers) == (
        "grace",
        True,
        False,
    )
    assert grace.grace.encoder == gcool.gcool.encoder and grace.grace.views == gcool.gcool.views
    assert grace.grace.temperature == gcool.gcool.temperature
    assert (grace.trainer.lr, grace.trainer.epochs) == (gcool.trainer.lr, gcool.trainer.epochs)
    assert grace.eval == gcool.eval and grace.data.name == gcool.data.name


def test_the_official_tables_cover_every_config_of_an_official_setting() -> None:
    names = set(_config_names())
    assert set(OFFICIAL) <= names and set(OFFICIAL_VIEWS) <= names
    assert {f"grace_{d}" for d in ("computers", "photo", "cs", "citeseer", "pubmed")} <= names


@pytest.mark.parametrize("name", _config_names())
def test_config_loads_and_builds_the_network_its_data_needs(name: str) -> None:
    exp = load_config(GraphExperiment, CONFIGS / f"{name}.yaml", [])
    data = _stand_in_graph(exp)
    method = build_method(exp, data)
    if isinstance(method, SCGC):
        return
    assert isinstance(method, GRACE | GCooL)
    layers = getattr(data, "edge_index_layers", None) or [data.edge_index]
    assert len(method.encoders) == len(layers)
    encoder = method.encoders[0]
    assert isinstance(encoder, GCNEncoder)
    widths = [encoder.convs[0].in_channels] + [conv.out_channels for conv in encoder.convs]
    assert widths[0] == data.num_features
    section = exp.gcool if exp.method == "gcool" else exp.grace
    fc1, fc2 = method.projector.net[0], method.projector.net[2]
    assert isinstance(fc1, torch.nn.Linear) and isinstance(fc2, torch.nn.Linear)
    assert (fc1.in_features, fc1.out_features, fc2.out_features) == (
        widths[-1],
        section.encoder.proj_dim,
        widths[-1],
    )
    if name in OFFICIAL:
        expected, proj, activation, tau, lr, epochs = OFFICIAL[name]
        assert widths == expected
        assert fc1.out_features == proj and section.encoder.activation == activation
        assert (section.temperature, exp.trainer.lr, exp.trainer.epochs) == (tau, lr, epochs)
    if name in OFFICIAL_VIEWS:
        v = section.views
        rates = (v.drop_edge_1, v.drop_edge_2, v.mask_feature_1, v.mask_feature_2, v.scheme)
        assert rates == OFFICIAL_VIEWS[name]
    out = method.embed(data)
    assert out.shape == (data.num_nodes, widths[-1])


def _feature_count(root: Path, name: str) -> int | None:
    """The feature count stored in the raw file of ``name`` under ``root``; None if absent."""
    npz = {
        "computers": "Computers/raw/amazon_electronics_computers.npz",
        "photo": "Photo/raw/amazon_electronics_photo.npz",
        "cs": "CS/raw/ms_academic_cs.npz",
        "imdb": "multiplex/IMDB/imdb.npz",
    }
    if name in npz:
        path = root / npz[name]
        if not path.is_file():
            return None
        key = "feat_shape" if name == "imdb" else "attr_shape"
        with np.load(path, allow_pickle=False) as f:
            return int(f[key][1])
    if name == "acm":
        path = root / "multiplex/ACM/ACM3025.mat"
        if not path.is_file():
            return None
        shapes = {key: shape for key, shape, _ in scipy.io.whosmat(path)}
        return int(shapes["feature"][1])
    return None


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["computers", "photo", "cs", "acm", "imdb"])
def test_feature_counts_match_the_real_files(name: str, data_dir: Path) -> None:
    found = _feature_count(data_dir / "graph", name)
    if found is None:
        pytest.skip(f"the {name} raw file is not in CONTRAST_DATA/graph")
    assert found == FEATURES[name][0]
