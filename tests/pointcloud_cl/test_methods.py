"""Regions, PRC, SLidR, Lift-Splat and RAD: behaviour on synthetic scenes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pointcloud_cl.camera_backbone import (
    CameraBEVEncoder,
    ImageEncoder,
    LiftSplat,
    make_camera_batch,
    resize_camera,
)
from pointcloud_cl.geometry import project_to_image
from pointcloud_cl.io import CAMERA_CHANNELS, CameraView, load_info_frame
from pointcloud_cl.lidar_backbone import LidarBEVEncoder
from pointcloud_cl.nuscenes_data import load_frame, open_nuscenes
from pointcloud_cl.prc import PointRegionContrast
from pointcloud_cl.rad import RegionAwareDistillation, RegionBEVBatch, region_cells
from pointcloud_cl.raycast import points_in_box
from pointcloud_cl.regions import segment_regions
from pointcloud_cl.slidr import SLidR, SuperpixelConfig, make_superpixel_pairs, superpixels
from pointcloud_cl.views import ViewAugmentation, make_point_views
from pointcloud_cl.voxelize import VoxelGrid, crop_to_range, voxelize_batch

GRID = VoxelGrid((-25.6, -25.6, -3.2, 25.6, 25.6, 3.2), (0.2, 0.2, 0.2))


@pytest.fixture(scope="module")
def frames(synthetic_root: Path):
    nusc = open_nuscenes(synthetic_root)
    out = []
    for sample in nusc.sample[:2]:
        frame = load_frame(nusc, sample["token"])
        frame.points = crop_to_range(frame.points, GRID)
        out.append(frame)
    return out


def _train(method: torch.nn.Module, batch, steps: int) -> list[float]:
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=2e-3)
    method.train()
    losses = []
    for _ in range(steps):
        loss = method.training_step(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_regions_are_pure_objects_on_synthetic_scans(frames) -> None:
    frame = frames[0]
    region = segment_regions(frame.points)
    owner = np.full(len(frame.points), -1)
    for index, box in enumerate(frame.boxes):
        owner[points_in_box(frame.points[:, :3], box, margin=0.1)] = index
    # half of the 12 objects become regions; the official heuristics drop single visible faces
    # (side ratio < 0.1) and footprints under 0.25 m^2 (cones)
    assert region.max() + 1 >= 6
    for r in range(region.max() + 1):
        boxes, counts = np.unique(owner[region == r], return_counts=True)
        assert counts.max() / counts.sum() > 0.95 and boxes[counts.argmax()] >= 0  # one object each
    ground = frame.points[:, 2] < -1.7
    assert (region[ground] == -1).mean() > 0.99


@pytest.mark.realdata
def test_regions_on_the_real_scan(demo_info: Path) -> None:
    points = load_info_frame(demo_info).points
    region = segment_regions(points)
    assert 20 < region.max() + 1 < 500
    assert 0.02 < (region >= 0).mean() < 0.5
    assert np.abs(points[region >= 0, :2]).min(axis=1).max() > 2.5  # ego points excluded


def test_point_views_keep_correspondence(frames) -> None:
    scans = [f.points for f in frames]
    regions = [segment_regions(s) for s in scans]
    views = make_point_views(scans, regions, GRID, ViewAugmentation(), np.random.default_rng(0))
    a, b = views.xyz
    # both views are rigid (scaled) transforms of the same points: pairwise distances are
    # proportional within each scan
    sel = views.batch_index == 0
    da = torch.cdist(a[sel][:50], a[sel][:50])
    db = torch.cdist(b[sel][:50], b[sel][:50])
    ratio = (da / db.clamp_min(1e-6))[da > 1]
    assert ratio.std() < 1e-3
    assert (
        views.region.max() + 1 == sum(int(r.max()) + 1 for r in regions) or views.region.max() > 0
    )
    with pytest.raises(ValueError, match="region labels"):
        make_point_views(
            scans, [regions[0][:-1], regions[1]], GRID, ViewAugmentation(), np.random.default_rng(0)
        )


def test_prc_loss_decreases_and_reports_both_terms(frames) -> None:
    scans = [f.points for f in frames]
    regions = [segment_regions(s) for s in scans]
    batch = make_point_views(scans, regions, GRID, ViewAugmentation(), np.random.default_rng(0))
    torch.manual_seed(0)
    method = PointRegionContrast(LidarBEVEncoder(GRID, 4, 16), 32, 256, 256, 256)
    out = method.training_step(batch)
    torch.testing.assert_close(out["loss"].detach(), 0.5 * out["plrc"] + 0.5 * out["rapc"])
    losses = _train(method, batch, 8)
    assert losses[-1] < losses[0] - 0.3


def test_prc_rejects_scans_without_regions(frames) -> None:
    scans = [frames[0].points]
    no_regions = [np.full(len(scans[0]), -1)]
    batch = make_point_views(scans, no_regions, GRID, ViewAugmentation(), np.random.default_rng(0))
    method = PointRegionContrast(LidarBEVEncoder(GRID, 4, 16), 32)
    with pytest.raises(ValueError, match="inside regions"):
        method.training_step(batch)
    with pytest.raises(ValueError, match="alpha"):
        PointRegionContrast(LidarBEVEncoder(GRID, 4, 16), alpha=1.5)


def test_slidr_pairs_points_with_their_superpixels_and_learns(frames) -> None:
    cfg = SuperpixelConfig(n_segments=30)
    maps = [[superpixels(c.image, cfg) for c in f.cameras] for f in frames]
    batch = make_superpixel_pairs(frames, maps, GRID)
    # every pairing points at a pixel inside its image and the point projects there
    _, row, col = batch.pixel.T
    assert (row < 64).all() and (col < 112).all() and len(batch.point_index) > 1000
    assert batch.superpixel.max() + 1 == sum(int(s.max()) + 1 for f in maps for s in f)
    torch.manual_seed(0)
    teacher = ImageEncoder(8)
    method = SLidR(LidarBEVEncoder(GRID, 4, 16), teacher, projection_dim=16)
    frozen = {k: v.clone() for k, v in teacher.state_dict().items()}
    losses = _train(method, batch, 8)
    assert losses[-1] < losses[0] - 0.2
    for k, v in teacher.state_dict().items():  # teacher weights and BN statistics untouched
        torch.testing.assert_close(v, frozen[k])


def test_slidr_rejects_mismatched_superpixels(frames) -> None:
    with pytest.raises(ValueError, match="superpixels for 1"):
        make_superpixel_pairs(frames, [[np.zeros((64, 112), np.int64)] * 6], GRID)
    wrong = [[np.zeros((10, 10), np.int64)] * 6 for _ in frames]
    with pytest.raises(ValueError, match="expected"):
        make_superpixel_pairs(frames, wrong, GRID)


def test_lift_splat_puts_front_camera_features_in_front(frames) -> None:
    """A feature seen only by CAM_FRONT must land in BEV cells ahead of the car (x > 0)."""
    cams = make_camera_batch(frames[:1], CAMERA_CHANNELS)
    splat = LiftSplat(GRID, (64, 112), in_channels=1, out_channels=1, depth_bins=(2.0, 20.0, 2.0))
    feats = torch.zeros(6, 1, 8, 14)
    feats[0] = 1.0  # CAM_FRONT only
    with torch.no_grad():
        splat.depth_net.weight.zero_()
        splat.depth_net.bias.zero_()
        splat.depth_net.weight[-1, 0] = 1.0  # context channel = the input feature
        bev = splat(feats, cams)[0, 0]
    cols = torch.nonzero(bev > 0)[:, 1]
    x_centres = GRID.point_range[0] + (cols.float() + 0.5) * 1.6
    assert len(cols) > 0 and (x_centres > 0).all()
    # sum pooling keeps the mass: each in-range frustum point carries 1 / n_depth of its pixel
    pts = splat.frustum_points(cams.intrinsics, cams.lidar_to_camera)[0, 0].reshape(-1, 3)
    inside = torch.from_numpy(GRID.inside(pts.numpy()))
    torch.testing.assert_close(bev.sum(), inside.sum() / splat.n_depth)


def test_camera_batch_errors(frames) -> None:
    with pytest.raises(KeyError, match="no camera CAM_SIDE"):
        make_camera_batch(frames, ["CAM_SIDE"])
    encoder = CameraBEVEncoder(GRID, (128, 224), width=8, bev_channels=8)
    with pytest.raises(ValueError, match="built for"):
        encoder(make_camera_batch(frames, CAMERA_CHANNELS))  # images are 64 x 112
    mixed = [
        frames[0],
        replace(frames[1], cameras=[resize_view(c, (32, 56)) for c in frames[1].cameras]),
    ]
    with pytest.raises(ValueError, match="expected"):
        make_camera_batch(mixed, CAMERA_CHANNELS)
    assert make_camera_batch(mixed, CAMERA_CHANNELS, (64, 112)).images.shape == (2, 6, 3, 64, 112)


def resize_view(cam: CameraView, image_hw: tuple[int, int]) -> CameraView:
    image, intrinsic = resize_camera(cam, image_hw)
    return CameraView(cam.channel, image, intrinsic, cam.lidar_to_camera)


def test_resized_camera_keeps_the_projection(frames) -> None:
    """Halving the image halves the pixel coordinates of every projected point."""
    cam = frames[0].cameras[0]
    small = resize_view(cam, (32, 56))
    xyz = frames[0].points[:, :3].astype(np.float64)
    full = project_to_image(xyz, cam.lidar_to_camera, cam.intrinsic, cam.image_hw)
    half = project_to_image(xyz, small.lidar_to_camera, small.intrinsic, small.image_hw)
    np.testing.assert_allclose(half.uv[full.visible], full.uv[full.visible] / 2, rtol=1e-9)
    assert small.image.shape == (32, 56, 3)


def _calibrated_teacher(scans) -> LidarBEVEncoder:
    torch.manual_seed(0)
    teacher = LidarBEVEncoder(GRID, 4, 16)
    for module in teacher.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative statistics from one pass
    with torch.no_grad():
        teacher.train()(voxelize_batch(scans, GRID))
    return teacher


def test_rad_distils_into_the_camera_branch_only(frames) -> None:
    scans = [f.points for f in frames]
    regions = [segment_regions(s) for s in scans]
    cells, owner = region_cells(scans, regions, GRID)
    assert len(torch.unique(cells, dim=0)) == len(cells)  # one region per cell
    batch = RegionBEVBatch(
        voxelize_batch(scans, GRID), make_camera_batch(frames, CAMERA_CHANNELS), cells, owner
    )
    teacher = _calibrated_teacher(scans)
    frozen = {k: v.clone() for k, v in teacher.state_dict().items()}
    method = RegionAwareDistillation(
        CameraBEVEncoder(GRID, (64, 112), width=8, bev_channels=16), teacher, 32
    )
    losses = _train(method, batch, 6)
    assert losses[-1] < losses[0] - 0.3
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, frozen[k])
