"""A tiny synthetic data set in the exact nuScenes table format, loadable by nuscenes-devkit.

``make_synthetic_nuscenes(root)`` writes ``root/v1.0-mini/*.json`` (the 13 tables), LIDAR_TOP
``.pcd.bin`` scans ray-cast from boxes on a ground plane (:mod:`pointcloud_cl.raycast`), six
rendered camera JPEGs per key frame and a map PNG. The ten scenes carry the scene names of the
devkit's ``mini_train`` (8) / ``mini_val`` (2) splits, so ``NuScenes("v1.0-mini", root)`` loads it
and ``DetectionEval(..., eval_set="mini_val")`` evaluates predictions on it unchanged. Every scene
contains every detection class (so mAP and NDS average over populated classes); some objects
move, giving non-zero ground-truth velocities. Before each key frame ``sweeps_per_sample``
LIDAR_TOP sweeps are scanned at 50 ms steps (the objects and the ego at that time) and written as
nuScenes sweeps: ``sweeps/LIDAR_TOP/*.pcd.bin``, ``sample_data`` rows with ``is_key_frame``
false in the channel's prev/next chain, each with its own ego pose, so the devkit's
``LidarPointCloud.from_file_multisweep`` stacks them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from nuscenes.utils.splits import mini_train, mini_val
from pyquaternion import Quaternion

from pointcloud_cl.classes import CATEGORY_OF_CLASS, DETECTION_CLASSES
from pointcloud_cl.io import CAMERA_CHANNELS
from pointcloud_cl.nuscenes_data import TABLES
from pointcloud_cl.raycast import render_camera, scan_lidar
from shared.errors import InputError

VERSION = "v1.0-mini"
# Written last into a synthetic set's root: the generator version and the SyntheticConfig that made
# it, so a later run can refuse to reuse a set it would not have written. Bump GENERATOR_VERSION
# whenever the generator's output changes.
STAMP = "contrast_synthetic.json"
GENERATOR_VERSION = 2
LIDAR_TRANSLATION = (0.94, 0.0, 1.84)
CAMERA_YAW_DEG = {
    "CAM_FRONT": 0.0,
    "CAM_FRONT_RIGHT": -55.0,
    "CAM_BACK_RIGHT": -110.0,
    "CAM_BACK": 180.0,
    "CAM_BACK_LEFT": 110.0,
    "CAM_FRONT_LEFT": 55.0,
}
CAMERA_HEIGHT = 1.5
CAMERA_HFOV_DEG = 70.0
SAMPLE_PERIOD_US = 500_000
SWEEP_PERIOD_US = 50_000  # the 20 Hz LIDAR_TOP
EGO_SPEED = 2.0  # m/s along the ego heading


@dataclass(frozen=True)
class ObjectKind:
    size_lwh: tuple[float, float, float]
    color: tuple[float, float, float]
    intensity: float
    speed: float  # m/s when moving
    moving_attribute: str
    static_attribute: str


OBJECT_KINDS = {
    "car": ObjectKind((4.6, 1.9, 1.7), (200, 40, 40), 60, 3.0, "vehicle.moving", "vehicle.parked"),
    "truck": ObjectKind(
        (7.0, 2.5, 2.9), (40, 60, 200), 80, 2.0, "vehicle.moving", "vehicle.parked"
    ),
    "trailer": ObjectKind((9.0, 2.6, 3.5), (120, 80, 40), 90, 0.0, "", "vehicle.parked"),
    "bus": ObjectKind(
        (11.0, 2.9, 3.4), (230, 200, 30), 70, 2.0, "vehicle.moving", "vehicle.stopped"
    ),
    "construction_vehicle": ObjectKind(
        (6.4, 2.8, 3.2), (240, 140, 20), 100, 0.0, "", "vehicle.parked"
    ),
    "bicycle": ObjectKind(
        (1.7, 0.6, 1.3), (30, 170, 60), 120, 2.0, "cycle.with_rider", "cycle.without_rider"
    ),
    "motorcycle": ObjectKind(
        (2.1, 0.8, 1.5), (160, 40, 180), 130, 3.0, "cycle.with_rider", "cycle.without_rider"
    ),
    "pedestrian": ObjectKind(
        (0.7, 0.7, 1.75), (250, 190, 150), 40, 1.0, "pedestrian.moving", "pedestrian.standing"
    ),
    "traffic_cone": ObjectKind((0.4, 0.4, 1.0), (255, 110, 0), 200, 0.0, "", ""),
    "barrier": ObjectKind((2.5, 0.5, 1.0), (235, 235, 235), 180, 0.0, "", ""),
}
ATTRIBUTES = (
    "vehicle.moving",
    "vehicle.parked",
    "vehicle.stopped",
    "cycle.with_rider",
    "cycle.without_rider",
    "pedestrian.moving",
    "pedestrian.standing",
    "pedestrian.sitting_lying_down",
)


@dataclass
class SyntheticConfig:
    """Size of the set: 10 scenes (mini split names) x ``samples_per_scene`` key frames, each
    preceded by ``sweeps_per_sample`` LIDAR_TOP sweeps 50 ms apart (nuScenes records 9 at 20 Hz;
    CenterPoint stacks the key frame with 9 sweeps)."""

    samples_per_scene: int = 8
    sweeps_per_sample: int = 2
    image_height: int = 128
    image_width: int = 224
    extra_objects: int = 6
    area: float = 22.0  # objects are placed in [-area, area]^2 around the ego path
    seed: int = 0


def _token(*parts: object) -> str:
    return hashlib.md5("/".join(map(str, parts)).encode()).hexdigest()


def camera_intrinsic_for(width: int, height: int) -> np.ndarray:
    focal = width / 2 / np.tan(np.deg2rad(CAMERA_HFOV_DEG) / 2)
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])


def camera_to_ego(channel: str) -> np.ndarray:
    """4x4 camera -> ego pose (camera axes: x right, y down, z forward)."""
    yaw = np.deg2rad(CAMERA_YAW_DEG[channel])
    forward = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([right, down, forward])
    pose[:3, 3] = (np.cos(yaw), np.sin(yaw), CAMERA_HEIGHT)
    return pose


def _place_objects(rng: np.random.Generator, cfg: SyntheticConfig) -> list[dict]:
    kinds = list(DETECTION_CLASSES) + list(rng.choice(DETECTION_CLASSES, cfg.extra_objects))
    placed: list[dict] = []
    for name in kinds:
        kind = OBJECT_KINDS[name]
        radius = float(np.hypot(*kind.size_lwh[:2]) / 2)
        for _ in range(200):
            x, y = rng.uniform(-cfg.area, cfg.area, 2)
            if abs(y) < 3.0 + radius:  # keep the ego's lane free
                continue
            if all(np.hypot(x - o["x"], y - o["y"]) > radius + o["radius"] + 0.5 for o in placed):
                break
        else:
            raise RuntimeError(f"could not place a {name}; lower extra_objects or raise area")
        along_road = name not in ("pedestrian", "traffic_cone")
        yaw = (
            (rng.integers(2) * np.pi + rng.normal(0, 0.1))
            if along_road
            else rng.uniform(-np.pi, np.pi)
        )
        moving = kind.speed > 0 and rng.random() < 0.4
        placed.append(
            {
                "name": name,
                "x": x,
                "y": y,
                "yaw": float(yaw),
                "radius": radius,
                "speed": kind.speed if moving else 0.0,
            }
        )
    return placed


def make_synthetic_nuscenes(root: str | Path, cfg: SyntheticConfig | None = None) -> Path:
    """Write the synthetic set under ``root`` and return ``root``. Deterministic in ``cfg.seed``."""
    cfg = cfg or SyntheticConfig()
    if cfg.samples_per_scene < 1:
        raise ValueError(f"samples_per_scene must be >= 1, got {cfg.samples_per_scene}")
    if not 0 <= cfg.sweeps_per_sample <= 9:
        raise ValueError(
            f"sweeps_per_sample must be in 0..9 (sweeps between 2 Hz key frames at 20 Hz), "
            f"got {cfg.sweeps_per_sample}"
        )
    root = Path(root)
    rng = np.random.default_rng(cfg.seed)
    tables: dict[str, list[dict]] = {name: [] for name in TABLES}
    for name in DETECTION_CLASSES:
        tables["category"].append(
            {
                "token": _token("category", name),
                "name": CATEGORY_OF_CLASS[name],
                "description": name,
            }
        )
    for name in ATTRIBUTES:
        tables["attribute"].append(
            {"token": _token("attribute", name), "name": name, "description": name}
        )
    for level, desc in enumerate(("v0-40", "v40-60", "v60-80", "v80-100"), start=1):
        tables["visibility"].append({"token": str(level), "level": desc, "description": desc})

    width, height = cfg.image_width, cfg.image_height
    intrinsic = camera_intrinsic_for(width, height)
    channels = ("LIDAR_TOP", *CAMERA_CHANNELS)
    for channel in channels:
        is_cam = channel != "LIDAR_TOP"
        tables["sensor"].append(
            {
                "token": _token("sensor", channel),
                "channel": channel,
                "modality": "camera" if is_cam else "lidar",
            }
        )
        pose = camera_to_ego(channel) if is_cam else np.eye(4)
        if not is_cam:
            pose[:3, 3] = LIDAR_TRANSLATION
        tables["calibrated_sensor"].append(
            {
                "token": _token("calibrated_sensor", channel),
                "sensor_token": _token("sensor", channel),
                "translation": pose[:3, 3].tolist(),
                "rotation": list(Quaternion(matrix=pose[:3, :3]).elements),
                "camera_intrinsic": intrinsic.tolist() if is_cam else [],
            }
        )
        (root / "samples" / channel).mkdir(parents=True, exist_ok=True)

    log_token = _token("log")
    tables["log"].append(
        {
            "token": log_token,
            "logfile": "synthetic",
            "vehicle": "synthetic",
            "date_captured": "2026-11-23",
            "location": "singapore-onenorth",
        }
    )
    map_token = _token("map")
    (root / "maps").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "maps" / f"{map_token}.png"), np.zeros((64, 64), np.uint8))
    tables["map"].append(
        {
            "token": map_token,
            "log_tokens": [log_token],
            "category": "semantic_prior",
            "filename": f"maps/{map_token}.png",
        }
    )

    for scene_index, scene_name in enumerate([*mini_train, *mini_val]):
        _write_scene(root, tables, scene_index, scene_name, cfg, rng, intrinsic)

    (root / VERSION).mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with (root / VERSION / f"{name}.json").open("w") as f:
            json.dump(rows, f)
    (root / STAMP).write_text(json.dumps(_stamp(cfg)))
    return root


def _stamp(cfg: SyntheticConfig) -> dict:
    return {"generator": GENERATOR_VERSION, "config": asdict(cfg)}


def check_reusable(root: str | Path, cfg: SyntheticConfig) -> list[str]:
    """Refuse a synthetic set under ``root`` written by another generator version (or by one
    from before the stamp), instead of training on stale data silently; return the settings in
    which the set differs from ``cfg`` (``key=old (config: new)``), for the caller to report. A
    real nuScenes root (its log table is not ours) passes unchecked.

    Example:
        >>> cfg = SyntheticConfig(samples_per_scene=2)
        >>> check_reusable(make_synthetic_nuscenes("runs/synthetic", cfg), cfg)
        []
    """
    root = Path(root)
    try:
        logs = json.loads((root / VERSION / "log.json").read_text())
        ours = any(row.get("logfile") == "synthetic" for row in logs)
    except (OSError, ValueError, AttributeError, TypeError):
        return []  # not a synthetic set of ours: the nuScenes reader checks it
    if not ours:
        return []
    try:
        found = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        found = None
    if not isinstance(found, dict) or found.get("generator") != GENERATOR_VERSION:
        made = (
            "a generator from before stamps"
            if not isinstance(found, dict)
            else (f"generator version {found.get('generator')!r}")
        )
        raise InputError(
            f"{root}: this synthetic set was written by {made}, not by this one (version "
            f"{GENERATOR_VERSION}); delete {root} to regenerate it, or point data.root elsewhere"
        )
    was = found.get("config")
    was = was if isinstance(was, dict) else {}
    return [
        f"{k}={was.get(k)!r} (config: {v!r})" for k, v in asdict(cfg).items() if was.get(k) != v
    ]


def _link(rows: list[dict]) -> None:
    for i, row in enumerate(rows):
        row["prev"] = rows[i - 1]["token"] if i > 0 else ""
        row["next"] = rows[i + 1]["token"] if i + 1 < len(rows) else ""


class _SceneMotion:
    """Where the ego and the objects of a scene are at a time (s from the first key frame)."""

    def __init__(
        self,
        objects: list[dict],
        origin: np.ndarray,
        direction: np.ndarray,
        heading: float,
        mid_time: float,
    ) -> None:
        self.objects, self.origin, self.direction = objects, origin, direction
        self.heading, self.mid_time = heading, mid_time

    def at(self, time_s: float) -> tuple[np.ndarray, np.ndarray, dict]:
        """(world boxes, ego-frame boxes, ego pose record); box rows x, y, z, l, w, h, yaw."""
        ego_xy = self.origin + self.direction * EGO_SPEED * time_s
        # Boxes in this frame's ego frame (heading-aligned, z up, ground at z = 0).
        mid_xy = self.origin + self.direction * EGO_SPEED * self.mid_time
        cos_h, sin_h = np.cos(self.heading), np.sin(self.heading)
        world_boxes = []
        for obj in self.objects:
            yaw_world = self.heading + obj["yaw"]
            local = np.array([obj["x"], obj["y"]])
            xy = mid_xy + np.array(
                [cos_h * local[0] - sin_h * local[1], sin_h * local[0] + cos_h * local[1]]
            )
            xy = xy + obj["speed"] * (time_s - self.mid_time) * np.array(
                [np.cos(yaw_world), np.sin(yaw_world)]
            )
            length, width, height = OBJECT_KINDS[obj["name"]].size_lwh
            world_boxes.append([xy[0], xy[1], height / 2, length, width, height, yaw_world])
        world = np.array(world_boxes)
        ego_boxes = world.copy()
        rel = world[:, :2] - ego_xy
        ego_boxes[:, 0] = cos_h * rel[:, 0] + sin_h * rel[:, 1]
        ego_boxes[:, 1] = -sin_h * rel[:, 0] + cos_h * rel[:, 1]
        ego_boxes[:, 6] = world[:, 6] - self.heading
        ego_pose = {
            "translation": [float(ego_xy[0]), float(ego_xy[1]), 0.0],
            "rotation": list(Quaternion(axis=(0, 0, 1), angle=self.heading).elements),
        }
        return world, ego_boxes, ego_pose


def _write_scene(
    root: Path,
    tables: dict[str, list[dict]],
    scene_index: int,
    scene_name: str,
    cfg: SyntheticConfig,
    rng: np.random.Generator,
    intrinsic: np.ndarray,
) -> None:
    n = cfg.samples_per_scene
    heading = rng.uniform(-np.pi, np.pi)
    direction = np.array([np.cos(heading), np.sin(heading)])
    origin = rng.uniform(-500, 500, 2)
    mid_time = (n - 1) * SAMPLE_PERIOD_US / 2e6
    objects = _place_objects(rng, cfg)
    scene_token = _token("scene", scene_name)
    t0 = 1_600_000_000_000_000 + scene_index * 100_000_000
    samples: list[dict] = []
    annotations_per_instance: dict[int, list[dict]] = {i: [] for i in range(len(objects))}
    sample_data_per_channel: dict[str, list[dict]] = {}
    state = _SceneMotion(objects, origin, direction, heading, mid_time)
    intensities = np.array([OBJECT_KINDS[o["name"]].intensity for o in objects])
    for k in range(n):
        time_s = k * SAMPLE_PERIOD_US / 1e6
        timestamp = t0 + k * SAMPLE_PERIOD_US
        sample_token = _token("sample", scene_name, k)
        samples.append({"token": sample_token, "timestamp": timestamp, "scene_token": scene_token})
        for lag in range(cfg.sweeps_per_sample, 0, -1):
            sweep_rng = np.random.default_rng((cfg.seed, scene_index, k, lag))
            sweep_time = timestamp - lag * SWEEP_PERIOD_US
            _, sweep_boxes, sweep_pose = state.at(time_s - lag * SWEEP_PERIOD_US / 1e6)
            sweep_points, _ = scan_lidar(
                np.array(LIDAR_TRANSLATION), sweep_boxes, intensities, sweep_rng
            )
            sd_token = _token("sample_data", scene_name, k, "LIDAR_TOP", "sweep", lag)
            pose_token = _token("ego_pose", scene_name, k, "LIDAR_TOP", "sweep", lag)
            tables["ego_pose"].append({"token": pose_token, "timestamp": sweep_time, **sweep_pose})
            filename = f"sweeps/LIDAR_TOP/{scene_name}__LIDAR_TOP__{sweep_time}.pcd.bin"
            (root / filename).parent.mkdir(parents=True, exist_ok=True)
            sweep_points.tofile(root / filename)
            sample_data_per_channel.setdefault("LIDAR_TOP", []).append(
                {
                    "token": sd_token,
                    "sample_token": sample_token,
                    "ego_pose_token": pose_token,
                    "calibrated_sensor_token": _token("calibrated_sensor", "LIDAR_TOP"),
                    "timestamp": sweep_time,
                    "is_key_frame": False,
                    "filename": filename,
                    "fileformat": "pcd",
                    "height": 0,
                    "width": 0,
                }
            )
        world, ego_boxes, ego_pose = state.at(time_s)
        points, hit = scan_lidar(np.array(LIDAR_TRANSLATION), ego_boxes, intensities, rng)
        colors = np.array([OBJECT_KINDS[o["name"]].color for o in objects], dtype=float)
        for channel in ("LIDAR_TOP", *CAMERA_CHANNELS):
            sd_token = _token("sample_data", scene_name, k, channel)
            pose_token = _token("ego_pose", scene_name, k, channel)
            tables["ego_pose"].append({"token": pose_token, "timestamp": timestamp, **ego_pose})
            base = f"{scene_name}__{channel}__{timestamp}"
            if channel == "LIDAR_TOP":
                filename = f"samples/{channel}/{base}.pcd.bin"
                points.tofile(root / filename)
                extra = {"fileformat": "pcd", "height": 0, "width": 0}
            else:
                filename = f"samples/{channel}/{base}.jpg"
                pose = camera_to_ego(channel)
                image = render_camera(
                    pose[:3, 3],
                    pose,
                    intrinsic,
                    (cfg.image_height, cfg.image_width),
                    ego_boxes,
                    colors,
                    rng,
                )
                cv2.imwrite(str(root / filename), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
                extra = {"fileformat": "jpg", "height": cfg.image_height, "width": cfg.image_width}
            sample_data_per_channel.setdefault(channel, []).append(
                {
                    "token": sd_token,
                    "sample_token": sample_token,
                    "ego_pose_token": pose_token,
                    "calibrated_sensor_token": _token("calibrated_sensor", channel),
                    "timestamp": timestamp,
                    "is_key_frame": True,
                    "filename": filename,
                    **extra,
                }
            )
        for index, obj in enumerate(objects):
            kind = OBJECT_KINDS[obj["name"]]
            attribute = kind.moving_attribute if obj["speed"] > 0 else kind.static_attribute
            box = world[index]
            annotations_per_instance[index].append(
                {
                    "token": _token("annotation", scene_name, k, index),
                    "sample_token": sample_token,
                    "instance_token": _token("instance", scene_name, index),
                    "visibility_token": "4",
                    "attribute_tokens": [_token("attribute", attribute)] if attribute else [],
                    "translation": [float(box[0]), float(box[1]), float(box[2])],
                    "size": [
                        float(box[4]),
                        float(box[3]),
                        float(box[5]),
                    ],  # nuScenes order: w, l, h
                    "rotation": list(Quaternion(axis=(0, 0, 1), angle=float(box[6])).elements),
                    "num_lidar_pts": int((hit == index).sum()),
                    "num_radar_pts": 0,
                }
            )
    _link(samples)
    tables["sample"].extend(samples)
    for rows in sample_data_per_channel.values():
        _link(rows)
        tables["sample_data"].extend(rows)
    for index, rows in annotations_per_instance.items():
        _link(rows)
        tables["sample_annotation"].extend(rows)
        tables["instance"].append(
            {
                "token": _token("instance", scene_name, index),
                "category_token": _token("category", objects[index]["name"]),
                "nbr_annotations": len(rows),
                "first_annotation_token": rows[0]["token"],
                "last_annotation_token": rows[-1]["token"],
            }
        )
    tables["scene"].append(
        {
            "token": scene_token,
            "log_token": _token("log"),
            "nbr_samples": n,
            "first_sample_token": samples[0]["token"],
            "last_sample_token": samples[-1]["token"],
            "name": scene_name,
            "description": "synthetic street scene",
        }
    )
