"""``data.sweeps > 1`` feeds the fine-tuning and pretraining pipeline multi-sweep points with a
time-lag channel and supervises the velocity head with the boxes' velocities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pointcloud_cl.config import PointcloudExperiment
from pointcloud_cl.data import FrameSet
from pointcloud_cl.experiment import lidar_encoder
from pointcloud_cl.finetune import make_labelled_batch
from pointcloud_cl.heads import BEVLayout
from pointcloud_cl.nuscenes_data import open_nuscenes
from pointcloud_cl.synthetic import SyntheticConfig, make_synthetic_nuscenes
from shared.config import load_config


@pytest.fixture(scope="module")
def two_frame_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two key frames per scene: the devkit's box velocity needs a neighbouring annotation."""
    cfg = SyntheticConfig(samples_per_scene=2, image_height=32, image_width=56)
    return make_synthetic_nuscenes(tmp_path_factory.mktemp("two_frames"), cfg)


def test_sweeps_reach_the_voxels_and_velocities_reach_the_targets(two_frame_scenes: Path) -> None:
    exp = load_config(
        PointcloudExperiment,
        None,
        ["data.sweeps=3", "data.voxel_size=[0.2,0.2,0.2]", "model.base_channels=4"],
    )
    grid = exp.data.grid()
    assert grid.point_features == 5
    nusc = open_nuscenes(two_frame_scenes)
    frames = FrameSet.load(nusc, "mini_train", grid, (), exp.regions, sweeps=exp.data.sweeps)
    frame = frames.frames[0]
    lags = frame.points[:, 4]
    assert lags.min() == 0.0 and 0.04 < lags.max() < 0.2  # key frame + sweeps 50 ms apart
    assert frame.velocities is not None and frame.velocities.shape == (len(frame.boxes), 2)
    moving = np.nanmax(np.abs(frame.velocities), axis=1) > 0.1
    assert moving.any()  # the synthetic generator moves some objects
    layout = BEVLayout.of(grid)
    batch = make_labelled_batch(frames.frames[:1], layout, grid, None)
    assert batch.voxels.features.shape[1] == 5
    regression = batch.detection[0].regression
    assert regression.shape[1] == 10 and np.isfinite(regression[:, 8:].numpy()).any()
    bev = lidar_encoder(exp)(batch.voxels)  # the encoder takes the 5 point features
    assert bev.shape[0] == 1 and np.isfinite(bev.detach().numpy()).all()
