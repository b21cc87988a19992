"""Graph files a careless user or a hostile file could give: one clear InputError naming the file,
never code execution (crafted Planetoid pickles), never a silent wrong graph."""

from __future__ import annotations

import logging
import pickle
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from graph_cl.data import load_dataset
from graph_cl.planetoid_io import read_planetoid
from shared.cli import main
from shared.errors import InputError
from tests.graph_cl.fake_graph_files import (
    MarkerPayload,
    write_acm,
    write_gnn_benchmark,
    write_imdb,
    write_planetoid,
)


def test_a_crafted_planetoid_pickle_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    folder = write_planetoid(tmp_path / "raw", x=MarkerPayload(marker))
    with pytest.raises(InputError, match=r"ind\.cora\.x"):
        read_planetoid(folder, "cora")
    assert not marker.exists()


def test_truncated_and_missing_planetoid_files_are_named(tmp_path: Path) -> None:
    folder = write_planetoid(tmp_path / "raw")
    path = folder / "ind.cora.allx"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(InputError, match=r"ind\.cora\.allx"):
        read_planetoid(folder, "cora")
    (folder / "ind.cora.graph").unlink()
    with pytest.raises(InputError, match="not found"):
        read_planetoid(folder, "cora")


def test_all_zero_label_rows_and_negative_node_ids_are_errors(tmp_path: Path) -> None:
    labels = np.eye(3, dtype=np.int32)[np.arange(8) % 3]
    labels[2] = 0
    with pytest.raises(InputError, match=r"ind\.cora\.ally"):
        read_planetoid(write_planetoid(tmp_path / "a", ally=labels), "cora")
    graph = {i: [(i + 1) % 12] for i in range(12)}
    graph[3] = [-1]
    with pytest.raises(InputError, match=r"ind\.cora\.graph"):
        read_planetoid(write_planetoid(tmp_path / "b", graph=graph), "cora")


def test_too_few_nodes_for_the_public_split_is_an_input_error(tmp_path: Path) -> None:
    """10 training labels need nodes 10..509 for validation; 504 rows of allx cannot hold them
    (PyG's own reader raises IndexError here)."""
    labels = np.eye(3, dtype=np.int32)[np.arange(10) % 3]
    folder = write_planetoid(
        tmp_path / "raw", x=scipy.sparse.csr_matrix(np.ones((10, 5), np.float32)), y=labels
    )
    with pytest.raises(InputError, match=r"ind\.cora\.allx: 504 rows, but the public split"):
        read_planetoid(folder, "cora")


# The processed cache ---------------------------------------------------------------------------


def _cora(root: Path) -> Path:
    write_planetoid(root / "Cora" / "raw")
    return root


def test_cache_of_another_root_or_other_files_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    first = load_dataset("cora", _cora(tmp_path / "a"), cache)
    # the same bytes under another root: its own entry, never the first root's
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    load_dataset("cora", tmp_path / "b", cache)
    assert len(list(cache.glob("cora-*.pt"))) == 2
    # a raw file changed after caching: the graph is read again, not served from the cache
    ring = {i: [(i + 1) % 508] for i in range(508)}
    write_planetoid(tmp_path / "a" / "Cora" / "raw", graph=ring | {0: [1, 2, 3]})
    changed = load_dataset("cora", tmp_path / "a", cache)
    assert changed.edge_index.shape[1] == first.edge_index.shape[1] + 4
    assert len(list(cache.glob("cora-*.pt"))) == 3


def test_cache_entry_with_another_key_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry at this data set's path whose stored key is another's (a hash-prefix clash or a
    copied cache folder) is not served."""
    root, cache = _cora(tmp_path / "data"), tmp_path / "cache"
    clean = load_dataset("cora", root, cache)
    (entry,) = cache.glob("cora-*.pt")
    torch.save({"key": "0" * 64, "tensors": {"x_shape": torch.tensor([1, 1])}}, entry)
    with caplog.at_level(logging.WARNING, logger="contrast"):
        again = load_dataset("cora", root, cache)
    assert "cache entry of other raw files; rebuilding it" in caplog.text
    assert torch.equal(again.x, clean.x) and torch.equal(again.edge_index, clean.edge_index)


def _damage_and_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], object]
) -> None:
    """Build the cache, ``damage`` its entry, load again: the entry is rebuilt with a warning
    and the graph is the same."""
    root, cache = _cora(tmp_path / "data"), tmp_path / "cache"
    clean = load_dataset("cora", root, cache)
    (entry,) = cache.glob("cora-*.pt")
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="contrast"):
        again = load_dataset("cora", root, cache)
    assert "unreadable cache entry" in caplog.text and "rebuilding" in caplog.text
    assert torch.equal(again.x, clean.x) and torch.equal(again.edge_index, clean.edge_index)
    assert torch.load(entry, weights_only=True)["tensors"]["y"].shape == (508,)


@pytest.mark.parametrize("form", ["raw pickle", "torch.save of an object"])
def test_a_crafted_cache_entry_runs_no_code_and_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    marker = tmp_path / "ran"
    if form == "raw pickle":
        _damage_and_reload(
            tmp_path, caplog, lambda p: p.write_bytes(pickle.dumps(MarkerPayload(marker)))
        )
    else:
        payload = {"key": "k", "tensors": MarkerPayload(marker)}
        _damage_and_reload(tmp_path, caplog, lambda p: torch.save(payload, p))
    assert not marker.exists()


def test_a_truncated_cache_entry_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _damage_and_reload(tmp_path, caplog, lambda p: p.write_bytes(p.read_bytes()[:100]))


# Multiplex ACM (.mat) and IMDB (.npz) ----------------------------------------------------------

N = 9
RING = np.roll(np.eye(N, dtype=np.uint8), 1, axis=1)
BAD_ACM: list[tuple[str, dict[str, object], str]] = [
    ("missing layer", {"PLP": None}, r"missing array\(s\) or layer\(s\) \['PLP'\]"),
    ("missing labels", {"label": None}, r"missing array\(s\) or layer\(s\) \['label'\]"),
    ("layer 8x8", {"PAP": np.eye(8, dtype=np.uint8)}, r"layer PAP has shape \(8, 8\) but the feat"),
    ("layer 9x8", {"PLP": RING[:, :8]}, r"layer PLP has shape \(9, 8\)"),
    ("8 feature rows", {"feature": np.eye(8, 4)}, r"layer PAP has shape \(9, 9\) but the features"),
    # a vector is stored by savemat as one (1, 9) row: one node, so the layers disagree
    (
        "feature vector",
        {"feature": np.ones(N)},
        r"PAP has shape \(9, 9\) but the features describe 1 nodes",
    ),
    ("8 label rows", {"label": np.eye(3)[np.arange(8) % 3]}, r"label must be an \(9, classes\)"),
    (
        "all-zero label",
        {"label": np.eye(3)[np.arange(N) % 3] * (np.arange(N) != 4)[:, None]},
        r"1 label row\(s\) are not one-hot",
    ),
    (
        "two-hot label",
        {"label": np.eye(3)[np.arange(N) % 3] + np.eye(3)[[1] * N]},
        r"label row\(s\) are not one-hot",
    ),
    (
        "test id 9",
        {"test_idx": np.array([[6, 7, 9]])},
        r"test indices in \[6, 9\] fall outside the 9",
    ),
    (
        "negative val id",
        {"val_idx": np.array([[-1, 4, 5]])},
        r"val indices in \[-1, 5\] fall outside",
    ),
    ("float split", {"train_idx": np.array([[0.0, 1.0, 2.0]])}, r"train indices must be integers"),
    (
        "overlapping splits",
        {"test_idx": np.array([[5, 7, 8]])},
        r"1 test node\(s\) are also in an earlier",
    ),
    ("empty split", {"val_idx": np.zeros((1, 0), np.int64)}, r"the val split is empty"),
    (
        "class only in test",
        {"train_idx": np.array([[0, 1]])},
        r"class\(es\) \[2\] occur in the val",
    ),
]


@pytest.mark.parametrize(("case", "replace", "message"), BAD_ACM, ids=[c[0] for c in BAD_ACM])
def test_bad_acm_file_is_named(
    tmp_path: Path, case: str, replace: dict[str, object], message: str
) -> None:
    path = write_acm(tmp_path, **replace)
    with pytest.raises(InputError, match="^" + re.escape(str(path)) + ": ") as err:
        load_dataset("acm", tmp_path, tmp_path / "cache")
    assert re.search(message, str(err.value)), str(err.value)


BAD_IMDB: list[tuple[str, dict[str, object], str]] = [
    ("missing layer", {"adj_MDM": None}, r"lacks the array\(s\) \['adj_MDM'\]"),
    ("3-row layer", {"adj_MAM": np.zeros((3, 4), np.int64)}, r"adj_MAM must be a 2 x E integer"),
    (
        "float layer",
        {"adj_MAM": np.zeros((2, 4))},
        r"adj_MAM must be a 2 x E integer array, got float",
    ),
    (
        "negative id",
        {"adj_MDM": np.array([[0, 1], [-1, 2]])},
        r"layer MDM has node ids in \[-1, 2\]",
    ),
    (
        "id past the features",
        {"adj_MAM": np.array([[0, 1], [9, 2]])},
        r"layer MAM has node ids in \[0, 9\] but the features describe 9",
    ),
    ("8 labels", {"labels": np.arange(8) % 3}, r"labels must be 9 non-negative integers"),
    (
        "negative label",
        {"labels": np.arange(N) % 3 - (np.arange(N) == 0)},
        r"labels must be 9 non-negative",
    ),
    ("short mask", {"test_mask": np.ones(8, bool)}, r"test_mask must be 9 booleans"),
    ("no edges", {"adj_MAM": np.zeros((2, 0), np.int64)}, r"edge_index layer 0 has no edges"),
    (
        "only self-loops",
        {"adj_MAM": np.stack([np.arange(N)] * 2)},
        r"edge_index layer 0 has no edges besides self-loops",
    ),
]


@pytest.mark.parametrize(("case", "replace", "message"), BAD_IMDB, ids=[c[0] for c in BAD_IMDB])
def test_bad_imdb_file_is_named(
    tmp_path: Path, case: str, replace: dict[str, object], message: str
) -> None:
    path = write_imdb(tmp_path, **replace)
    with pytest.raises(InputError, match="^" + re.escape(str(path)) + ": ") as err:
        load_dataset("imdb", tmp_path, tmp_path / "cache")
    assert re.search(message, str(err.value)), str(err.value)


@pytest.mark.parametrize("name", ["acm", "imdb"])
@pytest.mark.parametrize(
    ("case", "damage", "message"),
    [
        ("truncated", lambda raw: raw[: len(raw) // 2], "truncated or foreign"),
        ("foreign bytes", lambda raw: b"name: not a matrix\n" * 20, "truncated or foreign"),
        ("empty", lambda raw: b"", "truncated or foreign"),
    ],
)
def test_truncated_or_foreign_multiplex_file_is_named(
    tmp_path: Path, name: str, case: str, damage: Callable[[bytes], bytes], message: str
) -> None:
    path = (write_acm if name == "acm" else write_imdb)(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(InputError, match="^" + re.escape(str(path)) + ": ") as err:
        load_dataset(name, tmp_path, tmp_path / "cache")
    assert message in str(err.value)


def test_missing_multiplex_file_and_unknown_layer_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"ACM3025\.mat: ACM file not found; get ACM3025 from"):
        load_dataset("acm", tmp_path)
    write_imdb(tmp_path)
    with pytest.raises(InputError, match=r"imdb has no layer\(s\) \['PAP'\]"):
        load_dataset("imdb", tmp_path, tmp_path / "cache", multiplex_layers=["PAP"])


# gnn-benchmark npz: a graph with no edges, bad labels, shapes that disagree -------------------

EMPTY_ADJ = scipy.sparse.csr_matrix((6, 6), dtype=np.float32)
BAD_NPZ: list[tuple[str, dict[str, object], str]] = [
    (
        "no edges",
        {
            "adj_data": EMPTY_ADJ.data,
            "adj_indices": EMPTY_ADJ.indices,
            "adj_indptr": EMPTY_ADJ.indptr,
        },
        r"edge_index layer 0 has no edges; a graph method needs structure",
    ),
    (
        "only self-loops",
        {"adj_indices": np.arange(6, dtype=np.int32)},
        r"has no edges besides self-loops",
    ),
    (
        "negative column",
        {"adj_indices": np.array([1, 2, 3, 4, 5, -1], np.int32)},
        r"adj_\* arrays are not a valid CSR matrix",
    ),
    (
        "negative label",
        {"labels": np.array([0, 1, 0, -1, 0, 1])},
        r"labels must be non-negative integers",
    ),
    ("float labels", {"labels": np.arange(6) / 2}, r"labels must be non-negative integers"),
    ("5 labels", {"labels": np.arange(5) % 2}, r"node counts disagree"),
    ("missing array", {"attr_data": None}, r"lacks the array\(s\) \['attr_data'\]"),
    ("bad shape", {"adj_shape": np.array([6])}, r"adj_shape must be two positive sizes"),
]


@pytest.mark.parametrize(("case", "replace", "message"), BAD_NPZ, ids=[c[0] for c in BAD_NPZ])
def test_bad_gnn_benchmark_file_is_named(
    tmp_path: Path, case: str, replace: dict[str, object], message: str
) -> None:
    path = write_gnn_benchmark(
        tmp_path / "Photo" / "raw" / "amazon_electronics_photo.npz", **replace
    )
    with pytest.raises(InputError, match="^" + re.escape(str(path)) + ": ") as err:
        load_dataset("photo", tmp_path, tmp_path / "cache")
    assert re.search(message, str(err.value)), str(err.value)


# Through the command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "breaks", "message"),
    [
        (
            "truncated pickle",
            lambda raw: (raw / "ind.cora.ally").write_bytes(b"\x80\x04"),
            r"ind\.cora\.ally: not a readable Planetoid pickle",
        ),
        (
            "missing file",
            lambda raw: (raw / "ind.cora.graph").unlink(),
            r"ind\.cora\.graph: Planetoid raw file not found",
        ),
        (
            "crafted pickle",
            lambda raw: write_planetoid(raw, tx=MarkerPayload(raw / "ran")),
            r"ind\.cora\.tx: refused to load ",
        ),
    ],
    ids=["truncated pickle", "missing file", "crafted pickle"],
)
def test_cli_prints_one_error_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    breaks: Callable[[Path], object],
    message: str,
) -> None:
    raw = tmp_path / "Cora" / "raw"
    write_planetoid(raw)
    breaks(raw)
    argv = ["graph", "pretrain", "data.name=cora", f"data.root={tmp_path}"]
    argv += [f"data.cache_dir={tmp_path / 'cache'}", f"trainer.out_dir={tmp_path / 'run'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"contrast: error: {raw}/") and re.search(message, lines[0])
    assert not (raw / "ran").exists()
