"""Reading the Planetoid raw files (Cora, CiteSeer, PubMed; Yang, Cohen, Salakhutdinov, ICML 2016)
without ``pickle.load`` and without a download.

``<folder>/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` as published at
https://github.com/kimiyoung/planetoid/tree/master/data are parsed into the graph PyG's
``Planetoid`` builds (same node order, features, labels, public split 140 / 500 / 1000 on Cora):
x = [allx; tx] with the test rows put at the positions ``test.index`` names, y the argmax of the
one-hot rows, train = the first |y| nodes, val = the next 500, test = ``test.index``.
The pickles go through :func:`graph_cl.safe_pickle.load_restricted_pickle`, so a crafted file
cannot run code. Every check names the file:

- a missing file: error with the public URL (never an attempted download);
- truncated or foreign bytes: error; row counts or widths that disagree between files: error;
- a label row that is all zero or has several ones: error (PyG silently makes it class 0);
- fewer than |y| + 500 rows in ``allx`` (no room for the public split's validation nodes): error
  (PyG raises IndexError);
- negative or out-of-range node ids in ``graph``, a non-integer line in ``test.index``: error;
- CiteSeer's test ids skip 15 nodes that have no features or label (isolated in the citation
  graph): as in PyG they become zero rows with label 0, outside every split, with a warning.

    >>> parts = read_planetoid(Path("../shared/data/graph/Cora/raw"), "cora")
    >>> parts["x"].shape, parts["edge_index"].shape
    (torch.Size([2708, 1433]), torch.Size([2, 10556]))
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from graph_cl.safe_pickle import load_restricted_pickle
from shared.errors import InputError

log = logging.getLogger("contrast")

PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data"
PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_NUM_VAL = 500


def planetoid_files(folder: Path, name: str) -> list[Path]:
    """The eight raw files of data set ``name`` under ``folder``, in ``PARTS`` order."""
    return [folder / f"ind.{name.lower()}.{part}" for part in PARTS]


def read_planetoid(folder: Path, name: str) -> dict[str, Tensor]:
    """``x`` (N, F) float, ``edge_index`` (2, E), ``y`` (N,), ``train/val/test_mask`` (N,)."""
    paths = dict(zip(PARTS, planetoid_files(folder, name), strict=True))
    missing = [p for p in paths.values() if not p.is_file()]
    if missing:
        raise InputError(
            f"{missing[0]}: Planetoid raw file not found ({len(missing)} of {len(PARTS)} missing); "
            f"download ind.{name.lower()}.* from {PLANETOID_URL} into {folder}"
        )
    x, tx, allx = (_features(paths[p]) for p in ("x", "tx", "allx"))
    y, ty, ally = (_labels(paths[p]) for p in ("y", "ty", "ally"))
    for (fname, feats), (lname, labels) in zip(
        (("x", x), ("tx", tx), ("allx", allx)),
        (("y", y), ("ty", ty), ("ally", ally)),
        strict=True,
    ):
        if len(feats) != len(labels):
            raise InputError(
                f"{paths[fname]}: {len(feats)} rows but {paths[lname].name} has {len(labels)} "
                "labels; the two files must describe the same nodes"
            )
    widths = {p: a.shape[1] for p, a in (("x", x), ("tx", tx), ("allx", allx))}
    classes = {p: a.shape[1] for p, a in (("y", y), ("ty", ty), ("ally", ally))}
    for what, sizes in (("features", widths), ("classes", classes)):
        if len(set(sizes.values())) > 1:
            raise InputError(f"{folder}: the files disagree on the number of {what}: {sizes}")
    test_index = _test_index(paths["test.index"])
    if len(test_index) != len(tx):
        raise InputError(
            f"{paths['test.index']}: {len(test_index)} test ids but {paths['tx']} has "
            f"{len(tx)} rows"
        )
    lo = len(allx)
    if len(y) + _NUM_VAL > lo:
        raise InputError(
            f"{paths['allx']}: {lo} rows, but the public split needs the {len(y)} training "
            f"nodes of {paths['y'].name} and {_NUM_VAL} validation nodes after them in it; "
            "the files are not a Planetoid data set (or are cut short)"
        )
    if test_index.min() < lo:
        raise InputError(
            f"{paths['test.index']}: test id {int(test_index.min())} falls among the {lo} "
            f"labelled/unlabelled training nodes of {paths['allx']}"
        )
    span = int(test_index.max()) - lo + 1
    if span > len(tx):  # CiteSeer: ids with no row in tx / ty (isolated nodes)
        log.warning(
            "%s: %d of the test-id range has no row in %s; as in PyG those nodes get zero "
            "features and label 0 and are in no split",
            paths["test.index"],
            span - len(tx),
            paths["tx"].name,
        )
    features = np.zeros((lo + span, allx.shape[1]), dtype=np.float32)
    onehot = np.zeros((lo + span, ally.shape[1]), dtype=np.float32)
    features[:lo], onehot[:lo] = allx, ally
    features[test_index], onehot[test_index] = tx, ty
    num_nodes = len(features)
    edge_index = _edges(paths["graph"], num_nodes)
    masks = {}
    for split, index in (
        ("train", np.arange(len(y))),
        ("val", np.arange(len(y), len(y) + _NUM_VAL)),
        ("test", test_index),
    ):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[torch.from_numpy(index)] = True
        masks[f"{split}_mask"] = mask
    return {
        "x": torch.from_numpy(features),
        "edge_index": edge_index,
        "y": torch.from_numpy(onehot.argmax(axis=1)).long(),
        **masks,
    }


def _features(path: Path) -> np.ndarray:
    value = load_restricted_pickle(path)
    if scipy.sparse.issparse(value):
        value = value.toarray()
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        raise InputError(f"{path}: expected a 2-d feature matrix, got {type(value).__name__}")
    return value.astype(np.float32)


def _labels(path: Path) -> np.ndarray:
    value = load_restricted_pickle(path)
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        raise InputError(f"{path}: expected a 2-d one-hot label matrix, got {type(value).__name__}")
    per_row = (value != 0).sum(axis=1)
    bad = np.flatnonzero(per_row != 1)
    if len(bad):
        zero = int((per_row[bad] == 0).sum())
        raise InputError(
            f"{path}: {len(bad)} label row(s) are not one-hot ({zero} all zero, "
            f"{len(bad) - zero} with several ones), first rows {bad[:5].tolist()}"
        )
    return value


def _test_index(path: Path) -> np.ndarray:
    try:
        lines = path.read_text(encoding="ascii").split()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file of node ids") from None
    if not lines:
        raise InputError(f"{path}: the file is empty; expected one test node id per line")
    try:
        index = np.array([int(token) for token in lines], dtype=np.int64)
    except ValueError as err:
        raise InputError(f"{path}: every line must be a node id ({err})") from None
    if index.min() < 0:
        raise InputError(f"{path}: negative node id {int(index.min())}")
    return index


def _edges(path: Path, num_nodes: int) -> Tensor:
    graph = load_restricted_pickle(path)
    if not isinstance(graph, dict):
        raise InputError(f"{path}: expected a dict of adjacency lists, got {type(graph).__name__}")
    src, dst = [], []
    for node, neighbours in graph.items():
        if not isinstance(neighbours, list):
            raise InputError(f"{path}: the neighbours of node {node!r} are not a list")
        src.extend([node] * len(neighbours))
        dst.extend(neighbours)
    if not all(isinstance(v, (int, np.integer)) for v in src + dst):
        raise InputError(f"{path}: node ids must be integers")
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        lo, hi = int(edge_index.min()), int(edge_index.max())
        raise InputError(
            f"{path}: node ids in [{lo}, {hi}] but the graph has {num_nodes} nodes (ids 0.."
            f"{num_nodes - 1})"
        )
    return edge_index
