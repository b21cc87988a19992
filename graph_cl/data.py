"""Graph data: the real benchmark graphs, a planted-community generator, and input validation.

Real data sets are read from ``root`` laid out as PyG expects, by this package's own readers (no
``pickle.load``, no download, nothing written under ``root``):

- Planetoid Cora / CiteSeer / PubMed: ``<root>/Cora/raw/ind.cora.*`` (``graph_cl.planetoid_io``,
  restricted unpickler);
- Amazon Computers / Photo, Coauthor CS: ``<root>/Computers/raw/amazon_electronics_computers.npz``
  ... (``graph_cl.npz_io``, ``allow_pickle=False``);
- WikiCS: ``<root>/WikiCS/raw/data.json`` (``graph_cl.wikics_io``);
- multiplex ACM (PAP + PLP) and IMDB (MAM + MDM): ``<root>/multiplex/ACM/ACM3025.mat``,
  ``<root>/multiplex/IMDB/imdb.npz`` (``graph_cl.multiplex_io``).

A missing raw file is an error naming it and its public download URL. The parsed tensors are
cached in ``cache_dir`` (``graph_cl.graph_cache``: keyed on the resolved root and a hash of the raw
files, loaded with ``weights_only=True`` only).

The synthetic default is a stochastic block model (Holland, Laskey, Leinhardt 1983) with planted
communities, node features carrying a noisy community signal, and optionally several edge layers
(a multiplex graph) that share nodes, features and communities.

Validation (``validate_graph``) documents how bad input is handled (errors are
``shared.errors.InputError`` naming the source):

- edge indices negative or out of range, non-integer or badly shaped ``edge_index``: error;
- NaN or inf features: error naming the rows;
- a graph (or a layer) with no edges: error (graph contrastive learning needs structure);
- self-loops: removed (the GCN encoder adds its own normalised self-loops);
- duplicate edges: merged; edges are made undirected (both directions present);
- isolated nodes: kept; the GCN self-loop gives them their own transformed features;
- ``edge_weight`` (only an averaged multiplex graph has one): must be one finite positive value
  per edge.

``GraphDataConfig.merge_layers`` averages the layers of a multiplex graph into one weighted graph,
``A = (1/L) sum_l A_l`` (``average_layers``): the single-graph baseline of the multiplex
literature (DMGI, Park et al. AAAI 2020), which a plain method such as GRACE then trains on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import NormalizeFeatures
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from graph_cl.graph_cache import cached_tensors
from graph_cl.multiplex_io import MULTIPLEX, multiplex_file, read_multiplex
from graph_cl.npz_io import read_gnn_benchmark
from graph_cl.planetoid_io import planetoid_files, read_planetoid
from graph_cl.wikics_io import read_wikics
from shared.errors import InputError

# name -> (reader, where its file(s) live under root)
DATASETS: dict[str, tuple[str, str]] = {
    "cora": ("planetoid", "Cora"),
    "citeseer": ("planetoid", "CiteSeer"),
    "pubmed": ("planetoid", "PubMed"),
    "computers": ("npz", "Computers/raw/amazon_electronics_computers.npz"),
    "photo": ("npz", "Photo/raw/amazon_electronics_photo.npz"),
    "cs": ("npz", "CS/raw/ms_academic_cs.npz"),
    "wikics": ("wikics", "WikiCS/raw/data.json"),
    "acm": ("multiplex", "acm"),
    "imdb": ("multiplex", "imdb"),
}


@dataclass
class GraphDataConfig:
    """Which graph to load. ``name="sbm"`` is the synthetic default; otherwise a key of DATASETS.

    ``root``: folder with the raw files (layout in the module docstring); ``cache_dir``: where
    the parsed graph is cached (default ``~/.cache/contrastive_suite/graph``);
    ``normalize_features``: divide each node's features by their sum (PyG ``NormalizeFeatures``,
    as GRACE does on Planetoid); ``multiplex_layers``: the layers of ``acm`` / ``imdb`` (empty:
    DMGI's choice, PAP + PLP and MAM + MDM); ``merge_layers``: average a multiplex graph's layers
    into one weighted graph (``average_layers``). The ``sbm_*`` fields parameterise
    :func:`stochastic_block_model`.
    """

    name: str = "sbm"
    root: str = "data/graph"
    cache_dir: str = ""
    normalize_features: bool = False
    multiplex_layers: list[str] = field(default_factory=list)
    merge_layers: bool = False
    sbm_nodes: int = 1000
    sbm_blocks: int = 5
    sbm_avg_degree_in: float = 8.0
    sbm_avg_degree_out: float = 2.0
    sbm_feature_dim: int = 64
    sbm_feature_signal: float = 0.5
    sbm_layers: int = 1
    seed: int = 0


def validate_graph(data: Data, source: str = "data") -> Data:
    """Check and clean a graph (see the module docstring); returns a new ``Data``.

    Requires ``x`` (N, F) finite floats and ``edge_index`` (2, E) integer indices in [0, N).
    Multiplex graphs carry extra layers in ``edge_index_layers`` (a list); each is checked the
    same way and the first layer is ``edge_index``. ``source`` (a file, a data set) starts every
    error message.
    """
    x = data.x
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise InputError(
            f"{source}: x must be a floating-point tensor of shape (num_nodes, num_features)"
        )
    n = x.shape[0]
    if n < 2:
        raise InputError(f"{source}: the graph has {n} node(s); contrastive learning needs >= 2")
    bad = (~torch.isfinite(x)).any(dim=1)
    if bad.any():
        rows = bad.nonzero().flatten()[:5].tolist()
        raise InputError(
            f"{source}: x contains NaN or inf in {int(bad.sum())} node(s), first: {rows}"
        )
    layers = getattr(data, "edge_index_layers", None) or [data.edge_index]
    clean = [_clean_edges(e, n, f"{source}: edge_index layer {i}") for i, e in enumerate(layers)]
    out = Data(x=x, edge_index=clean[0])
    if len(clean) > 1:
        out.edge_index_layers = clean
    weight = getattr(data, "edge_weight", None)
    if weight is not None:
        out.edge_weight = _check_edge_weight(weight, data.edge_index, clean[0], source)
    for key in ("y", "train_mask", "val_mask", "test_mask"):
        if getattr(data, key, None) is not None:
            out[key] = data[key]
    return out


def _check_edge_weight(weight: object, raw: Tensor, clean: Tensor, source: str) -> Tensor:
    """An averaged graph's edge weights: one finite positive float per edge of an edge list that
    validation left as it was (weights cannot follow merged or added edges)."""
    if not isinstance(weight, Tensor) or not weight.is_floating_point() or weight.dim() != 1:
        raise InputError(f"{source}: edge_weight must be a 1-D floating-point tensor")
    if weight.shape[0] != raw.shape[1] or not torch.equal(raw.long(), clean):
        raise InputError(
            f"{source}: edge_weight needs one weight per edge of a coalesced, undirected edge "
            f"list without self-loops ({weight.shape[0]} weights, {raw.shape[1]} edges)"
        )
    if not (torch.isfinite(weight).all() and (weight > 0).all()):
        raise InputError(f"{source}: edge_weight must be finite and > 0")
    return weight


def average_layers(data: Data) -> Data:
    """One weighted graph from a multiplex graph's L layers: ``A = (1/L) sum_l A_l``.

    The edge list is the union of the layers (coalesced, undirected, as every layer already is)
    and ``edge_weight[e]`` is the share of layers that hold edge e (1/L, ..., 1); the GCN encoder
    normalises it as ``D^-1/2 (A + I) D^-1/2`` with ``D`` the weighted degree plus one.

        >>> merged = average_layers(load_dataset("acm", "../shared/data/graph"))
        >>> merged.edge_weight.unique()  # PAP-only or PLP-only edges, and edges in both
        tensor([0.5000, 1.0000])
    """
    layers = edge_layers(data)
    if len(layers) < 2:
        raise InputError(
            "data.merge_layers averages the edge layers of a multiplex graph (acm, imdb, or sbm "
            "with sbm_layers > 1); this graph has one layer"
        )
    n = data.num_nodes
    edges = torch.cat(layers, dim=1)
    share = torch.full((edges.shape[1],), 1.0 / len(layers))
    edge_index, edge_weight = coalesce(edges, share, num_nodes=n, reduce="sum")
    out = Data(x=data.x, edge_index=edge_index, edge_weight=edge_weight)
    for key in ("y", "train_mask", "val_mask", "test_mask"):
        if getattr(data, key, None) is not None:
            out[key] = data[key]
    return out


def edge_layers(data: Data) -> list[Tensor]:
    """The edge lists of a (possibly multiplex) graph."""
    layers = getattr(data, "edge_index_layers", None)
    return list(layers) if layers else [data.edge_index]


def _clean_edges(edge_index: Tensor, num_nodes: int, name: str) -> Tensor:
    if isinstance(edge_index, Tensor) and edge_index.numel() == 0:
        raise InputError(f"{name} has no edges; a graph method needs structure")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index)
        raise InputError(f"{name} must be a (2, E) tensor, got {shape}")
    if edge_index.dtype not in (torch.int32, torch.int64):
        raise InputError(f"{name} must hold integer node indices, got {edge_index.dtype}")
    edge_index = edge_index.long()
    if edge_index.min() < 0 or edge_index.max() >= num_nodes:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        raise InputError(
            f"{name} has node indices in [{lo}, {hi}] but the graph has {num_nodes} nodes "
            f"(valid: 0..{num_nodes - 1})"
        )
    edge_index, _ = remove_self_loops(edge_index)
    if edge_index.shape[1] == 0:
        raise InputError(f"{name} has no edges besides self-loops; a graph method needs structure")
    return coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)


def stochastic_block_model(
    num_nodes: int,
    num_blocks: int,
    avg_degree_in: float,
    avg_degree_out: float,
    feature_dim: int,
    feature_signal: float,
    *,
    num_layers: int = 1,
    seed: int = 0,
) -> Data:
    """Sample an attributed SBM with planted communities ``y`` (balanced blocks).

    Each node has on average ``avg_degree_in`` neighbours in its own block and ``avg_degree_out``
    in other blocks (p_in = d_in / (n_b - 1), p_out = d_out / (N - n_b)). The number of edges of
    each block pair is drawn from its binomial and the endpoints uniformly, so sampling is
    O(E), not O(N^2), and 100k-node graphs are cheap. Features are
    ``x_i = feature_signal * mu_{y_i} + eps_i`` with random unit block means ``mu`` and
    standard normal noise scaled by 1/sqrt(F). With ``num_layers > 1`` every layer is an
    independent SBM draw over the same nodes (a multiplex graph, ``data.edge_index_layers``).
    """
    if num_blocks < 1 or num_nodes < 2 * num_blocks:
        raise ValueError(
            f"need num_blocks >= 1 and at least 2 nodes per block, got {num_nodes} nodes and "
            f"{num_blocks} blocks"
        )
    if avg_degree_in < 0 or avg_degree_out < 0 or avg_degree_in + avg_degree_out <= 0:
        raise ValueError("average degrees must be >= 0 and not both 0")
    if feature_dim < 1 or num_layers < 1:
        raise ValueError("feature_dim and num_layers must be >= 1")
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(num_nodes) % num_blocks
    y = y[torch.randperm(num_nodes, generator=gen)]
    members = [torch.nonzero(y == b).flatten() for b in range(num_blocks)]
    layers = [
        _sbm_edges(members, num_nodes, avg_degree_in, avg_degree_out, gen)
        for _ in range(num_layers)
    ]
    means = torch.nn.functional.normalize(
        torch.randn(num_blocks, feature_dim, generator=gen), dim=1
    )
    noise = torch.randn(num_nodes, feature_dim, generator=gen) / feature_dim**0.5
    data = Data(x=feature_signal * means[y] + noise, edge_index=layers[0], y=y)
    if num_layers > 1:
        data.edge_index_layers = layers
    return validate_graph(data)


def _sbm_edges(
    members: list[Tensor], n: int, d_in: float, d_out: float, gen: torch.Generator
) -> Tensor:
    edges = []
    for a, ma in enumerate(members):
        for b, mb in enumerate(members[a:], start=a):
            if a == b:
                pairs, p = len(ma) * (len(ma) - 1) / 2, d_in / max(len(ma) - 1, 1)
            else:
                pairs, p = len(ma) * len(mb), d_out / max(n - len(ma), 1)
            count = int(
                torch.binomial(torch.tensor(float(pairs)), torch.tensor(min(p, 1.0)), generator=gen)
            )
            src = ma[torch.randint(len(ma), (count,), generator=gen)]
            dst = mb[torch.randint(len(mb), (count,), generator=gen)]
            edges.append(torch.stack([src, dst]))
    edge_index = torch.cat(edges, dim=1)
    edge_index, _ = remove_self_loops(edge_index)
    return coalesce(to_undirected(edge_index, num_nodes=n), num_nodes=n)


def load_dataset(
    name: str,
    root: str | os.PathLike,
    cache_dir: str | os.PathLike = "",
    multiplex_layers: tuple[str, ...] | list[str] = (),
) -> Data:
    """Load a benchmark graph by name (a key of ``DATASETS``) from ``root``, validated.

    The parsed tensors are cached under ``cache_dir`` (module docstring); ``multiplex_layers``
    picks the layers of ``acm`` / ``imdb``.

        >>> data = load_dataset("photo", "../shared/data/graph")
        >>> data.num_nodes, data.edge_index.shape[1]
        (7650, 238162)
    """
    key = name.lower()
    if key not in DATASETS:
        raise InputError(
            f"data.name: unknown graph data set {name!r}; choose one of {sorted(DATASETS)} or 'sbm'"
        )
    root = Path(root).expanduser()
    reader, where = DATASETS[key]
    layers = tuple(multiplex_layers)
    if layers and reader != "multiplex":
        raise InputError(f"data.multiplex_layers applies to {sorted(MULTIPLEX)}, not to {name!r}")
    if reader == "planetoid":
        folder = root / where / "raw"
        files = planetoid_files(folder, where)
        source = str(folder)
        build = lambda: read_planetoid(folder, where)  # noqa: E731
    elif reader == "multiplex":
        files = [multiplex_file(root, key)]
        source = str(files[0])
        build = lambda: _flatten_layers(read_multiplex(root, key, layers))  # noqa: E731
    else:
        files = [root / where]
        source = str(files[0])
        read = read_gnn_benchmark if reader == "npz" else read_wikics
        build = lambda: read(files[0])  # noqa: E731
    present = [f for f in files if f.is_file()]
    if len(present) < len(files):
        build()  # the reader's own error names the missing file and where to download it
    tag = key + ("-" + "-".join(layers) if layers else "")
    cache = os.fspath(cache_dir)
    tensors = _unpack(cached_tensors(tag, root, files, cache, lambda: _pack(build())))
    return validate_graph(Data(**tensors), source=source)


def _flatten_layers(parts: dict[str, object]) -> dict[str, Tensor]:
    layers = parts.pop("edge_index_layers")
    assert isinstance(layers, list)
    out = {k: v for k, v in parts.items() if isinstance(v, Tensor)}
    out.update({f"edge_index_{i}": e for i, e in enumerate(layers)})
    return out


def _pack(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Store the (mostly zero) feature matrix as COO parts: CS's dense x is 0.5 GB."""
    out = dict(tensors)
    x = out.pop("x")
    nz = x.nonzero().T
    out.update(x_indices=nz, x_values=x[nz[0], nz[1]], x_shape=torch.tensor(x.shape))
    return out


def _unpack(tensors: dict[str, Tensor]) -> dict[str, object]:
    out: dict[str, object] = {}
    parts = dict(tensors)
    shape = tuple(int(s) for s in parts.pop("x_shape"))
    x = torch.zeros(shape, dtype=torch.float32)
    indices, values = parts.pop("x_indices"), parts.pop("x_values")
    x[indices[0], indices[1]] = values
    out["x"] = x
    layers = sorted(k for k in parts if k.startswith("edge_index_"))
    if layers:
        edge_layers = [parts.pop(k) for k in layers]
        out["edge_index_layers"] = edge_layers
        out["edge_index"] = edge_layers[0]
    out.update(parts)
    return out


def build_graph(cfg: GraphDataConfig) -> Data:
    """The graph a config names: the SBM generator or a real data set."""
    if cfg.name == "sbm":
        data = stochastic_block_model(
            cfg.sbm_nodes,
            cfg.sbm_blocks,
            cfg.sbm_avg_degree_in,
            cfg.sbm_avg_degree_out,
            cfg.sbm_feature_dim,
            cfg.sbm_feature_signal,
            num_layers=cfg.sbm_layers,
            seed=cfg.seed,
        )
    else:
        data = load_dataset(cfg.name, cfg.root, cfg.cache_dir, cfg.multiplex_layers)
    if cfg.merge_layers:
        data = average_layers(data)
    return NormalizeFeatures()(data) if cfg.normalize_features else data
