"""Synthetic sweeps, multi-sweep input with a time lag, box velocities and mAVE in the devkit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pointcloud_cl.evaluation import detection_scores, lidar_boxes_to_results
from pointcloud_cl.nuscenes_data import load_frame, open_nuscenes, split_sample_tokens
from pointcloud_cl.raycast import points_in_box
from pointcloud_cl.sweeps import load_multisweep
from pointcloud_cl.synthetic import (
    EGO_SPEED,
    OBJECT_KINDS,
    SyntheticConfig,
    make_synthetic_nuscenes,
)
from pointcloud_cl.velocity import box_velocities
from pointcloud_cl.voxelize import VoxelGrid, crop_to_range, voxelize


@pytest.fixture(scope="module")
def nusc(tmp_path_factory: pytest.TempPathFactory):
    """Two key frames per scene (velocities need two annotations), two sweeps before each."""
    cfg = SyntheticConfig(samples_per_scene=2, image_height=32, image_width=56, extra_objects=0)
    return open_nuscenes(make_synthetic_nuscenes(tmp_path_factory.mktemp("sweeps"), cfg))


def test_sweeps_are_non_key_frames_in_the_lidar_chain(nusc) -> None:
    lidar = [sd for sd in nusc.sample_data if sd["channel"] == "LIDAR_TOP"]
    sweeps = [sd for sd in lidar if not sd["is_key_frame"]]
    assert len(sweeps) == 2 * len(nusc.sample) and len(lidar) == 3 * len(nusc.sample)
    assert all(sd["filename"].startswith("sweeps/LIDAR_TOP/") for sd in sweeps)
    key = nusc.get("sample_data", nusc.sample[0]["data"]["LIDAR_TOP"])
    prev = nusc.get("sample_data", key["prev"])
    first = nusc.get("sample_data", prev["prev"])
    assert not prev["is_key_frame"] and not first["is_key_frame"] and first["prev"] == ""
    assert key["timestamp"] - prev["timestamp"] == prev["timestamp"] - first["timestamp"] == 50_000
    assert prev["sample_token"] == key["sample_token"]
    poses = [nusc.get("ego_pose", sd["ego_pose_token"])["translation"] for sd in (first, key)]
    assert np.hypot(*np.subtract(poses[1], poses[0])[:2]) == pytest.approx(EGO_SPEED * 0.1)


def test_multisweep_points_carry_the_time_lag_and_ego_motion(nusc) -> None:
    token = nusc.sample[0]["token"]
    points = load_multisweep(nusc, token, n_sweeps=3)
    single = load_multisweep(nusc, token, n_sweeps=1)
    assert points.shape[1] == 5 and np.unique(single[:, 4]).tolist() == [0.0]
    np.testing.assert_allclose(np.unique(points[:, 4]), [0.0, 0.05, 0.1], atol=1e-6)
    assert 2.5 < len(points) / len(single) < 3.5
    frame = load_frame(nusc, token, cameras=())
    oldest = points[np.isclose(points[:, 4], 0.1) & (points[:, 2] > -1.5)]  # above the ground
    velocity = box_velocities(nusc, token)
    checked = []
    for box, v in zip(frame.boxes, velocity, strict=True):
        near = points_in_box(oldest[:, :3], box, margin=0.6)
        if near.sum() < 30:
            continue
        # the 0.1 s old points lie where the box was then: 0.1 s x its velocity behind (the ego's
        # own 0.2 m move is compensated through the ego poses)
        then = box.copy()
        then[:2] -= 0.1 * v
        was_then = points_in_box(oldest[:, :3], then, margin=0.05)[near].mean()
        assert was_then > 0.985
        if np.hypot(*v) >= 2.0:  # where it is now fits the old points worse
            assert points_in_box(oldest[:, :3], box, margin=0.05)[near].mean() < was_then
        checked.append(np.hypot(*v))
    assert len(checked) >= 3 and max(checked) >= 2.0 and min(checked) == 0.0


def test_time_lag_reaches_the_voxel_features(nusc) -> None:
    grid = VoxelGrid((-25.6, -25.6, -3.2, 25.6, 25.6, 3.2), (0.2, 0.2, 0.2))
    points = crop_to_range(load_multisweep(nusc, nusc.sample[0]["token"], n_sweeps=3), grid)
    voxels = voxelize(points, grid, n_features=5)
    assert voxels.features.shape[1] == 5
    assert 0.0 <= voxels.features[:, 4].min() and voxels.features[:, 4].max() <= 0.1 + 1e-6
    with pytest.raises(ValueError, match="n_features must be 4"):
        voxelize(points, grid, n_features=6)


def test_box_velocities_are_the_planted_speeds(nusc) -> None:
    token = nusc.sample[0]["token"]
    frame = load_frame(nusc, token, cameras=())
    velocity = box_velocities(nusc, token)
    assert velocity.shape == (len(frame.boxes), 2) and not np.isnan(velocity).any()
    allowed = {0.0} | {kind.speed for kind in OBJECT_KINDS.values()}
    for speed in np.hypot(*velocity.T):
        assert min(abs(speed - a) for a in allowed) < 1e-3
    assert (np.hypot(*velocity.T) > 0).any()
    # velocity along the box heading (objects drive forward or backward along their yaw)
    moving = np.hypot(*velocity.T) > 0
    heading = np.column_stack([np.cos(frame.boxes[:, 6]), np.sin(frame.boxes[:, 6])])
    cos = np.abs((velocity[moving] * heading[moving]).sum(1)) / np.hypot(*velocity[moving].T)
    np.testing.assert_allclose(cos, 1.0, atol=1e-3)


def test_velocity_reaches_the_submission_and_mave(nusc, tmp_path: Path) -> None:
    """GT boxes with their velocity: mAVE ~ 0; the same boxes at 0 m/s: mAVE and NDS worse."""
    with_velocity, without = {}, {}
    for token in split_sample_tokens(nusc, "mini_val"):
        frame = load_frame(nusc, token, cameras=())
        boxes = np.column_stack([frame.boxes, box_velocities(nusc, token)])
        scores = np.ones(len(boxes))
        with_velocity[token] = lidar_boxes_to_results(nusc, token, boxes, scores, frame.labels)
        without[token] = lidar_boxes_to_results(nusc, token, frame.boxes, scores, frame.labels)
    good = detection_scores(nusc, with_velocity, "mini_val", tmp_path / "good")
    zero = detection_scores(nusc, without, "mini_val", tmp_path / "zero")
    assert good["mAVE"] < 1e-3 and good["mATE"] < 1e-3
    assert zero["mAVE"] > 0.3 and good["NDS"] > zero["NDS"]
    with pytest.raises(ValueError, match=r"\(M, 7\) or \(M, 9\)"):
        lidar_boxes_to_results(nusc, token, boxes[:, :8], scores, frame.labels)
