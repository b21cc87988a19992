"""Any fitting core loss as PRC's scene-level point contrast, chosen by ``objective:``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointcloud_cl.lidar_backbone import LidarBEVEncoder
from pointcloud_cl.prc import SCENE_CONTRAST_PROVIDES, PointRegionContrast
from pointcloud_cl.regions import segment_regions
from pointcloud_cl.views import ViewAugmentation, make_point_views
from shared.errors import InputError
from shared.losses.registry import fitting_objectives
from tests.pointcloud_cl.test_methods import GRID, frames  # noqa: F401 (the fixture)

FITTING = fitting_objectives(SCENE_CONTRAST_PROVIDES)


@pytest.fixture(scope="module")
def batch(frames):  # noqa: F811
    scans = [f.points for f in frames]
    regions = [segment_regions(s) for s in scans]
    return make_point_views(scans, regions, GRID, ViewAugmentation(), np.random.default_rng(0))


@pytest.mark.parametrize("objective", FITTING)
def test_two_steps_with_each_objective_are_finite_and_reach_the_encoder(batch, objective):
    torch.manual_seed(0)
    method = PointRegionContrast(
        LidarBEVEncoder(GRID, 4, 16), 32, 128, 128, 128, scene_contrast={"name": objective}
    )
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-3)
    for _ in range(2):
        out = method.training_step(batch)
        assert torch.isfinite(out["loss"]) and torch.isfinite(out["rapc"])
        optimizer.zero_grad()
        out["loss"].backward()
        grads = [p.grad for p in method.encoder.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
        optimizer.step()


def test_a_named_objective_changes_the_scene_term_and_unfitting_ones_fail(batch):
    values = {}
    for section in (None, {"name": "dcl", "temperature": 0.07}):
        torch.manual_seed(0)
        method = PointRegionContrast(
            LidarBEVEncoder(GRID, 4, 16), 32, 128, 128, 128, scene_contrast=section
        )
        torch.manual_seed(1)
        values[section is None] = float(method.training_step(batch)["rapc"])
    assert values[True] != values[False]
    with pytest.raises(InputError, match="objectives that fit 'prc scene-level term'"):
        PointRegionContrast(LidarBEVEncoder(GRID, 4, 16), 32, scene_contrast={"name": "isogclr"})
