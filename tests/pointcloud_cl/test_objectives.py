"""Any fitting core loss as PRC's scene-level point contrast or SLidR's superpixel contrast,
chosen by ``objective:``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointcloud_cl.camera_backbone import ImageEncoder
from pointcloud_cl.config import PointcloudExperiment
from pointcloud_cl.experiment import build
from pointcloud_cl.lidar_backbone import LidarBEVEncoder
from pointcloud_cl.prc import SCENE_CONTRAST_PROVIDES, PointRegionContrast
from pointcloud_cl.regions import segment_regions
from pointcloud_cl.slidr import (
    SUPERPIXEL_CONTRAST_PROVIDES,
    SLidR,
    SuperpixelConfig,
    make_superpixel_pairs,
    superpixel_contrast,
    superpixels,
)
from pointcloud_cl.views import ViewAugmentation, make_point_views
from shared.config import load_config
from shared.errors import InputError
from shared.losses.registry import build_objective, fitting_objectives
from tests.pointcloud_cl.test_methods import GRID, frames  # noqa: F401 (the fixture)
from tests.pointcloud_cl.test_slidr_loss import OFFICIAL, _inputs

FITTING = fitting_objectives(SCENE_CONTRAST_PROVIDES)
SLIDR_FITTING = fitting_objectives(SUPERPIXEL_CONTRAST_PROVIDES)
# SLidR's own loss written as an objective section: the InfoNCE over superpixels, k -> q only,
# on the un-renormalised averages.
SLIDR_AS_OBJECTIVE = {
    "name": "info_nce",
    "temperature": 0.07,
    "intra_view_negatives": False,
    "symmetric": False,
    "normalize": False,
}


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


@pytest.fixture(scope="module")
def superpixel_batch(frames):  # noqa: F811
    cfg = SuperpixelConfig(n_segments=30)
    maps = [[superpixels(c.image, cfg) for c in f.cameras] for f in frames]
    return make_superpixel_pairs(frames, maps, GRID)


def _slidr(objective=None) -> SLidR:
    torch.manual_seed(0)
    return SLidR(LidarBEVEncoder(GRID, 4, 16), ImageEncoder(8), 16, objective=objective)


@pytest.mark.parametrize("objective", SLIDR_FITTING)
def test_slidr_two_steps_with_each_objective_are_finite_and_reach_the_encoder(
    superpixel_batch, objective
):
    method = _slidr({"name": objective})
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(2):
        loss = method.training_step(superpixel_batch)["loss"]
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in method.encoder.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
        assert all(p.grad is None for p in method.image_teacher.parameters())
        optimizer.step()


def test_slidr_objective_section_reproduces_the_official_loss_and_dcl_differs(superpixel_batch):
    def loss(objective=None) -> float:
        return float(_slidr(objective).training_step(superpixel_batch)["loss"].detach())

    default, spelled = loss(), loss(SLIDR_AS_OBJECTIVE)
    dcl = loss({"name": "dcl", "temperature": 0.07})
    assert spelled == pytest.approx(default, abs=1e-6)
    assert abs(dcl - default) > 1e-3


def test_slidr_objective_on_the_golden_inputs_gives_the_official_value():
    points, pixels, sp, pair_point, pair_pixel = _inputs()
    unique = sp + 6 * torch.arange(2)[:, None, None]
    loss, used = superpixel_contrast(
        points[pair_point],
        pixels.permute(0, 2, 3, 1).reshape(-1, pixels.shape[1]),
        unique[pair_pixel[:, 0], pair_pixel[:, 1], pair_pixel[:, 2]],
        unique.flatten(),
        12,
        objective=build_objective(SLIDR_AS_OBJECTIVE, dim=8),
    )
    assert int(used) == 9
    assert float(loss) == pytest.approx(OFFICIAL[0.07], abs=1e-5)


@pytest.mark.parametrize("name", ["isogclr", "swav", "symile", "supcon"])
def test_slidr_rejects_objectives_that_do_not_fit_and_names_those_that_do(name):
    with pytest.raises(InputError, match="objectives that fit 'slidr superpixel contrast'") as err:
        _slidr({"name": name})
    assert all(fit in str(err.value) for fit in SLIDR_FITTING)


@pytest.mark.parametrize(
    ("method", "label"), [("slidr", "slidr superpixel contrast"), ("prc", "prc scene-level term")]
)
def test_an_unfitting_objective_fails_before_any_data_is_read(tmp_path, method, label):
    exp = load_config(
        PointcloudExperiment,
        None,
        [
            f"method={method}",
            f"data.root={tmp_path / 'absent'}",
            "data.make_synthetic=false",
            "objective={name: swav}",
        ],
    )
    with pytest.raises(InputError, match=f"objectives that fit '{label}'"):
        build(exp)
    assert not (tmp_path / "absent").exists()
