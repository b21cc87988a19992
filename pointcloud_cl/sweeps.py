"""Multi-sweep LiDAR input with a time-lag channel, as CenterPoint feeds nuScenes.

A nuScenes key frame's LIDAR_TOP ``sample_data`` is preceded in its channel's prev/next chain by
sweeps (``is_key_frame`` false, 20 Hz). CenterPoint (Yin et al., CVPR 2021) stacks the key frame
with the previous 9 sweeps (10 in all), each moved into the key frame's LiDAR frame through the
ego poses (sweep sensor -> ego -> global -> key-frame ego -> key-frame sensor), and appends to every
point the time lag t_key - t_sweep in seconds (0 for the key frame), from which the network can
read motion. Here the devkit's own ``LidarPointCloud.from_file_multisweep`` does the stacking
(it also drops the points within ``min_distance`` of each sweep's sensor, the ego car's returns).

Example::

    points = load_multisweep(nusc, sample_token, n_sweeps=10)  # (N, 5): x, y, z, intensity, lag
    voxels = voxelize(crop_to_range(points, grid), grid, n_features=5)
"""

from __future__ import annotations

import numpy as np
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.data_classes import LidarPointCloud

CENTERPOINT_SWEEPS = 10


def load_multisweep(
    nusc: NuScenes,
    sample_token: str,
    n_sweeps: int = CENTERPOINT_SWEEPS,
    min_distance: float = 1.0,
) -> np.ndarray:
    """(N, 5) float32 x, y, z, intensity, time lag (s) of the key frame and its previous sweeps.

    Fewer than ``n_sweeps`` are stacked where the chain is shorter (the start of a scene).
    """
    if n_sweeps < 1:
        raise ValueError(f"n_sweeps must be >= 1 (the key frame alone is 1), got {n_sweeps}")
    sample = nusc.get("sample", sample_token)
    if "LIDAR_TOP" not in sample["data"]:
        raise KeyError(f"sample {sample_token} has no LIDAR_TOP")
    cloud, lag = LidarPointCloud.from_file_multisweep(
        nusc, sample, "LIDAR_TOP", "LIDAR_TOP", nsweeps=n_sweeps, min_distance=min_distance
    )
    return np.column_stack([cloud.points[:4].T, lag[0]]).astype(np.float32)
