"""Reading the gnn-benchmark ``.npz`` graphs (Amazon-Computers, Amazon-Photo, Coauthor-CS; Shchur
et al., "Pitfalls of Graph Neural Network Evaluation", 2018) with ``allow_pickle=False``.

The files (https://github.com/shchur/gnn-benchmark/raw/master/data/npz/, the ones PyG's ``Amazon``
and ``Coauthor`` download) hold the adjacency and the attributes as CSR parts (``adj_data``,
``adj_indices``, ``adj_indptr``, ``adj_shape``, ``attr_*``) and ``labels``. As PyG does, the
attributes are binarised (x > 0 -> 1) and the edges are read from the adjacency (the caller makes
them undirected). The object arrays some files carry (``class_names``) are never read, so no
pickle is ever loaded. A missing, truncated or foreign file, a missing array, shapes that
disagree, or negative labels raise :class:`~shared.errors.InputError` naming the file.

    >>> path = Path("../shared/data/graph/Photo/raw/amazon_electronics_photo.npz")
    >>> parts = read_gnn_benchmark(path)
    >>> parts["x"].shape
    torch.Size([7650, 745])
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from shared.errors import InputError

GNN_BENCHMARK_URL = "https://github.com/shchur/gnn-benchmark/raw/master/data/npz"
_KEYS = ("adj_data", "adj_indices", "adj_indptr", "adj_shape")
_ATTR_KEYS = ("attr_data", "attr_indices", "attr_indptr", "attr_shape")


def read_npz_arrays(
    path: Path, keys: tuple[str, ...], *, what: str, url: str
) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file, loaded without pickles; errors name ``path``."""
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found; download it from {url}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            absent = [k for k in keys if k not in archive.files]
            if absent:
                raise InputError(
                    f"{path}: not a {what} file, it lacks the array(s) {absent} "
                    f"(it has {sorted(archive.files)})"
                )
            return {k: archive[k] for k in keys}
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as err:
        raise InputError(
            f"{path}: not a readable .npz file ({type(err).__name__}: {err}); the file is "
            "truncated or foreign: download it again"
        ) from None


def csr_from_parts(
    path: Path, arrays: dict[str, np.ndarray], prefix: str
) -> scipy.sparse.csr_matrix:
    """The CSR matrix stored as ``<prefix>_data / _indices / _indptr / _shape``, checked."""
    shape = tuple(int(s) for s in np.asarray(arrays[f"{prefix}_shape"]).ravel())
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"{path}: {prefix}_shape must be two positive sizes, got {shape}")
    try:
        matrix = scipy.sparse.csr_matrix(
            (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
            shape=shape,
        )
        matrix.check_format(full_check=True)
    except (ValueError, TypeError) as err:
        raise InputError(
            f"{path}: the {prefix}_* arrays are not a valid CSR matrix ({err})"
        ) from None
    return matrix


def read_gnn_benchmark(path: Path) -> dict[str, Tensor]:
    """``x`` (N, F) binary float, ``edge_index`` (2, E) from the adjacency, ``y`` (N,)."""
    arrays = read_npz_arrays(
        path, _KEYS + _ATTR_KEYS + ("labels",), what="gnn-benchmark graph", url=GNN_BENCHMARK_URL
    )
    adj = csr_from_parts(path, arrays, "adj")
    attr = csr_from_parts(path, arrays, "attr")
    labels = np.asarray(arrays["labels"])
    n = adj.shape[0]
    if adj.shape[1] != n or attr.shape[0] != n or labels.shape != (n,):
        raise InputError(
            f"{path}: node counts disagree: adjacency {adj.shape}, attributes {attr.shape}, "
            f"labels {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise InputError(f"{path}: labels must be non-negative integers (dtype {labels.dtype})")
    x = torch.from_numpy((attr.toarray() > 0).astype(np.float32))
    coo = adj.tocoo()
    edge_index = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
    return {"x": x, "edge_index": edge_index, "y": torch.from_numpy(labels.astype(np.int64))}
