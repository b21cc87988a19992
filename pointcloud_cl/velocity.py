"""Ground-truth box velocities of a key frame, in the LiDAR frame, from the devkit.

The devkit's ``NuScenes.box_velocity`` differentiates an instance's annotated centre over its
neighbouring annotations (global frame, m/s; NaN for an instance annotated once); it is rotated
into the LIDAR_TOP frame by the inverse ego and sensor rotations (v_lidar = R_cs^T R_ego^T v),
the chain ``get_sample_data`` applies to the boxes (which it returns without velocity). The rows
follow
``nuscenes_data.load_frame``'s boxes (annotations of the 10 detection classes, in the same order),
so they can be passed as ``velocities`` to :func:`pointcloud_cl.heads.detection_target`.

Example::

    frame = load_frame(nusc, token)
    target = detection_target(frame.boxes, frame.labels, layout,
                              velocities=box_velocities(nusc, token))
"""

from __future__ import annotations

import numpy as np
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.nuscenes import NuScenes
from pyquaternion import Quaternion


def box_velocities(nusc: NuScenes, sample_token: str) -> np.ndarray:
    """(M, 2) float32 (vx, vy) in m/s in the LiDAR frame of each detection-class box."""
    sample = nusc.get("sample", sample_token)
    lidar_token = sample["data"].get("LIDAR_TOP")
    if lidar_token is None:
        raise KeyError(f"sample {sample_token} has no LIDAR_TOP")
    sd = nusc.get("sample_data", lidar_token)
    to_ego = Quaternion(nusc.get("ego_pose", sd["ego_pose_token"])["rotation"]).rotation_matrix
    to_sensor = Quaternion(
        nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])["rotation"]
    ).rotation_matrix
    rows = []
    for ann_token in sample["anns"]:
        name = nusc.get("sample_annotation", ann_token)["category_name"]
        if category_to_detection_name(name) is None:
            continue
        rows.append((to_sensor.T @ to_ego.T @ nusc.box_velocity(ann_token))[:2])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 2)
