"""Readers for nuScenes files: ``.pcd.bin`` LiDAR scans and info-file calibration.

A nuScenes LIDAR_TOP ``.pcd.bin`` is a flat little-endian float32 array with 5 values per point:
x, y, z (metres, sensor frame), intensity (0-255) and ring index (0-31). Sweeps have the same
layout. ``load_info_frame`` reads the ``*.info.json`` files (mmdetection3d "info" layout, v1.1) that
carry one key frame's calibration: lidar->ego, per camera lidar->camera and camera intrinsics.

A file that cannot be used (truncated JSON or JPEG, a missing key, a wrong shape) raises
:class:`shared.errors.InputError` naming the file and the problem; a missing key raises
:class:`MissingKeyError`, which is also a ``KeyError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pointcloud_cl.classes import DETECTION_CLASSES
from shared.errors import InputError

NUSCENES_POINT_FEATURES = 5
CAMERA_CHANNELS = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_RIGHT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_FRONT_LEFT",
)


class MissingKeyError(InputError, KeyError):
    """A data file lacks a key it needs (an :class:`InputError` that is also a ``KeyError``)."""

    __str__ = InputError.__str__  # KeyError would quote the message


@dataclass
class CameraView:
    """One camera image with the calibration that maps LiDAR points into it."""

    channel: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    intrinsic: np.ndarray  # (3, 3) camera -> pixel
    lidar_to_camera: np.ndarray  # (4, 4) LiDAR sensor frame -> camera frame

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"{self.channel}: image must be (H, W, 3) uint8 RGB, got "
                f"{self.image.shape} {self.image.dtype}"
            )
        if self.intrinsic.shape != (3, 3):
            raise ValueError(f"{self.channel}: intrinsic must be 3x3, got {self.intrinsic.shape}")
        if self.lidar_to_camera.shape != (4, 4):
            raise ValueError(
                f"{self.channel}: lidar_to_camera must be 4x4, got {self.lidar_to_camera.shape}"
            )

    @property
    def image_hw(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclass
class LidarFrame:
    """A key frame: LiDAR points (sensor frame), its cameras and (optionally) labelled boxes.

    ``boxes`` rows are (x, y, z, length, width, height, yaw) in the LiDAR frame with z at the box
    centre and yaw about +z measured from +x; ``labels`` index ``DETECTION_CLASSES``.
    """

    token: str
    points: np.ndarray  # (N, 5) float32
    cameras: list[CameraView] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 7), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    velocities: np.ndarray | None = None  # (M, 2) vx, vy of the boxes in m/s, when known


def read_pcd_bin(path: str | Path, num_features: int = NUSCENES_POINT_FEATURES) -> np.ndarray:
    """Read a nuScenes ``.pcd.bin`` scan as an (N, num_features) float32 array.

    Raises FileNotFoundError for a missing file and InputError for an empty or truncated file
    (byte count not a multiple of ``4 * num_features``) or non-finite coordinates.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LiDAR scan not found: {path}")
    raw = np.fromfile(path, dtype="<f4")
    if raw.size == 0:
        raise InputError(f"{path}: empty .pcd.bin (no points)")
    record = 4 * num_features
    if raw.size % num_features != 0 or path.stat().st_size % record != 0:
        raise InputError(
            f"{path}: truncated .pcd.bin: {path.stat().st_size} bytes is not a multiple of "
            f"{record} ({num_features} float32 values per point)"
        )
    points = raw.reshape(-1, num_features).astype(np.float32)
    if not np.isfinite(points[:, :3]).all():
        raise InputError(f"{path}: non-finite point coordinates")
    return points


def read_image(path: str | Path) -> np.ndarray:
    """Read a JPEG/PNG as (H, W, 3) uint8 RGB; a truncated JPEG is an error (OpenCV only warns)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera image not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\xff\xd8":
        check_jpeg_complete(raw, path)
    bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: not a readable image (expected a JPEG or PNG camera image)")
    return np.ascontiguousarray(bgr[:, :, ::-1])


_RESTART_OR_FILL = frozenset(range(0xD0, 0xD8)) | {0x00, 0xFF}


def check_jpeg_complete(raw: bytes, path: str | Path) -> None:
    """Walk the JPEG segments up to the end-of-image marker (FFD9); raise if the file stops first.

    Marker segments carry their own length (an embedded EXIF thumbnail is skipped with its
    segment); entropy-coded scan data ends at the first marker that is not a stuffed byte
    (FF00), a fill byte or a restart marker (FFD0-FFD7). Bytes after FFD9 are allowed.
    """
    pos, end = 2, len(raw)
    while True:
        if pos + 2 > end or raw[pos] != 0xFF:
            break
        marker = raw[pos + 1]
        if marker == 0xD9:
            return
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in range(0xD0, 0xD8) or marker == 0x01:  # standalone markers
            pos += 2
            continue
        if pos + 4 > end:
            break
        pos += 2 + int.from_bytes(raw[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            while True:
                pos = raw.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= end:
                    pos = end
                    break
                if raw[pos + 1] not in _RESTART_OR_FILL:
                    break
                pos += 2 if raw[pos + 1] != 0xFF else 1
    raise InputError(
        f"{path}: truncated JPEG ({len(raw)} bytes, no end-of-image marker); "
        "copy or download the image again"
    )


def load_info_frame(info_path: str | Path) -> LidarFrame:
    """Load the first key frame of an mmdetection3d-style ``*.info.json``.

    Files named in the info (scan, camera JPEGs) are looked up next to the info file. Box rows are
    already at the box centre (gravity centre) in this layout. A missing key raises
    :class:`MissingKeyError` naming the file, the camera and the key; truncated JSON, non-UTF-8
    text and wrongly shaped matrices raise :class:`InputError` naming the file.

        >>> frame = load_info_frame("nuscenes_samples/demo_scene/n015-...+0800.info.json")
        >>> frame.points.shape[1], [c.channel for c in frame.cameras][:1]
        (5, ['CAM_FRONT'])
    """
    info_path = Path(info_path)
    info = _read_json(info_path)
    entries = info.get("data_list") if isinstance(info, dict) else None
    if not entries or not isinstance(entries, list) or not isinstance(entries[0], dict):
        raise InputError(f"{info_path}: no 'data_list' entries (expected a list of frames)")
    entry = entries[0]
    root = info_path.parent
    lidar = entry.get("lidar_points")
    if not isinstance(lidar, dict) or "lidar_path" not in lidar:
        raise MissingKeyError(f"{info_path}: frame has no 'lidar_points.lidar_path'")
    if not isinstance(lidar["lidar_path"], str):
        raise InputError(f"{info_path}: 'lidar_points.lidar_path' must be a file name")
    points = read_pcd_bin(root / Path(lidar["lidar_path"]).name, lidar.get("num_pts_feats", 5))
    images = entry.get("images", {})
    if not isinstance(images, dict):
        raise InputError(f"{info_path}: 'images' must map camera names to calibration records")
    cameras = [_camera(info_path, channel, cam) for channel, cam in images.items()]
    boxes, labels = _instances(info_path, entry.get("instances", []))
    return LidarFrame(entry.get("token", info_path.stem), points, cameras, boxes, labels)


def _camera(info_path: Path, channel: str, cam: object) -> CameraView:
    """One camera of an info file: its image (next to the file) and its calibration."""
    if not isinstance(cam, dict):
        raise InputError(f"{info_path}: camera {channel} must be a record, got {repr(cam)[:40]}")
    for key in ("img_path", "cam2img", "lidar2cam"):
        if key not in cam:
            raise MissingKeyError(f"{info_path}: camera {channel} has no calibration key '{key}'")
    if not isinstance(cam["img_path"], str):
        raise InputError(f"{info_path}: camera {channel} 'img_path' must be a file name")
    intrinsic = _matrix(cam["cam2img"], ((3, 3), (3, 4), (4, 4)), info_path, channel, "cam2img")
    lidar_to_camera = _matrix(cam["lidar2cam"], ((4, 4),), info_path, channel, "lidar2cam")
    return CameraView(
        channel=channel,
        image=read_image(info_path.parent / Path(cam["img_path"]).name),
        intrinsic=intrinsic,
        lidar_to_camera=lidar_to_camera,
    )


def _instances(info_path: Path, instances: object) -> tuple[np.ndarray, np.ndarray]:
    """(M, 7) boxes and (M,) class indices of an info file's ``instances``; every box holds 7
    finite numbers and every label indexes ``DETECTION_CLASSES`` or is -1 (mmdetection3d's mark
    for an object outside the ten classes)."""
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise InputError(f"{info_path}: 'instances' must be a list of records")
    for i, inst in enumerate(instances):
        for key in ("bbox_3d", "bbox_label_3d"):
            if key not in inst:
                raise MissingKeyError(f"{info_path}: instance {i} has no key '{key}'")
    try:
        boxes = np.asarray([inst["bbox_3d"] for inst in instances], dtype=np.float32)
        boxes = boxes.reshape(-1, 7)
    except (TypeError, ValueError):
        raise InputError(
            f"{info_path}: every instance's 'bbox_3d' must hold 7 numbers "
            "(x, y, z, length, width, height, yaw)"
        ) from None
    bad = np.flatnonzero(~np.isfinite(boxes).all(axis=1))
    if len(bad):
        raise InputError(f"{info_path}: instance {bad[0]} 'bbox_3d' holds a non-finite number")
    labels = [inst["bbox_label_3d"] for inst in instances]
    for i, label in enumerate(labels):
        if type(label) is not int or not -1 <= label < len(DETECTION_CLASSES):
            raise InputError(
                f"{info_path}: instance {i} 'bbox_label_3d' is {label!r}; expected a class "
                f"index 0-{len(DETECTION_CLASSES) - 1} ({', '.join(DETECTION_CLASSES)}) or -1 "
                "(not a detection class)"
            )
    return boxes, np.asarray(labels, dtype=np.int64).reshape(-1)


def _read_json(path: Path) -> object:
    """Parsed JSON of ``path``; truncated or non-UTF-8 files are errors naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"info file not found: {path}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text, so not a JSON info file") from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}); "
            "a truncated file? copy it again"
        ) from None


def _matrix(
    value: object, shapes: tuple[tuple[int, int], ...], path: Path, channel: str, key: str
) -> np.ndarray:
    """``value`` as a float64 matrix of one of ``shapes``; ``cam2img`` is cut to its 3x3 block."""
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.shape not in shapes:
        got = repr(value)[:40] if matrix is None else f"shape {matrix.shape}"
        allowed = " or ".join(f"{r}x{c}" for r, c in shapes)
        raise InputError(
            f"{path}: camera {channel} '{key}' must be a {allowed} matrix of numbers, got {got}"
        )
    return matrix[:3, :3] if key == "cam2img" else matrix
