"""nuScenes key frames through nuscenes-devkit: points, calibrated cameras and boxes per sample.

Works for real nuScenes (``NuScenes("v1.0-mini" | "v1.0-trainval", dataroot)``, public download at
https://www.nuscenes.org/nuscenes#download) and for the synthetic set, which uses the same tables.
Boxes are returned in the LiDAR frame with the devkit's own transforms
(``NuScenes.get_sample_data``); points are projected with :func:`lidar_to_camera_matrix`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from nuscenes.eval.detection.utils import category_to_detection_name
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.splits import create_splits_scenes

from pointcloud_cl.classes import DETECTION_CLASSES
from pointcloud_cl.geometry import camera_intrinsic, lidar_to_camera_matrix
from pointcloud_cl.io import (
    CAMERA_CHANNELS,
    CameraView,
    LidarFrame,
    MissingKeyError,
    read_image,
    read_pcd_bin,
)
from shared.errors import InputError


def open_nuscenes(dataroot: str | Path, version: str = "v1.0-mini") -> NuScenes:
    """``NuScenes(version, dataroot)`` with a clear error when the tables are missing or broken.

    A table that is truncated or not UTF-8 JSON raises :class:`InputError` naming its file; a
    table record without a field the devkit needs raises :class:`MissingKeyError`.

        >>> nusc = open_nuscenes("data/nuscenes", "v1.0-mini")
    """
    table_dir = Path(dataroot) / version
    if not table_dir.is_dir():
        raise FileNotFoundError(
            f"no nuScenes tables at {table_dir}; download nuScenes or run "
            "`contrast pointcloud make-synthetic --out DIR`"
        )
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _broken_table(table_dir) from None
    except KeyError as err:
        raise MissingKeyError(
            f"{table_dir}: a table record has no field {err}; the tables do not follow the "
            "nuScenes schema (regenerate or download them again)"
        ) from None


def _broken_table(table_dir: Path) -> InputError:
    """The error naming the first table of ``table_dir`` that is not UTF-8 JSON."""
    for table in sorted(table_dir.glob("*.json")):
        try:
            json.loads(table.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            return InputError(f"{table}: not UTF-8 text, so not a nuScenes JSON table")
        except json.JSONDecodeError as err:
            return InputError(
                f"{table}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}); "
                "a truncated file? copy it again"
            )
    return InputError(f"{table_dir}: a nuScenes table could not be read as JSON")


def split_sample_tokens(nusc: NuScenes, split: str) -> list[str]:
    """Sample tokens of the scenes of a devkit split (``mini_train``, ``mini_val``, ...)."""
    scenes = create_splits_scenes()
    if split not in scenes:
        raise ValueError(f"unknown split {split!r}; known: {sorted(scenes)}")
    names = set(scenes[split])
    tokens = [
        s["token"] for s in nusc.sample if nusc.get("scene", s["scene_token"])["name"] in names
    ]
    if not tokens:
        raise ValueError(f"split {split!r} has no samples in {nusc.dataroot}/{nusc.version}")
    return tokens


def load_frame(
    nusc: NuScenes,
    sample_token: str,
    cameras: tuple[str, ...] = CAMERA_CHANNELS,
) -> LidarFrame:
    """One key frame: LIDAR_TOP points, the requested cameras (devkit calibration chain), boxes.

    Raises :class:`MissingKeyError` (a ``KeyError``) naming the table folder and the missing
    sensor when the sample lacks LIDAR_TOP or one of ``cameras``.
    """
    sample = nusc.get("sample", sample_token)
    lidar_token = sample["data"].get("LIDAR_TOP")
    if lidar_token is None:
        raise MissingKeyError(
            f"{_tables(nusc)}: sample {sample_token} has no LIDAR_TOP in sample_data.json"
        )
    points = read_pcd_bin(nusc.get_sample_data_path(lidar_token))
    views = []
    for channel in cameras:
        cam_token = sample["data"].get(channel)
        if cam_token is None:
            raise MissingKeyError(
                f"{_tables(nusc)}: sample {sample_token} has no camera {channel} in "
                "sample_data.json"
            )
        views.append(
            CameraView(
                channel=channel,
                image=read_image(nusc.get_sample_data_path(cam_token)),
                intrinsic=camera_intrinsic(nusc, cam_token),
                lidar_to_camera=lidar_to_camera_matrix(nusc, lidar_token, cam_token),
            )
        )
    _, boxes, _ = nusc.get_sample_data(lidar_token)
    rows, labels = [], []
    for box in boxes:
        name = category_to_detection_name(box.name)
        if name is None:
            continue
        width, length, height = box.wlh
        rows.append([*box.center, length, width, height, box.orientation.yaw_pitch_roll[0]])
        labels.append(DETECTION_CLASSES.index(name))
    return LidarFrame(
        token=sample_token,
        points=points,
        cameras=views,
        boxes=np.asarray(rows, dtype=np.float32).reshape(-1, 7),
        labels=np.asarray(labels, dtype=np.int64),
    )


def _tables(nusc: NuScenes) -> Path:
    return Path(nusc.dataroot) / nusc.version
