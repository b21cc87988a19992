"""Voxeliser, the spconv CPU backward patch and the sparse backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import spconv.pytorch as spconv
import torch
import torch.nn.functional as F

from pointcloud_cl.io import load_info_frame
from pointcloud_cl.lidar_backbone import LidarBEVEncoder, sample_bev
from pointcloud_cl.spconv_cpu import install_cpu_stream_patch
from pointcloud_cl.voxelize import VoxelGrid, crop_to_range, voxelize, voxelize_batch

SMALL = VoxelGrid((-6.4, -6.4, -3.2, 6.4, 6.4, 3.2), (0.4, 0.4, 0.2))


def test_voxelize_means_points_per_cell() -> None:
    points = np.array(
        [[0.05, 0.05, 0.05, 10, 0], [0.15, 0.1, 0.1, 20, 0], [1.0, 1.0, 1.0, 5, 0]], np.float32
    )
    grid = VoxelGrid((-1.0, -1.0, -1.0, 2.0, 2.0, 2.0), (0.2, 0.2, 0.2))
    vox = voxelize(points, grid)
    assert len(vox.features) == 2
    assert vox.point_to_voxel[0] == vox.point_to_voxel[1] != vox.point_to_voxel[2]
    first = vox.features[vox.point_to_voxel[0]]
    torch.testing.assert_close(first, torch.tensor([0.1, 0.075, 0.075, 15.0]))
    # (batch, z, y, x): x index of 0.05 m in [-1, 2) at 0.2 m is 5
    assert vox.coords[vox.point_to_voxel[0]].tolist() == [0, 5, 5, 5]


def test_voxelize_bad_input() -> None:
    grid = VoxelGrid((-1.0, -1.0, -1.0, 1.0, 1.0, 1.0), (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="outside point_range"):
        voxelize(np.array([[5.0, 0, 0, 1, 0]], np.float32), grid)
    with pytest.raises(ValueError, match="empty voxel grid"):
        voxelize(np.zeros((0, 5), np.float32), grid)
    with pytest.raises(ValueError, match=r"shape \(N, >=4\)"):
        voxelize(np.zeros((3, 3), np.float32), grid)
    with pytest.raises(ValueError, match="not a multiple of voxel size"):
        VoxelGrid((-1.0, -1.0, -1.0, 1.0, 1.0, 1.0), (0.3, 0.5, 0.5))
    assert (
        len(crop_to_range(np.array([[5.0, 0, 0, 1, 0], [0.1, 0, 0, 1, 0]], np.float32), grid)) == 1
    )


def test_cpu_patch_gives_the_dense_convolution_gradient() -> None:
    """A SubMConv3d on a fully occupied grid is a dense 3x3x3 convolution: the patched backward
    must return the same input and weight gradients as torch's conv3d."""
    assert install_cpu_stream_patch()
    torch.manual_seed(0)
    n = 4
    zyx = torch.stack(torch.meshgrid(*[torch.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    coords = torch.cat([torch.zeros(len(zyx), 1, dtype=torch.long), zyx], 1).int()
    feats = torch.randn(len(coords), 3, requires_grad=True)
    conv = spconv.SubMConv3d(3, 5, 3, bias=False, indice_key="t")
    out = conv(spconv.SparseConvTensor(feats, coords, [n, n, n], 1)).dense()
    out.square().sum().backward()
    dense_in = feats.detach().reshape(n, n, n, 3).permute(3, 0, 1, 2)[None].requires_grad_(True)
    weight = conv.weight.detach().permute(0, 4, 1, 2, 3).clone().requires_grad_(True)
    ref = F.conv3d(dense_in, weight, padding=1)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    ref.square().sum().backward()
    torch.testing.assert_close(
        feats.grad, dense_in.grad[0].permute(1, 2, 3, 0).reshape(-1, 3), atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(
        conv.weight.grad, weight.grad.permute(0, 2, 3, 4, 1), atol=1e-4, rtol=1e-4
    )


def _street(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ground = np.column_stack([rng.uniform(-6, 6, (1500, 2)), np.full(1500, -1.8)])
    box = np.column_stack(
        [rng.uniform(1, 3, 400), rng.uniform(-1, 1, 400), rng.uniform(-1.8, 0, 400)]
    )
    xyz = np.concatenate([ground, box])
    return np.column_stack([xyz, rng.uniform(0, 100, len(xyz)), np.zeros(len(xyz))]).astype(
        np.float32
    )


def test_backbone_forward_backward_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    model = LidarBEVEncoder(SMALL, base_channels=4, neck_channels=8)
    vox = voxelize_batch([_street(0), _street(1)], SMALL)
    bev = model(vox)
    assert bev.shape == (2, model.out_channels, 4, 4)
    bev.square().mean().backward()
    stem = model.backbone.conv_input[0].weight.grad
    assert stem is not None and stem.abs().sum() > 0


def test_backbone_is_translation_aware_per_sample() -> None:
    """Batching must not mix scans: sample 0's BEV is the same alone and in a batch."""
    torch.manual_seed(0)
    model = LidarBEVEncoder(SMALL, base_channels=4, neck_channels=8).eval()
    alone = model(voxelize_batch([_street(0)], SMALL))
    both = model(voxelize_batch([_street(0), _street(1)], SMALL))
    torch.testing.assert_close(alone[0], both[0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(both[0], both[1])


def test_sample_bev_reads_cell_values() -> None:
    grid = VoxelGrid((-4.0, -4.0, -1.0, 4.0, 4.0, 1.0), (0.25, 0.25, 0.25))  # BEV 4x4 cells of 2 m
    bev = torch.arange(16.0).reshape(1, 1, 4, 4)
    xy = torch.tensor([[-3.0, -3.0], [3.0, -3.0], [-3.0, 3.0]])  # cell centres
    out = sample_bev(bev, xy, torch.zeros(3, dtype=torch.long), grid)
    assert out[:, 0].tolist() == [0.0, 3.0, 12.0]


@pytest.mark.realdata
def test_backbone_on_the_real_scan(demo_info: Path) -> None:
    grid = VoxelGrid()  # nuScenes default range and 0.1/0.1/0.2 voxels
    points = crop_to_range(load_info_frame(demo_info).points, grid)
    vox = voxelize_batch([points], grid)
    assert 14_000 < len(vox.features) < 17_000
    model = LidarBEVEncoder(grid, base_channels=4, neck_channels=8)
    bev = model(vox)
    assert bev.shape[-2:] == (128, 128)
    assert model.backbone.out_channels == 2 * 8 * 4  # nuScenes grid: 2 z-slices (OpenPCDet z + 1)
    bev.mean().backward()
    assert model.backbone.conv_input[0].weight.grad.abs().sum() > 0
