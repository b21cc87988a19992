"""Graph files a careless user or a hostile file could give: one clear InputError naming the file,
never code execution (crafted Planetoid pickles), never a silent wrong graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph_cl.planetoid_io import read_planetoid
from shared.errors import InputError
from tests.graph_cl.fake_graph_files import MarkerPayload, write_planetoid


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
