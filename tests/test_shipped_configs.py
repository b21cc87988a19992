"""Every shipped config loads in its domain's experiment class, keeps the one config shape and
lets a person see progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DOMAINS = {
    "graph": ("graph_cl.config", "GraphExperiment"),
    "recsys": ("recsys_cl.config", "RecsysExperiment"),
    "timeseries": ("timeseries_cl.config", "TimeseriesExperiment"),
    "pointcloud": ("pointcloud_cl.config", "PointcloudExperiment"),
}
PATHS = sorted(CONFIGS.glob("*/*.yaml"))


def _trainer_sections(value: Any) -> list[dict]:
    if not isinstance(value, dict):
        return []
    found = [value["trainer"]] if isinstance(value.get("trainer"), dict) else []
    for child in value.values():
        found += _trainer_sections(child)
    return found


def test_every_domain_ships_configs():
    assert {p.parent.name for p in PATHS} == set(DOMAINS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_loads_with_progress_on(path: Path):
    import importlib

    module, name = DOMAINS[path.parent.name]
    exp = load_config(getattr(importlib.import_module(module), name), path, [])
    assert exp.trainer.progress
    raw = yaml.safe_load(path.read_text())
    assert all(section.get("progress", True) for section in _trainer_sections(raw)), path
    if "method" in raw:  # the one shape: a top-level method name, not a section
        assert isinstance(raw["method"], str)
