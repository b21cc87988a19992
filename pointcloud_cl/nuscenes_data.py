"""nuScenes key frames through nuscenes-devkit: points, calibrated cameras and boxes per sample.

Works for real nuScenes (``NuScenes("v1.0-mini" | "v1.0-trainval", dataroot)``, public download at
https://www.nuscenes.org/nuscenes#download) and for the synthetic set, which uses the same tables.
Boxes are returned in the LiDAR frame with the devkit's own transforms
(``NuScenes.get_sample_data``); points are projected with :func:`lidar_to_camera_matrix`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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

# The 13 devkit tables a nuScenes version folder holds (NUSCENES_SCHEMA.md in the data folder).
TABLES = (
    "category",
    "attribute",
    "visibility",
    "instance",
    "sensor",
    "calibrated_sensor",
    "ego_pose",
    "log",
    "scene",
    "sample",
    "sample_data",
    "sample_annotation",
    "map",
)


def open_nuscenes(dataroot: str | Path, version: str = "v1.0-mini") -> NuScenes:
    """``NuScenes(version, dataroot)`` with a clear error when the tables are missing or broken.

    A missing table, or one that is truncated, not UTF-8 JSON or not a list of records, raises
    :class:`InputError` naming its file; a record without a field the devkit needs, or one that
    refers to a token no table holds, raises :class:`MissingKeyError` naming the table and record.

        >>> nusc = open_nuscenes("data/nuscenes", "v1.0-mini")
    """
    table_dir = Path(dataroot) / version
    if not table_dir.is_dir():
        raise FileNotFoundError(
            f"no nuScenes tables at {table_dir}; download nuScenes or run "
            "`contrast pointcloud make-synthetic --out DIR`"
        )
    for name in TABLES:
        if not (table_dir / f"{name}.json").is_file():
            raise InputError(
                f"{table_dir / name}.json: nuScenes table missing; download the tables again or "
                "run `contrast pointcloud make-synthetic --out DIR`"
            )
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
        raise _broken_table(table_dir) from None
    except KeyError as err:
        raise _missing_key(table_dir, err.args[0] if err.args else "") from None


def _broken_table(table_dir: Path) -> InputError:
    """The error naming the first table of ``table_dir`` that is not a JSON list of records."""
    for name in TABLES:
        table = table_dir / f"{name}.json"
        try:
            records = json.loads(table.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            return InputError(f"{table}: not UTF-8 text, so not a nuScenes JSON table")
        except json.JSONDecodeError as err:
            return InputError(
                f"{table}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}); "
                "a truncated file? copy it again"
            )
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return InputError(f"{table}: not a nuScenes table (expected a JSON list of records)")
    return InputError(f"{table_dir}: a nuScenes table could not be read")


def _missing_key(table_dir: Path, key: object) -> MissingKeyError:
    """Why the devkit raised ``KeyError(key)``: a record lacking field ``key``, or a record
    referring to token ``key`` that no table holds."""
    for name in TABLES:
        table = table_dir / f"{name}.json"
        records = json.loads(table.read_bytes().decode("utf-8"))
        for record in records:
            if key in record.values():
                return MissingKeyError(
                    f"{table}: record {record.get('token', '?')} refers to token {key!r}, which "
                    "no table holds; the tables are incomplete (copy or download them again)"
                )
        lacking = [r for r in records if key not in r]
        if lacking and len(lacking) < len(records):
            return MissingKeyError(
                f"{table}: record {lacking[0].get('token', '?')} has no field {key!r} (the "
                "other records have it); regenerate or download the tables again"
            )
    return MissingKeyError(
        f"{table_dir}: a table record has no field {key!r}; the tables do not follow the "
        "nuScenes schema (regenerate or download them again)"
    )


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
    sensor when the sample lacks LIDAR_TOP or one of ``cameras``, and :class:`InputError` naming
    the table file and record when a pose, calibration or box it uses is not the right numbers.
    """
    sample = nusc.get("sample", sample_token)
    lidar_token = sample["data"].get("LIDAR_TOP")
    if lidar_token is None:
        raise MissingKeyError(
            f"{_tables(nusc)}: sample {sample_token} has no LIDAR_TOP in sample_data.json"
        )
    _check_sensor_records(nusc, lidar_token)
    points = read_pcd_bin(nusc.get_sample_data_path(lidar_token))
    views = []
    for channel in cameras:
        cam_token = sample["data"].get(channel)
        if cam_token is None:
            raise MissingKeyError(
                f"{_tables(nusc)}: sample {sample_token} has no camera {channel} in "
                "sample_data.json"
            )
        _check_sensor_records(nusc, cam_token, camera=True)
        views.append(
            CameraView(
                channel=channel,
                image=read_image(nusc.get_sample_data_path(cam_token)),
                intrinsic=camera_intrinsic(nusc, cam_token),
                lidar_to_camera=lidar_to_camera_matrix(nusc, lidar_token, cam_token),
            )
        )
    for ann_token in sample["anns"]:
        annotation = nusc.get("sample_annotation", ann_token)
        for key, size in (("translation", 3), ("size", 3), ("rotation", 4)):
            _check_numbers(nusc, "sample_annotation", annotation, key, size)
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


def _check_sensor_records(nusc: NuScenes, sample_data_token: str, camera: bool = False) -> None:
    """Check the records a ``sample_data`` entry leads to: its file name, its calibrated sensor's
    and ego pose's translation (3 numbers) and rotation (4 numbers, a non-zero quaternion), and
    for a camera the 3x3 intrinsic; an :class:`InputError` names the table, record and field."""
    record = nusc.get("sample_data", sample_data_token)
    for key in ("filename", "calibrated_sensor_token", "ego_pose_token"):
        if not isinstance(record.get(key), str):
            raise MissingKeyError(
                f"{_tables(nusc) / 'sample_data.json'}: record {sample_data_token} has no "
                f"{key!r} string"
            )
    sensor = nusc.get("calibrated_sensor", record["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", record["ego_pose_token"])
    for table, entry in (("calibrated_sensor", sensor), ("ego_pose", pose)):
        _check_numbers(nusc, table, entry, "translation", 3)
        _check_numbers(nusc, table, entry, "rotation", 4)
    if camera:
        _check_numbers(nusc, "calibrated_sensor", sensor, "camera_intrinsic", 9)


def check_sweeps(nusc: NuScenes, sample_token: str, n_sweeps: int) -> None:
    """Check the LIDAR_TOP scans ``load_multisweep`` stacks for ``sample_token`` (the key frame
    and up to ``n_sweeps - 1`` earlier sweeps along ``prev``): each record's poses as in
    :func:`_check_sensor_records` and each file as :func:`read_pcd_bin` reads it, so a broken
    sweep is an error naming its file rather than a reshape error inside the devkit."""
    token = nusc.get("sample", sample_token)["data"].get("LIDAR_TOP", "")
    for _ in range(n_sweeps):
        if not token:
            return
        _check_sensor_records(nusc, token)
        read_pcd_bin(nusc.get_sample_data_path(token))
        token = nusc.get("sample_data", token)["prev"]


def _check_numbers(nusc: NuScenes, table: str, record: dict[str, Any], key: str, size: int) -> None:
    """``record[key]`` must hold ``size`` finite numbers (a 3x3 matrix for ``size`` 9); a
    rotation must not be the zero quaternion."""
    value = record.get(key)
    try:
        numbers = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        numbers = np.zeros(0)
    shape = (3, 3) if size == 9 else (size,)
    what = "a 3x3 matrix of finite numbers" if size == 9 else f"{size} finite numbers"
    if numbers.shape != shape or not np.isfinite(numbers).all():
        problem = f"must be {what}, got {repr(value)[:60]}"
    elif key == "rotation" and not np.any(numbers):
        problem = "is the zero quaternion (not a rotation)"
    else:
        return
    raise InputError(
        f"{_tables(nusc) / table}.json: record {record.get('token', '?')} {key!r} {problem}"
    )


def _tables(nusc: NuScenes) -> Path:
    return Path(nusc.dataroot) / nusc.version
