"""Reading the multiplex ACM and IMDB graphs of DMGI (Park et al., "Unsupervised Attributed
Multiplex Network Embedding", AAAI 2020) and gCooL's multiplex setting.

- ACM: ``<root>/multiplex/ACM/ACM3025.mat`` (HAN's ACM, ``scipy.io.loadmat``, no pickle): 3,025
  papers, 1,870 binary features, one-hot ``label`` (3 classes), dense 3025 x 3025 layers ``PAP``,
  ``PLP``, ``PMP``, ``PTP`` and 0-based ``train_idx`` / ``val_idx`` / ``test_idx``. DMGI uses
  PAP + PLP.
- IMDB: ``<root>/multiplex/IMDB/imdb.npz`` (DMGI's IMDB as plain arrays, ``allow_pickle=False``):
  CSR ``feat_*`` (3,550 movies x 2,000), ``labels``, layers ``adj_MAM`` / ``adj_MDM`` as 2 x E
  index arrays with one direction per pair, boolean ``train_mask`` / ``val_mask`` / ``test_mask``.
  DMGI uses MAM + MDM.

Every layer is made undirected by the caller (``graph_cl.data.validate_graph``) and its
self-loops are dropped there: DMGI's layer is A + I, and the GCN encoder adds exactly that
normalised self-loop to every node, so a layer stored with or without its diagonal (ACM's PAP
has it, IMDB's pairs do not) gives the same network. Problems raise
:class:`~shared.errors.InputError` naming the file: a missing, truncated or foreign file, a missing
layer, a layer or label array whose node count differs from the features, label rows that are not
one-hot, split indices outside the graph, overlapping splits, an empty split, or a class that
occurs in the validation / test nodes but never in the training nodes.

    >>> parts = read_multiplex(Path("../shared/data/graph"), "acm", ("PAP", "PLP"))
    >>> [e.shape[1] for e in parts["edge_index_layers"]]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch
from torch import Tensor

from graph_cl.npz_io import csr_from_parts, read_npz_arrays
from shared.errors import InputError

MULTIPLEX: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # name: (file under <root>/multiplex, DMGI's layers, every layer the file holds)
    "acm": ("ACM/ACM3025.mat", ("PAP", "PLP"), ("PAP", "PLP", "PMP", "PTP")),
    "imdb": ("IMDB/imdb.npz", ("MAM", "MDM"), ("MAM", "MDM")),
}
MULTIPLEX_URL = "https://github.com/pcy1302/DMGI (data/ acm3025.pkl and imdb.pkl)"


def multiplex_file(root: Path, name: str) -> Path:
    return root / "multiplex" / MULTIPLEX[name][0]


def read_multiplex(root: Path, name: str, layers: tuple[str, ...] = ()) -> dict[str, object]:
    """``x`` (N, F), ``edge_index_layers`` [(2, E_l)], ``y`` (N,) and the three split masks.

    ``layers`` picks layers by name (default: DMGI's choice, ``MULTIPLEX[name][1]``).
    """
    path = multiplex_file(root, name)
    chosen = tuple(layers) or MULTIPLEX[name][1]
    unknown = [layer for layer in chosen if layer not in MULTIPLEX[name][2]]
    if unknown:
        raise InputError(
            f"data.multiplex_layers: {name} has no layer(s) {unknown}; choose from "
            f"{list(MULTIPLEX[name][2])}"
        )
    if name == "acm":
        x, y, edges, splits = _read_acm(path, chosen)
    else:
        x, y, edges, splits = _read_imdb(path, chosen)
    n = x.shape[0]
    for layer, e in zip(chosen, edges, strict=True):
        if e.size and (e.min() < 0 or e.max() >= n):
            raise InputError(
                f"{path}: layer {layer} has node ids in [{int(e.min())}, {int(e.max())}] but the "
                f"features describe {n} nodes"
            )
    masks = _split_masks(path, splits, n, y)
    return {
        "x": torch.from_numpy(x),
        "edge_index_layers": [torch.from_numpy(e.astype(np.int64)) for e in edges],
        "y": torch.from_numpy(y),
        **masks,
    }


def _read_acm(
    path: Path, layers: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
    if not path.is_file():
        raise InputError(f"{path}: ACM file not found; get ACM3025 from {MULTIPLEX_URL}")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises many types for truncated / foreign files
        raise InputError(
            f"{path}: not a readable MATLAB file ({type(err).__name__}: {err}); the file is "
            "truncated or foreign: get it again"
        ) from None
    absent = [k for k in ("feature", "label", "train_idx", "val_idx", "test_idx") if k not in mat]
    absent += [layer for layer in layers if layer not in mat]
    if absent:
        raise InputError(f"{path}: missing array(s) or layer(s) {absent}")
    x = np.asarray(mat["feature"], dtype=np.float32)
    n = x.shape[0] if x.ndim == 2 else -1
    if x.ndim != 2:
        raise InputError(f"{path}: feature must be a 2-d matrix, got shape {x.shape}")
    edges = []
    for layer in layers:
        adj = np.asarray(mat[layer])
        if adj.shape != (n, n):
            raise InputError(
                f"{path}: layer {layer} has shape {adj.shape} but the features describe {n} nodes "
                f"(expected ({n}, {n}))"
            )
        edges.append(np.stack(np.nonzero(adj)))
    y = _onehot_labels(path, np.asarray(mat["label"]), n)
    splits = {s: np.asarray(mat[f"{s}_idx"]).ravel() for s in ("train", "val", "test")}
    return x, y, edges, splits


def _read_imdb(
    path: Path, layers: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
    feat = ("feat_data", "feat_indices", "feat_indptr", "feat_shape")
    keys = (*feat, "labels", "train_mask", "val_mask", "test_mask")
    arrays = read_npz_arrays(
        path, keys + tuple(f"adj_{layer}" for layer in layers), what="IMDB", url=MULTIPLEX_URL
    )
    x = csr_from_parts(path, arrays, "feat").toarray().astype(np.float32)
    n = x.shape[0]
    edges = []
    for layer in layers:
        e = np.asarray(arrays[f"adj_{layer}"])
        if e.ndim != 2 or e.shape[0] != 2 or not np.issubdtype(e.dtype, np.integer):
            raise InputError(
                f"{path}: adj_{layer} must be a 2 x E integer array, got {e.dtype} {e.shape}"
            )
        edges.append(e)
    y = np.asarray(arrays["labels"])
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError(
            f"{path}: labels must be {n} non-negative integers (one per feature row), got "
            f"{y.dtype} {y.shape}"
        )
    splits = {}
    for s in ("train", "val", "test"):
        mask = np.asarray(arrays[f"{s}_mask"])
        if mask.shape != (n,) or mask.dtype != np.bool_:
            raise InputError(
                f"{path}: {s}_mask must be {n} booleans, got {mask.dtype} {mask.shape}"
            )
        splits[s] = np.flatnonzero(mask)
    return x, y.astype(np.int64), edges, splits


def _onehot_labels(path: Path, label: np.ndarray, n: int) -> np.ndarray:
    if label.ndim != 2 or label.shape[0] != n:
        raise InputError(
            f"{path}: label must be an ({n}, classes) one-hot matrix, got {label.shape}"
        )
    per_row = (label != 0).sum(axis=1)
    bad = np.flatnonzero(per_row != 1)
    if len(bad):
        raise InputError(
            f"{path}: {len(bad)} label row(s) are not one-hot (all zero or several ones), first "
            f"rows {bad[:5].tolist()}"
        )
    return label.argmax(axis=1).astype(np.int64)


def _split_masks(
    path: Path, splits: dict[str, np.ndarray], n: int, y: np.ndarray
) -> dict[str, Tensor]:
    masks = {}
    seen = np.zeros(n, dtype=bool)
    for split, index in splits.items():
        if not np.issubdtype(index.dtype, np.integer):
            raise InputError(f"{path}: {split} indices must be integers, got {index.dtype}")
        if index.size == 0:
            raise InputError(f"{path}: the {split} split is empty")
        if index.min() < 0 or index.max() >= n:
            raise InputError(
                f"{path}: {split} indices in [{int(index.min())}, {int(index.max())}] fall outside "
                f"the {n} nodes"
            )
        mask = np.zeros(n, dtype=bool)
        mask[index] = True
        if (mask & seen).any():
            raise InputError(
                f"{path}: {int((mask & seen).sum())} {split} node(s) are also in an earlier split"
            )
        seen |= mask
        masks[f"{split}_mask"] = torch.from_numpy(mask)
    train_classes = set(np.unique(y[masks["train_mask"].numpy()]).tolist())
    for split in ("val", "test"):
        extra = set(np.unique(y[masks[f"{split}_mask"].numpy()]).tolist()) - train_classes
        if extra:
            raise InputError(
                f"{path}: class(es) {sorted(extra)} occur in the {split} split but never in the "
                "training split, so a probe cannot learn them"
            )
    return masks
