"""Tiny raw files in the real formats (Planetoid pickles, gnn-benchmark npz, ACM .mat, IMDB npz)
and pickle payloads that would write a marker file, for the bad-input tests."""

from __future__ import annotations

import builtins
import collections
import pickle
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse


class MarkerPayload:
    """Unpickling this runs ``open(marker, "w")``: the file appearing proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return builtins.open, (self.marker, "w")


def write_planetoid(folder: Path, name: str = "cora", **replace: object) -> Path:
    """A 12-node Planetoid data set (4 train, 4 more unlabelled-in-y, 4 test; 3 classes) written
    as pickles (protocol 4: protocol 2 from Python 3 encodes bytes through _codecs, which the
    originals, written by Python 2, do not); ``replace`` swaps one part's object."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    feats = (rng.random((12, 5)) > 0.5).astype(np.float32)
    labels = np.eye(3, dtype=np.int32)[np.arange(12) % 3]
    graph = collections.defaultdict(list)
    for i in range(12):
        graph[i].extend([(i + 1) % 12, (i - 1) % 12])
    parts: dict[str, object] = {
        "x": scipy.sparse.csr_matrix(feats[:4]),
        "y": labels[:4],
        "allx": scipy.sparse.csr_matrix(feats[:8]),
        "ally": labels[:8],
        "tx": scipy.sparse.csr_matrix(feats[8:]),
        "ty": labels[8:],
        "graph": graph,
    }
    parts.update(replace)
    for part, value in parts.items():
        (folder / f"ind.{name}.{part}").write_bytes(pickle.dumps(value, protocol=4))
    (folder / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in (9, 8, 11, 10)))
    return folder


def write_gnn_benchmark(path: Path, **replace: object) -> Path:
    """A 6-node ring in the gnn-benchmark npz layout."""
    adj = scipy.sparse.csr_matrix(np.roll(np.eye(6, dtype=np.float32), 1, axis=1))
    attr = scipy.sparse.csr_matrix(np.eye(6, 4, dtype=np.float32))
    arrays: dict[str, object] = {
        "adj_data": adj.data,
        "adj_indices": adj.indices,
        "adj_indptr": adj.indptr,
        "adj_shape": np.array(adj.shape),
        "attr_data": attr.data,
        "attr_indices": attr.indices,
        "attr_indptr": attr.indptr,
        "attr_shape": np.array(attr.shape),
        "labels": np.arange(6) % 2,
    }
    arrays.update(replace)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **{k: v for k, v in arrays.items() if v is not None})
    return path


def write_acm(root: Path, **replace: object) -> Path:
    """A 9-node ACM3025-style .mat under ``root/multiplex/ACM`` (3 classes, 3 / 3 / 3 split)."""
    n = 9
    ring = np.roll(np.eye(n, dtype=np.uint8), 1, axis=1)
    arrays: dict[str, object] = {
        "feature": np.eye(n, 4, dtype=np.uint8),
        "label": np.eye(3, dtype=np.uint8)[np.arange(n) % 3],
        "PAP": ring + ring.T + np.eye(n, dtype=np.uint8),
        "PLP": np.roll(ring, 2, axis=1),
        "PMP": ring,
        "PTP": ring,
        "train_idx": np.array([[0, 1, 2]]),
        "val_idx": np.array([[3, 4, 5]]),
        "test_idx": np.array([[6, 7, 8]]),
    }
    arrays.update(replace)
    path = root / "multiplex" / "ACM" / "ACM3025.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {k: v for k, v in arrays.items() if v is not None})
    return path


def write_imdb(root: Path, **replace: object) -> Path:
    """A 9-node imdb.npz under ``root/multiplex/IMDB`` (pairs stored one direction, no loops)."""
    n = 9
    feat = scipy.sparse.csr_matrix(np.eye(n, 4, dtype=np.float32))
    mask = np.zeros((3, n), dtype=bool)
    for s in range(3):
        mask[s, 3 * s : 3 * s + 3] = True
    arrays: dict[str, object] = {
        "feat_data": feat.data,
        "feat_indices": feat.indices,
        "feat_indptr": feat.indptr,
        "feat_shape": np.array(feat.shape),
        "labels": np.arange(n) % 3,
        "adj_MAM": np.stack([np.arange(n - 1), np.arange(1, n)]),
        "adj_MDM": np.stack([np.arange(n - 2), np.arange(2, n)]),
        "train_mask": mask[0],
        "val_mask": mask[1],
        "test_mask": mask[2],
    }
    arrays.update(replace)
    path = root / "multiplex" / "IMDB" / "imdb.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path
