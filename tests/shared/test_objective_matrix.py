"""benchmarks/objective_matrix.py: which cells each column runs and with which section, that the
JSON is written after every cell and a rerun resumes, the table's marks, and the claim that
GRACE's published node contrast is the registry's info_nce / tiled_info_nce at tau 0.4."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from graph_cl.config import GraphExperiment
from graph_cl.data import stochastic_block_model
from graph_cl.experiment import build_method
from shared.config import load_config
from shared.losses.registry import fitting_objectives

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "objective_matrix.py"


@pytest.fixture(scope="module")
def matrix() -> ModuleType:
    spec = importlib.util.spec_from_file_location("objective_matrix", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["objective_matrix"] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def test_each_column_runs_the_default_and_every_other_fitting_objective(matrix: ModuleType) -> None:
    for column in matrix.COLUMNS.values():
        cells = matrix.cell_objectives(column)
        fits = fitting_objectives(column.provides)
        assert cells == ["default", *(n for n in fits if n not in column.same_as_default)]
    graph = matrix.cell_objectives(matrix.COLUMNS["graph"])
    assert "isogclr" in graph and "info_nce" not in graph and "swav" not in graph
    assert "isogclr" not in matrix.cell_objectives(matrix.COLUMNS["recsys"])  # no indices


def test_sections_take_the_domains_temperature(matrix: ModuleType) -> None:
    graph = matrix.COLUMNS["graph"]
    assert matrix.objective_section(graph, "default") == {}
    assert matrix.objective_section(graph, "dcl") == {"name": "dcl", "temperature": 0.4}
    assert matrix.objective_section(graph, "isogclr") == {"name": "isogclr", "tau_init": 0.4}
    assert matrix.objective_section(graph, "mochi") == {
        "name": "mochi",
        "temperature": 0.4,
        "num_mix": 128,
        "num_query_mix": 32,
    }
    assert matrix.objective_section(graph, "cacr") == {"name": "cacr"}  # no temperature key
    clipped = dataclasses.replace(graph, temperature=1.0)
    assert matrix.objective_section(clipped, "isogclr")["tau_init"] == 0.7  # iSogCLR's tau_max


def _toy(matrix: ModuleType, fail_at: int | None = None) -> tuple[Any, list[str]]:
    calls: list[str] = []

    def run(section: dict[str, Any], seed: int, budget: int, out: Path) -> dict[str, float]:
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        calls.append(f"{section.get('name', 'default')}/{seed}")
        return {"score": float(seed) if section else 10.0 + seed}

    toy = dataclasses.replace(matrix.COLUMNS["recsys"], run=run, metrics=("score",))
    return toy, calls


def test_the_json_is_written_after_every_cell_and_a_rerun_resumes(
    matrix: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "matrix.json"
    toy, calls = _toy(matrix, fail_at=3)
    monkeypatch.setitem(matrix.COLUMNS, "recsys", toy)
    with pytest.raises(KeyboardInterrupt):
        matrix.run_matrix(["recsys"], [0, 1], {"recsys": 5}, out, tmp_path / "runs")
    saved = json.loads(out.read_text())["cells"]
    assert sorted(saved) == sorted(f"recsys|{c.replace('/', '|budget=5|seed=')}" for c in calls)
    assert len(saved) == 3
    toy, calls = _toy(matrix)
    monkeypatch.setitem(matrix.COLUMNS, "recsys", toy)
    matrix.run_matrix(["recsys"], [0, 1], {"recsys": 5}, out, tmp_path / "runs")
    cells = matrix.cell_objectives(toy)
    assert len(calls) == 2 * len(cells) - 3  # only the missing cells ran
    cell = json.loads(out.read_text())["cells"]["recsys|dcl|budget=5|seed=1"]
    assert cell["section"] == {"name": "dcl", "temperature": 1.0} and cell["scores"]["score"] == 1
    assert cell["wall_s"] >= 0 and cell["cpu_s"] >= 0 and cell["budget_unit"] == "batches"


def test_the_table_marks_differences_beyond_the_seed_spread_and_cells_not_run(
    matrix: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "matrix.json"
    toy, _ = _toy(matrix)
    monkeypatch.setitem(matrix.COLUMNS, "recsys", toy)
    matrix.run_matrix(["recsys"], [0, 1], {"recsys": 5}, out, tmp_path / "runs")
    results = json.loads(out.read_text())
    del (
        results["cells"]["recsys|dcl|budget=5|seed=0"],
        results["cells"]["recsys|dcl|budget=5|seed=1"],
    )
    table = matrix.markdown_table(results, "recsys", 5)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert "10.5 ± 0.71 |" in rows["default (published)"]  # seeds 0, 1: 10 and 11
    assert "0.5 ± 0.71 * | -10 ± 0 |" in rows["dcl_w"]  # 10 apart, spreads 0.71
    assert "| not run |" in rows["dcl"]


def test_graces_published_contrast_is_info_nce_at_its_temperature() -> None:
    """The graph column's ``same_as_default``: one training step of GRACE gives the same loss
    with its published node contrast and with info_nce / tiled_info_nce at tau 0.4."""
    data = stochastic_block_model(60, 3, 6.0, 1.0, 12, 0.5, seed=0)
    tiny = ["method=grace", "grace.temperature=0.4", "grace.encoder.hidden_dim=16"]
    losses = {}
    for name in (None, "info_nce", "tiled_info_nce", "dcl"):
        chosen = [f"objective.name={name}", "objective.temperature=0.4"] if name else []
        torch.manual_seed(0)
        model = build_method(load_config(GraphExperiment, None, [*tiny, *chosen]), data)
        torch.manual_seed(1)
        losses[name] = model.training_step(data)["loss"].detach()
    torch.testing.assert_close(losses["info_nce"], losses[None], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(losses["tiled_info_nce"], losses[None], rtol=1e-6, atol=1e-7)
    assert not torch.allclose(losses["dcl"], losses[None])
