"""Tiny raw files in the real formats (Planetoid pickles, gnn-benchmark npz, ACM .mat, IMDB npz)
and pickle payloads that would write a marker file, for the bad-input tests."""

from __future__ import annotations

import builtins
import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.sparse


class MarkerPayload:
    """Unpickling this runs ``open(marker, "w")``: the file appearing proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return builtins.open, (self.marker, "w")


PLANETOID_TRAIN, PLANETOID_VAL, PLANETOID_TEST = 4, 500, 4
PLANETOID_TEST_IDS = (505, 504, 507, 506)


def write_planetoid(folder: Path, name: str = "cora", **replace: object) -> Path:
    """A 508-node Planetoid data set written as pickles, ``replace`` swapping one part's object.

    Its layout is what the public split needs (PyG's and ours alike): ``y`` labels the first 4
    nodes (train), ``allx`` / ``ally`` hold those and the next 500 (validation: nodes |y| ..
    |y| + 499 must exist), ``tx`` / ``ty`` the 4 test nodes whose ids ``test.index`` lists in
    file order; 5 binary features, 3 classes (node i is class i mod 3), a ring graph. Written
    with protocol 4 (protocol 2 from Python 3 encodes bytes through _codecs, which the
    originals, written by Python 2, do not).
    """
    folder.mkdir(parents=True, exist_ok=True)
    lo = PLANETOID_TRAIN + PLANETOID_VAL
    n = lo + PLANETOID_TEST
    rng = np.random.default_rng(0)
    feats = (rng.random((n, 5)) > 0.5).astype(np.float32)
    labels = np.eye(3, dtype=np.int32)[np.arange(n) % 3]
    test_rows = np.array(PLANETOID_TEST_IDS)
    graph = collections.defaultdict(list)
    for i in range(n):
        graph[i].extend([(i + 1) % n, (i - 1) % n])
    parts: dict[str, object] = {
        "x": scipy.sparse.csr_matrix(feats[:PLANETOID_TRAIN]),
        "y": labels[:PLANETOID_TRAIN],
        "allx": scipy.sparse.csr_matrix(feats[:lo]),
        "ally": labels[:lo],
        "tx": scipy.sparse.csr_matrix(feats[test_rows]),
        "ty": labels[test_rows],
        "graph": graph,
    }
    parts.update(replace)
    for part, value in parts.items():
        (folder / f"ind.{name}.{part}").write_bytes(pickle.dumps(value, protocol=4))
    (folder / f"ind.{name}.test.index").write_text("".join(f"{i}\n" for i in test_rows))
    return folder


def write_gnn_benchmark(path: Path, **replace: object) -> Path:
    """A 6-node ring in the gnn-benchmark npz layout."""
    adj = scipy.sparse.csr_matrix(np.roll(np.eye(6, dtype=np.float32), 1, axis=1))
    attr = scipy.sparse.csr_matrix(np.eye(6, 4, dtype=np.float32))
    arrays: dict[str, Any] = {
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
    arrays: dict[str, Any] = {
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
    arrays: dict[str, Any] = {
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
