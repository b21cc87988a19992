"""The run-folder contract every domain's stages keep (checked by each domain's CLI test)."""

from __future__ import annotations

import json
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"


def assert_run_folder(out: Path, *, checkpoint: str = "last.pt", tsne: bool = False) -> dict:
    """``out`` holds config.yaml, metrics.csv with rows, metrics.json, TensorBoard events, the
    checkpoint and at least one PNG under plots/; returns metrics.json."""
    for name in ("config.yaml", "metrics.csv", "metrics.json", checkpoint):
        assert (out / name).is_file(), f"{out} has no {name}"
    assert len((out / "metrics.csv").read_text().splitlines()) > 1, "metrics.csv has no rows"
    assert list((out / "tensorboard").rglob("events.out.tfevents.*")), "no TensorBoard events"
    pngs = sorted((out / "plots").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == PNG for p in pngs), f"no PNG in {out}/plots"
    if tsne:
        assert (out / "plots" / "tsne.png").is_file()
    return json.loads((out / "metrics.json").read_text())
