"""The LiDAR encoder is laid out as OpenPCDet's VoxelBackBone8x + HeightCompression +
BaseBEVBackbone, so OpenPCDet / BEVFusion nuScenes weights load by name and shape.

The key -> shape table below was produced once by building the official modules of
github.com/open-mmlab/OpenPCDet at commit 8cacccec11db6f59bf6934600c9a175dae254806
(pcdet/models/backbones_3d/spconv_backbone.py::VoxelBackBone8x with input_channels=5
and grid_size=[1024, 1024, 40], the nuScenes 0.1 x 0.1 x 0.2 m grid; and
pcdet/models/backbones_2d/base_bev_backbone.py::BaseBEVBackbone with the nuScenes SECOND
neck of tools/cfgs/nuscenes_models/cbgs_second_multihead.yaml: LAYER_NUMS [5, 5],
LAYER_STRIDES [1, 2], NUM_FILTERS [128, 256], UPSAMPLE_STRIDES [1, 2], NUM_UPSAMPLE_FILTERS
[256, 256], 256 input channels = HeightCompression's NUM_BEV_FEATURES) with spconv 2.3.8 and
listing their state dicts (weights only; every 1-d weight is a BatchNorm whose bias and running
statistics have the same shape). The official sparse shape was [41, 1024, 1024].
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pointcloud_cl.lidar_backbone import LidarBEVEncoder, SparseVoxelBackbone, bev_depth
from pointcloud_cl.voxelize import VoxelGrid, voxelize

OPENPCDET_WEIGHTS = {
    "backbone_3d.conv_input.0.weight": (16, 3, 3, 3, 5),
    "backbone_3d.conv_input.1.weight": (16,),
    "backbone_3d.conv1.0.0.weight": (16, 3, 3, 3, 16),
    "backbone_3d.conv1.0.1.weight": (16,),
    "backbone_3d.conv2.0.0.weight": (32, 3, 3, 3, 16),
    "backbone_3d.conv2.0.1.weight": (32,),
    "backbone_3d.conv2.1.0.weight": (32, 3, 3, 3, 32),
    "backbone_3d.conv2.1.1.weight": (32,),
    "backbone_3d.conv2.2.0.weight": (32, 3, 3, 3, 32),
    "backbone_3d.conv2.2.1.weight": (32,),
    "backbone_3d.conv3.0.0.weight": (64, 3, 3, 3, 32),
    "backbone_3d.conv3.0.1.weight": (64,),
    "backbone_3d.conv3.1.0.weight": (64, 3, 3, 3, 64),
    "backbone_3d.conv3.1.1.weight": (64,),
    "backbone_3d.conv3.2.0.weight": (64, 3, 3, 3, 64),
    "backbone_3d.conv3.2.1.weight": (64,),
    "backbone_3d.conv4.0.0.weight": (64, 3, 3, 3, 64),
    "backbone_3d.conv4.0.1.weight": (64,),
    "backbone_3d.conv4.1.0.weight": (64, 3, 3, 3, 64),
    "backbone_3d.conv4.1.1.weight": (64,),
    "backbone_3d.conv4.2.0.weight": (64, 3, 3, 3, 64),
    "backbone_3d.conv4.2.1.weight": (64,),
    "backbone_3d.conv_out.0.weight": (128, 3, 1, 1, 64),
    "backbone_3d.conv_out.1.weight": (128,),
    "backbone_2d.blocks.0.1.weight": (128, 256, 3, 3),
    "backbone_2d.blocks.0.2.weight": (128,),
    "backbone_2d.blocks.0.4.weight": (128, 128, 3, 3),
    "backbone_2d.blocks.0.5.weight": (128,),
    "backbone_2d.blocks.0.7.weight": (128, 128, 3, 3),
    "backbone_2d.blocks.0.8.weight": (128,),
    "backbone_2d.blocks.0.10.weight": (128, 128, 3, 3),
    "backbone_2d.blocks.0.11.weight": (128,),
    "backbone_2d.blocks.0.13.weight": (128, 128, 3, 3),
    "backbone_2d.blocks.0.14.weight": (128,),
    "backbone_2d.blocks.0.16.weight": (128, 128, 3, 3),
    "backbone_2d.blocks.0.17.weight": (128,),
    "backbone_2d.blocks.1.1.weight": (256, 128, 3, 3),
    "backbone_2d.blocks.1.2.weight": (256,),
    "backbone_2d.blocks.1.4.weight": (256, 256, 3, 3),
    "backbone_2d.blocks.1.5.weight": (256,),
    "backbone_2d.blocks.1.7.weight": (256, 256, 3, 3),
    "backbone_2d.blocks.1.8.weight": (256,),
    "backbone_2d.blocks.1.10.weight": (256, 256, 3, 3),
    "backbone_2d.blocks.1.11.weight": (256,),
    "backbone_2d.blocks.1.13.weight": (256, 256, 3, 3),
    "backbone_2d.blocks.1.14.weight": (256,),
    "backbone_2d.blocks.1.16.weight": (256, 256, 3, 3),
    "backbone_2d.blocks.1.17.weight": (256,),
    "backbone_2d.deblocks.0.0.weight": (128, 256, 1, 1),
    "backbone_2d.deblocks.0.1.weight": (256,),
    "backbone_2d.deblocks.1.0.weight": (256, 256, 2, 2),
    "backbone_2d.deblocks.1.1.weight": (256,),
}


def _official_state_dict() -> dict[str, torch.Tensor]:
    state = {}
    for key, shape in OPENPCDET_WEIGHTS.items():
        state[key] = torch.zeros(shape)
        if len(shape) == 1:  # BatchNorm: bias and running statistics
            stem = key.removesuffix(".weight")
            for name in ("bias", "running_mean", "running_var"):
                state[f"{stem}.{name}"] = torch.zeros(shape)
            state[f"{stem}.num_batches_tracked"] = torch.tensor(0)
    return state


def _openpcdet_encoder() -> LidarBEVEncoder:
    return LidarBEVEncoder(
        VoxelGrid(), 16, 128, in_channels=5, neck_layers=(5, 5), neck_upsample_channels=256
    )


def test_openpcdet_state_dict_loads_by_name_and_shape() -> None:
    encoder = _openpcdet_encoder()
    renamed = {
        k.replace("backbone_3d.", "backbone.").replace("backbone_2d.", "neck."): v
        for k, v in _official_state_dict().items()
    }
    ours = encoder.state_dict()
    assert {k: tuple(v.shape) for k, v in renamed.items()} == {
        k: tuple(v.shape) for k, v in ours.items()
    }
    encoder.load_state_dict(renamed, strict=True)
    assert encoder.backbone.sparse_shape == [41, 1024, 1024]
    assert encoder.backbone.out_channels == 256 and encoder.out_channels == 512


def test_bev_depth_follows_openpcdet_z_plus_one() -> None:
    # nuScenes 40 z cells: 41 -> 21 -> 11 -> 5 -> 2; 32 cells: 33 -> 17 -> 9 -> 4 -> 1
    assert [bev_depth(n) for n in (40, 32, 24, 16)] == [2, 1, 1, 0]
    with pytest.raises(ValueError, match="too few z cells"):
        SparseVoxelBackbone(VoxelGrid((-3.2, -3.2, -1.6, 3.2, 3.2, 1.6), (0.1, 0.1, 0.2)))


def test_nuscenes_z_grid_gives_two_slices_and_256_channels() -> None:
    """A small x-y window with the nuScenes z axis: the BEV map has 2 x 128 channels."""
    grid = VoxelGrid((-3.2, -3.2, -5.0, 3.2, 3.2, 3.0), (0.1, 0.1, 0.2))
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-3.0, -3.0, -2.0], [3.0, 3.0, 1.0], size=(300, 3))
    points = np.column_stack([xyz, rng.uniform(0, 1, 300)]).astype(np.float32)
    torch.manual_seed(0)
    backbone = SparseVoxelBackbone(grid).eval()
    with torch.no_grad():
        bev = backbone(voxelize(points, grid))
    assert bev.shape == (1, 256, 8, 8)
    assert bev.abs().sum() > 0
